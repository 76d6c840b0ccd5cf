// The daemon's named spdlog logger. Libraries never configure sinks: the logger
// copies the default logger's sinks (main() points those at stderr) the first
// time it is used.
#ifndef TPLAUNCH_RENDEZVOUS_LOGGER_H_
#define TPLAUNCH_RENDEZVOUS_LOGGER_H_

#include <memory>

#include "spdlog/spdlog.h"

namespace tplaunch {

// The "rendezvous" logger; never null.
spdlog::logger& RendezvousLogger();

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_LOGGER_H_
