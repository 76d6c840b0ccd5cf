// RateLimiter: lets one event through per interval and counts the rest, so a
// warning repeated by every refused connection or rejected call becomes one
// line per interval that says how many it stands for ("... (and 4211 more
// like it in the last 10s)") instead of a flood that fills the disk and hides
// everything else.
#ifndef TPLAUNCH_COMMON_RATE_LIMIT_H_
#define TPLAUNCH_COMMON_RATE_LIMIT_H_

#include <cstdint>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tplaunch {

class RateLimiter final {
 public:
  // How many events an allowed one stands for: itself plus those suppressed
  // since the previous allowed one. 0 means suppressed.
  struct Verdict {
    int64_t count = 0;
    explicit operator bool() const { return count > 0; }
    // "" for a lone event, else " (and N more like it in the last <every>)".
    std::string Suffix(absl::Duration every) const {
      if (count <= 1) return "";
      return absl::StrCat(" (and ", count - 1, " more like it in the last ",
                          absl::FormatDuration(every), ")");
    }
  };

  // At most one event per `every` is allowed; the first always is.
  explicit RateLimiter(absl::Duration every = absl::Seconds(10))
      : every_(every) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Thread-safe. `now` is injectable for tests.
  Verdict Allow(absl::Time now = absl::Now()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++pending_;
    if (now < next_) return Verdict{};
    next_ = now + every_;
    Verdict verdict{pending_};
    pending_ = 0;
    return verdict;
  }

  absl::Duration every() const { return every_; }

 private:
  const absl::Duration every_;
  std::mutex mu_;
  absl::Time next_ = absl::InfinitePast();
  int64_t pending_ = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_RATE_LIMIT_H_
