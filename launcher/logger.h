// The launcher's named spdlog logger ("launcher"); see common/logger.h for how
// its sinks are chosen.
#ifndef TPLAUNCH_LAUNCHER_LOGGER_H_
#define TPLAUNCH_LAUNCHER_LOGGER_H_

#include "common/logger.h"
#include "spdlog/spdlog.h"

namespace tplaunch {

// The "launcher" logger; never null.
inline spdlog::logger& LauncherLogger() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("launcher");
  return *logger;
}

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_LOGGER_H_
