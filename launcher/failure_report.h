// failure_report: what the launcher says about a failed worker — the root-cause
// summary on the console, the one-line reason the other nodes read from the
// attempt's "end" record, and the error.json written beside the logs. It reads
// the worker's TORCHELASTIC_ERROR_FILE (PyTorch's @record writes it) for the
// exception message.
//
// Pure except ReadErrorFileMessage (reads one file).
#ifndef TPLAUNCH_LAUNCHER_FAILURE_REPORT_H_
#define TPLAUNCH_LAUNCHER_FAILURE_REPORT_H_

#include <string>

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
