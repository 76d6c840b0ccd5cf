#include "rendezvous/logger.h"

namespace tplaunch {

spdlog::logger& RendezvousLogger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("rendezvous")) return existing;
    auto created = spdlog::default_logger()->clone("rendezvous");
    try {
      spdlog::register_logger(created);
    } catch (const spdlog::spdlog_ex&) {
      // Registered concurrently by someone else: use theirs.
      return spdlog::get("rendezvous");
    }
    return created;
  }();
  return *logger;
}

}  // namespace tplaunch
