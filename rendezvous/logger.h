// The daemon's named spdlog logger ("rendezvous"); see common/logger.h for how
// its sinks are chosen.
#ifndef TPLAUNCH_RENDEZVOUS_LOGGER_H_
#define TPLAUNCH_RENDEZVOUS_LOGGER_H_

#include "common/logger.h"
#include "spdlog/spdlog.h"

namespace tplaunch {

// The "rendezvous" logger; never null.
inline spdlog::logger& RendezvousLogger() {
  static const std::shared_ptr<spdlog::logger> logger =
      NamedLogger("rendezvous");
  return *logger;
}

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_LOGGER_H_
