#include "worker_lib/logging.h"

namespace tplaunch {

spdlog::logger& WorkerLibLogger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (std::shared_ptr<spdlog::logger> existing = spdlog::get("worker_lib")) {
      return existing;
    }
    std::shared_ptr<spdlog::logger> base = spdlog::default_logger();
    auto created = std::make_shared<spdlog::logger>(
        "worker_lib", base->sinks().begin(), base->sinks().end());
    created->set_level(base->level());
    return created;
  }();
  return *logger;
}

}  // namespace tplaunch
