// signals: signal names for the command line and for failure summaries.
#ifndef TPLAUNCH_LAUNCHER_SIGNALS_H_
#define TPLAUNCH_LAUNCHER_SIGNALS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tplaunch {

// "TERM,INT,SIGUSR1,10" -> signal numbers, duplicates removed. InvalidArgument
// for unknown names and for KILL, STOP and CHLD, which cannot be forwarded.
absl::StatusOr<std::vector<int>> ParseSignalList(const std::string& text);

// "SIGTERM", or "signal N" for numbers without a name.
std::string SignalName(int signo);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_SIGNALS_H_
