// GrpcStore against an in-process daemon: every reply, errors included, tells
// the store's IncarnationTracker the daemon's incarnation, and GetStats names
// the same one.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "rendezvous/server.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/incarnation.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/store.h"

namespace tplaunch {
namespace {

std::unique_ptr<RendezvousServer> Start(const std::string& token = "") {
  ServerOptions options;
  options.port = 0;
  options.token = token;
  absl::StatusOr<std::unique_ptr<RendezvousServer>> server =
      StartRendezvousServer(options);
  REQUIRE(server.ok());
  return *std::move(server);
}

GrpcStoreOptions Options(const RendezvousServer& server,
                         std::shared_ptr<IncarnationTracker> tracker,
                         const std::string& token = "") {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(server.address(), 0).value();
  options.job = "job";
  options.token = token;
  options.connect_timeout = absl::Seconds(30);
  options.incarnation = std::move(tracker);
  return options;
}

std::unique_ptr<Store> Connect(const GrpcStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectGrpcStore(options);
  REQUIRE(store.ok());
  return *std::move(store);
}

TEST_CASE("GrpcStore reports the daemon's incarnation", "[incarnation]") {
  std::unique_ptr<RendezvousServer> server = Start();
  REQUIRE(server->incarnation().size() == 32);
  auto tracker = std::make_shared<IncarnationTracker>();
  std::unique_ptr<Store> store = Connect(Options(*server, tracker));
  REQUIRE(store->Set("k", "v").ok());
  CHECK(tracker->Latest() == server->incarnation());
  // An error reply carries it as well.
  auto other = std::make_shared<IncarnationTracker>();
  std::unique_ptr<Store> second = Connect(Options(*server, other));
  CHECK(absl::IsNotFound(second->TryGet("missing").status()));
  CHECK(other->Latest() == server->incarnation());
  CHECK_FALSE(tracker->Changed());

  absl::StatusOr<RendezvousStats> stats =
      GetRendezvousStats(Options(*server, nullptr));
  REQUIRE(stats.ok());
  CHECK(stats->incarnation == server->incarnation());
}

TEST_CASE("GrpcStore learns the incarnation from a rejected call",
          "[incarnation]") {
  std::unique_ptr<RendezvousServer> server = Start("right-token");
  auto tracker = std::make_shared<IncarnationTracker>();
  std::unique_ptr<Store> store =
      Connect(Options(*server, tracker, "wrong-token"));
  CHECK(absl::IsUnauthenticated(store->Set("k", "v")));
  CHECK(tracker->Latest() == server->incarnation());
}

TEST_CASE("Two daemons have different incarnations", "[incarnation]") {
  std::unique_ptr<RendezvousServer> a = Start();
  std::unique_ptr<RendezvousServer> b = Start();
  CHECK(a->incarnation() != b->incarnation());
  // One tracker shared by stores of both: the second daemon is a change.
  int changes = 0;
  auto tracker = std::make_shared<IncarnationTracker>(
      [&](const std::string& first, const std::string& now) {
        ++changes;
        CHECK(first == a->incarnation());
        CHECK(now == b->incarnation());
      });
  REQUIRE(Connect(Options(*a, tracker))->Set("k", "v").ok());
  REQUIRE(Connect(Options(*b, tracker))->Set("k", "v").ok());
  CHECK(changes == 1);
  CHECK(tracker->Changed());
}

}  // namespace
}  // namespace tplaunch
