#include "common/rate_limit.h"

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TEST_CASE("rate_limit: one event per interval, counting the rest",
          "[rate_limit]") {
  RateLimiter limiter(absl::Seconds(10));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  RateLimiter::Verdict first = limiter.Allow(t0);
  CHECK(first);
  CHECK(first.count == 1);
  CHECK(first.Suffix(limiter.every()).empty());
  for (int i = 1; i <= 500; ++i) {
    CHECK_FALSE(limiter.Allow(t0 + absl::Milliseconds(i)));
  }
  RateLimiter::Verdict next = limiter.Allow(t0 + absl::Seconds(10));
  REQUIRE(next);
  CHECK(next.count == 501);
  CHECK(next.Suffix(limiter.every()) ==
        " (and 500 more like it in the last 10s)");
  CHECK_FALSE(limiter.Allow(t0 + absl::Seconds(11)));
}

}  // namespace
}  // namespace tplaunch
