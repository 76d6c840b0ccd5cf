// NamedLogger: the one way a library gets its spdlog logger.
//
// Libraries never configure sinks: a named logger copies the default logger's
// sinks and level (main() points those at stderr) the first time it is used,
// and a logger that main() registered under the same name first wins, so
// main() can route or silence one component.
#ifndef TPLAUNCH_COMMON_LOGGER_H_
#define TPLAUNCH_COMMON_LOGGER_H_

#include <memory>
#include <string>

#include "spdlog/spdlog.h"

namespace tplaunch {

// Returns the logger registered under `name`, creating and registering it from
// the default logger when there is none. Thread-safe; never null. Callers keep
// the reference (spdlog::get takes a lock).
inline std::shared_ptr<spdlog::logger> NamedLogger(const std::string& name) {
  if (std::shared_ptr<spdlog::logger> existing = spdlog::get(name)) {
    return existing;
  }
  std::shared_ptr<spdlog::logger> created =
      spdlog::default_logger()->clone(name);
  try {
    spdlog::register_logger(created);
  } catch (const spdlog::spdlog_ex&) {
    // Registered concurrently by someone else: use theirs.
    return spdlog::get(name);
  }
  return created;
}

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_LOGGER_H_
