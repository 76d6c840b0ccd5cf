#include "launcher/logger.h"

#include <memory>

namespace tplaunch {

spdlog::logger& LauncherLogger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("launcher")) return existing;
    auto created = spdlog::default_logger()->clone("launcher");
    try {
      spdlog::register_logger(created);
    } catch (const spdlog::spdlog_ex&) {
      // Registered concurrently by someone else: use theirs.
      return spdlog::get("launcher");
    }
    return created;
  }();
  return *logger;
}

}  // namespace tplaunch
