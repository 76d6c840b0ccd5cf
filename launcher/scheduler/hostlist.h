// hostlist: Slurm's compressed host lists and task counts, expanded.
//
// SLURM_JOB_NODELIST and SLURM_STEP_NODELIST name the nodes in Slurm's
// hostlist form ("gpu[01-04,07],cpu-a[1-2]"); SLURM_TASKS_PER_NODE and
// SLURM_STEP_TASKS_PER_NODE count tasks per node in run-length form
// ("2(x3),1"). Both are expanded here exactly as Slurm itself does
// (`scontrol show hostnames`), so that "the first host" and "the tasks on node
// N" mean what they mean to srun. Pure functions.
#ifndef TPLAUNCH_LAUNCHER_SCHEDULER_HOSTLIST_H_
#define TPLAUNCH_LAUNCHER_SCHEDULER_HOSTLIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// A list longer than this is refused rather than expanded: no allocation has
// a million nodes, and a typo such as "n[1-999999999]" must not exhaust
// memory.
inline constexpr int kMaxExpandedHosts = 1 << 20;

// Expands a Slurm hostlist into host names, in Slurm's order, duplicates kept.
// Accepts groups separated by commas or white space, each a name with any
// number of bracketed range lists ("gpu[01-04,07]", "a[1-2]-b[3-4]",
// "rack[1-2]n[01,03]"); a range's width is its low bound's digit count, so
// "n[098-101]" gives n098 .. n101 and "n[8-11]" gives n8 .. n11. With several
// bracket groups the last varies fastest, then the first, the second, and so
// on, as Slurm orders them. An empty text is an empty list.
// Errors (InvalidArgument naming the text and what is wrong): an unbalanced
// or nested bracket, text after a name's last ']' (Slurm rejects
// "n[1-2].ex.com" too), a bound that is not a number, a range whose low bound
// exceeds its high bound, more than kMaxExpandedHosts hosts.
absl::StatusOr<std::vector<std::string>> ExpandHostlist(absl::string_view text);

// Expands SLURM_TASKS_PER_NODE's form, "2(x3),1" -> {2, 2, 2, 1}: items
// separated by commas, each COUNT or COUNT(xREPEAT). Errors (InvalidArgument):
// an item that is not of that form, a count below 1, more than
// kMaxExpandedHosts nodes.
absl::StatusOr<std::vector<int>> ExpandTasksPerNode(absl::string_view text);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_SCHEDULER_HOSTLIST_H_
