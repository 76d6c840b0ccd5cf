#include "common/fd_limit.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TEST_CASE("fd_limit: RaiseFdLimit lifts the soft limit to the hard one",
          "[fd_limit]") {
  rlimit before{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &before) == 0);
  // Start from a lowered soft limit so the raise has something to do.
  rlimit lowered = before;
  lowered.rlim_cur = 64;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  absl::StatusOr<FdLimit> raised = RaiseFdLimit();
  REQUIRE(raised.ok());
  if (before.rlim_max != RLIM_INFINITY) {
    CHECK(raised->soft == static_cast<int64_t>(before.rlim_max));
    CHECK(raised->hard == static_cast<int64_t>(before.rlim_max));
  } else {
    CHECK(raised->soft > 64);
  }
  absl::StatusOr<FdLimit> now = CurrentFdLimit();
  REQUIRE(now.ok());
  CHECK(now->soft == raised->soft);
  setrlimit(RLIMIT_NOFILE, &before);
}

}  // namespace
}  // namespace tplaunch
