// tplaunch command lines for end-to-end tests, and the pid files their workers
// write. Child processes, runfiles and the tprdzvd fixture themselves are in
// tests/testing/processes.h.
#ifndef TPLAUNCH_TESTS_LAUNCHER_TPLAUNCH_COMMAND_H_
#define TPLAUNCH_TESTS_LAUNCHER_TPLAUNCH_COMMAND_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {

// The tplaunch binary (runfile launcher/tplaunch) followed by `args`.
std::vector<std::string> Tplaunch(std::vector<std::string> args);

// One node of a two-node tplaunch job against `d`: tplaunch --nnodes 2 --nproc
// `nproc` --rdzv-endpoint d.endpoint() --rdzv-id `job`, then `extra` (more
// launcher options), then `program` (PROGRAM and its arguments).
std::vector<std::string> TwoNodeTplaunch(
    const Daemon& d, const std::string& job, int nproc,
    const std::vector<std::string>& extra,
    const std::vector<std::string>& program);

// Pids that children wrote to `dir`/`prefix`0 .. `prefix`(n-1), those present
// and readable as a number.
std::vector<pid_t> ReadPids(const std::string& dir, const std::string& prefix,
                            int n);

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_LAUNCHER_TPLAUNCH_COMMAND_H_
