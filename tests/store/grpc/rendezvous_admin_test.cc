// ClearTorchStoreJob against a real in-process daemon with its TCPStore
// listener (port 0): it empties exactly the listener's job through DeleteJob,
// reports how many keys it held, and refuses a listener that is not the
// daemon's or a daemon without one.
#include "store/grpc/rendezvous_admin.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "rendezvous/server.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"

namespace tplaunch {
namespace {

std::unique_ptr<RendezvousServer> StartServer(int torch_store_port) {
  ServerOptions options;
  options.port = 0;
  options.token = "admin-token";
  options.torch_store_port = torch_store_port;
  auto server = StartRendezvousServer(options);
  INFO(server.status().ToString());
  REQUIRE(server.ok());
  return *std::move(server);
}

GrpcStoreOptions Options(const RendezvousServer& server,
                         const std::string& job) {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(server.address(), 0).value();
  options.job = job;
  options.token = "admin-token";
  options.connect_timeout = absl::Seconds(10);
  return options;
}

std::unique_ptr<Store> Connect(const GrpcStoreOptions& options) {
  auto store = ConnectGrpcStore(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return *std::move(store);
}

TEST_CASE("ClearTorchStoreJob empties the listener's job and only that",
          "[store][grpc][admin]") {
  std::unique_ptr<RendezvousServer> server = StartServer(0);
  // TCPStore key "k" arrives as "/k" in the listener's job "torch".
  std::unique_ptr<Store> torch = Connect(Options(*server, "torch"));
  std::unique_ptr<Store> other = Connect(Options(*server, "another_job"));
  for (const char* key : {"//worker/attempt_0/a", "/b", "init/"}) {
    REQUIRE(torch->Set(key, "v").ok());
  }
  REQUIRE(other->Set("//worker/attempt_0/a", "v").ok());

  const RendezvousStats stats =
      GetRendezvousStats(Options(*server, "")).value();
  CHECK(stats.torch_store_job == "torch");
  CHECK(stats.torch_store_port == server->torch_store_port());

  auto cleared = ClearTorchStoreJob(Options(*server, "ignored"),
                                    server->torch_store_port());
  INFO(cleared.status().ToString());
  REQUIRE(cleared.ok());
  CHECK(*cleared == 3);
  CHECK(torch->NumKeys().value() == 0);
  CHECK(other->NumKeys().value() == 1);

  // Nothing left: 0, and 0 as the port skips the check.
  cleared = ClearTorchStoreJob(Options(*server, ""), 0);
  REQUIRE(cleared.ok());
  CHECK(*cleared == 0);
}

TEST_CASE("ClearTorchStoreJob refuses a listener that is not the daemon's",
          "[store][grpc][admin]") {
  std::unique_ptr<RendezvousServer> server = StartServer(0);
  const int wrong_port = server->torch_store_port() == 1 ? 2 : 1;
  auto cleared = ClearTorchStoreJob(Options(*server, ""), wrong_port);
  INFO(cleared.status().ToString());
  REQUIRE(absl::IsFailedPrecondition(cleared.status()));
  CHECK(absl::StrContains(cleared.status().message(),
                          absl::StrCat("port ", wrong_port)));
  CHECK(absl::StrContains(cleared.status().message(), server->address()));

  std::unique_ptr<RendezvousServer> without = StartServer(-1);
  cleared = ClearTorchStoreJob(Options(*without, ""), 0);
  INFO(cleared.status().ToString());
  REQUIRE(absl::IsFailedPrecondition(cleared.status()));
  CHECK(absl::StrContains(cleared.status().message(), "--torch-store-port"));
}

TEST_CASE("ClearTorchStoreJob names the daemon when it cannot be reached",
          "[store][grpc][admin]") {
  std::string endpoint;
  GrpcStoreOptions options;
  {
    std::unique_ptr<RendezvousServer> server = StartServer(0);
    endpoint = server->address();
    options.endpoint = ParseEndpoint(endpoint, 0).value();
  }
  options.connect_timeout = absl::Milliseconds(300);
  auto cleared = ClearTorchStoreJob(options, 0);
  REQUIRE(absl::IsUnavailable(cleared.status()));
  CHECK(absl::StrContains(cleared.status().message(), endpoint));
}

}  // namespace
}  // namespace tplaunch
