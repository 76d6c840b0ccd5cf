// The worker_lib spdlog logger. Libraries never configure sinks: the logger
// shares the default logger's sinks (whatever main() set up), and main() may
// register its own logger named "worker_lib" first to route or silence it.
#ifndef TPLAUNCH_WORKER_LIB_LOGGING_H_
#define TPLAUNCH_WORKER_LIB_LOGGING_H_

#include <memory>

#include "spdlog/spdlog.h"

namespace tplaunch {

spdlog::logger& WorkerLibLogger();

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_LOGGING_H_
