// End to end: a GrpcStore sees a restarted tprdzvd as a changed incarnation
// when the daemon has no --state-dir (its keys are gone), and as the same one
// when it recovered them from its --state-dir.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/incarnation.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/store.h"
#include "tests/rendezvous/tprdzvd_process.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::kStartTimeout;
using testing::Tprdzvd;

GrpcStoreOptions Options(const Tprdzvd& d,
                         std::shared_ptr<IncarnationTracker> tracker) {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(d.endpoint(), 0).value();
  options.job = "run";
  options.connect_timeout = kStartTimeout;
  options.incarnation = std::move(tracker);
  return options;
}

std::string StatsIncarnation(const Tprdzvd& d) {
  absl::StatusOr<RendezvousStats> stats = GetRendezvousStats(Options(d, {}));
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  return stats->incarnation;
}

// The first answer of `store` after the daemon came back: its channel
// reconnects by itself, and calls fail with Unavailable until it has.
absl::StatusOr<std::string> TryGetOnceBack(Store& store,
                                           const std::string& key) {
  absl::StatusOr<std::string> value;
  const bool answered = testing::WaitFor(
      [&] {
        value = store.TryGet(key);
        return !absl::IsUnavailable(value.status());
      },
      kStartTimeout);
  INFO(value.status().ToString());
  REQUIRE(answered);
  return value;
}

TEST_CASE("a tprdzvd restart without --state-dir changes the incarnation",
          "[incarnation][e2e]") {
  auto tracker = std::make_shared<IncarnationTracker>();
  auto first = std::make_unique<Tprdzvd>(0, std::vector<std::string>{});
  const int port = first->port();
  absl::StatusOr<std::unique_ptr<Store>> store =
      ConnectGrpcStore(Options(*first, tracker));
  REQUIRE(store.ok());
  REQUIRE((*store)->Set("k", "v").ok());
  REQUIRE(tracker->First().ok());
  const std::string before = *tracker->First();
  CHECK(before.size() == 32);
  CHECK(StatsIncarnation(*first) == before);
  CHECK_FALSE(tracker->Changed());

  first->Kill();
  first.reset();
  Tprdzvd second(port, {});
  // The same store's next answer succeeds (the key is simply gone) and names
  // the new incarnation.
  absl::StatusOr<std::string> value = TryGetOnceBack(**store, "k");
  CHECK(absl::IsNotFound(value.status()));
  CHECK(tracker->Changed());
  CHECK(*tracker->First() == before);
  CHECK(tracker->Latest() != before);
  CHECK(tracker->Latest() == StatsIncarnation(second));
}

TEST_CASE("a tprdzvd restart with --state-dir keeps the incarnation",
          "[incarnation][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  const std::vector<std::string> flags = {"--state-dir", dir};
  auto tracker = std::make_shared<IncarnationTracker>();
  auto first = std::make_unique<Tprdzvd>(0, flags);
  const int port = first->port();
  absl::StatusOr<std::unique_ptr<Store>> store =
      ConnectGrpcStore(Options(*first, tracker));
  REQUIRE(store.ok());
  REQUIRE((*store)->Set("k", "v").ok());
  const std::string before = tracker->Latest();
  REQUIRE_FALSE(before.empty());

  first->Kill();
  first.reset();
  Tprdzvd second(port, flags);
  absl::StatusOr<std::string> value = TryGetOnceBack(**store, "k");
  REQUIRE(value.ok());
  CHECK(*value == "v");
  CHECK_FALSE(tracker->Changed());
  CHECK(tracker->Latest() == before);
  CHECK(StatsIncarnation(second) == before);
}

}  // namespace
}  // namespace tplaunch
