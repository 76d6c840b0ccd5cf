#include "worker_lib/backend.h"

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TEST_CASE("backend map") {
  int probes = 0;
  auto cuda = [&] {
    ++probes;
    return true;
  };
  auto cpu = [&] {
    ++probes;
    return false;
  };
  CHECK(*ResolveBackend("gloo", cuda) == Backend::kGloo);
  CHECK(*ResolveBackend("NCCL", cpu) == Backend::kNccl);
  CHECK(probes == 0);  // Explicit names never probe the device.
  CHECK(*ResolveBackend("auto", cuda) == Backend::kNccl);
  CHECK(*ResolveBackend("auto", cpu) == Backend::kGloo);
  CHECK(probes == 2);
}

TEST_CASE("other accelerators' backends are Unimplemented, named") {
  for (const char* name : {"ccl", "xccl", "hccl"}) {
    absl::StatusOr<Backend> b = ResolveBackend(name, [] { return false; });
    INFO(name);
    REQUIRE(absl::IsUnimplemented(b.status()));
    CHECK_THAT(std::string(b.status().message()),
               Catch::Contains(std::string("'") + name + "'") &&
                   Catch::Contains("not built in"));
  }
}

TEST_CASE("unknown backends are InvalidArgument, named") {
  absl::StatusOr<Backend> b = ResolveBackend("mpi", [] { return false; });
  REQUIRE(absl::IsInvalidArgument(b.status()));
  CHECK_THAT(std::string(b.status().message()), Catch::Contains("'mpi'"));
}

}  // namespace
}  // namespace tplaunch
