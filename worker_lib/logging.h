// worker_lib's named spdlog logger ("worker_lib"); see common/logger.h for how
// its sinks are chosen. main() may register its own logger named "worker_lib"
// first to route or silence it.
#ifndef TPLAUNCH_WORKER_LIB_LOGGING_H_
#define TPLAUNCH_WORKER_LIB_LOGGING_H_

#include "common/logger.h"
#include "spdlog/spdlog.h"

namespace tplaunch {

// The "worker_lib" logger; never null.
inline spdlog::logger& WorkerLibLogger() {
  static const std::shared_ptr<spdlog::logger> logger =
      NamedLogger("worker_lib");
  return *logger;
}

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_LOGGING_H_
