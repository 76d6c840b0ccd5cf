// failure_report: what the launcher says about a failed worker — the root-cause
// summary on the console, the one-line reason the other nodes read from the
// attempt's "end" record, and the error.json written beside the logs. It reads
// the worker's TORCHELASTIC_ERROR_FILE (PyTorch's @record writes it) for the
// exception message.
//
// Pure except ReadErrorFileMessage (reads one file).
#ifndef TPLAUNCH_LAUNCHER_FAILURE_REPORT_H_
#define TPLAUNCH_LAUNCHER_FAILURE_REPORT_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "launcher/process_supervisor.h"

namespace tplaunch {

// Where the failure happened, for every report.
struct FailureContext {
  std::string run_id;
  std::string host;        // This host's name.
  std::string local_addr;  // This node's advertised address.
  int attempt = 0;
  int node_rank = 0;
  int num_nodes = 1;
};

// The first "message" string of PyTorch's error file ({"message": {"message":
// "..."}}), without a JSON library: enough for the summary line. "" when there
// is none.
std::string ErrorFileMessage(absl::string_view contents);

// ErrorFileMessage of the file at `path` (its first MiB); "" when `path` is
// empty or cannot be read (the worker died before writing it).
std::string ReadErrorFileMessage(const std::string& path);

// Which failure is the root cause. The first worker the launcher sees exit is
// not always the one that failed first: when rank 2 raises, rank 3 can see
// rank 2's sockets close and exit while rank 2 is still tearing down. As
// torchrun does, the worker whose error file (TORCHELASTIC_ERROR_FILE, written
// by PyTorch's @record before the process exits) was written first is the
// root cause; we order by the file's modification time, which unlike the
// file's own "timestamp" field (whole seconds) tells two failures in one
// second apart. Returns the rank whose file exists and is oldest among
// `error_files` (rank -> path), or nullopt when none exists.
std::optional<int> EarliestErrorFileRank(
    const std::vector<std::pair<int, std::string>>& error_files);

// The multi-line console summary: who failed, when, how, the error file's
// message and the last stderr lines.
std::string RootCauseSummary(const FailureContext& context,
                             const WorkerExit& failure,
                             const std::string& error_message);

// One line for the other nodes: rank, node, host, pid, how it ended and the
// error message (or else the last stderr line).
std::string FailureReason(const FailureContext& context,
                          const WorkerExit& failure,
                          const std::string& error_message);

// The failure as a JSON object (error.json in the run's log directory).
std::string FailureJson(const FailureContext& context,
                        const WorkerExit& failure,
                        const std::string& error_file,
                        const std::string& error_message);

// `s` as a JSON string literal, quotes included.
std::string JsonEscape(absl::string_view s);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_FAILURE_REPORT_H_
