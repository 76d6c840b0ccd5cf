// duration: the one parser for durations given by people (command-line flags,
// TPLAUNCH_* variables), shared by tplaunch and tprdzvctl.
//
// Header-only and absl-only, so the launcher, the daemon's tools and the worker
// library may all use it.
#ifndef TPLAUNCH_COMMON_DURATION_H_
#define TPLAUNCH_COMMON_DURATION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tplaunch {

// Accepts a bare number of seconds ("30", "1.5", as torchrun's timeouts) or an
// absl duration ("30s", "200ms", "2m", "1h30m"); surrounding whitespace is
// ignored (values from the environment often carry some). Rejects the empty
// text and anything infinite ("inf", "nan", an overflowing "...h"): a typo must
// not turn into a wait without end. A bare number may be at most 1e9 seconds
// (about 31 years) either way. Negative values are returned as such; whether
// they make sense is the caller's call.
//
// Errors: InvalidArgument "duration out of range" for a bare number beyond the
// bound (also "inf" and "nan", which read as numbers), else "expected a
// duration such as 30, 30s, 1.5s, 200ms or 2m".
inline absl::StatusOr<absl::Duration> ParseDurationFlag(
    absl::string_view text) {
  const std::string t(absl::StripAsciiWhitespace(text));
  double seconds = 0;
  if (absl::SimpleAtod(t, &seconds)) {
    // The negated comparison also rejects NaN.
    if (!(seconds >= -1e9 && seconds <= 1e9)) {
      return absl::InvalidArgumentError("duration out of range");
    }
    return absl::Seconds(seconds);
  }
  absl::Duration d;
  if (t.empty() || !absl::ParseDuration(t, &d) ||
      d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "expected a duration such as 30, 30s, 1.5s, 200ms or 2m");
  }
  return d;
}

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_DURATION_H_
