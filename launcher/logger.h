// The launcher's named spdlog logger. Libraries never configure sinks: the
// logger copies the default logger's sinks (tplaunch's main() points those at
// stderr) the first time it is used.
#ifndef TPLAUNCH_LAUNCHER_LOGGER_H_
#define TPLAUNCH_LAUNCHER_LOGGER_H_

#include "spdlog/spdlog.h"

namespace tplaunch {

// The "launcher" logger; never null.
spdlog::logger& LauncherLogger();

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_LOGGER_H_
