// RendezvousServer with its TCPStore listener on (ServerOptions::
// torch_store_port): a gRPC client (GrpcStore) and a raw TCPStore client over
// loopback share the keys of one job, a gRPC Set releases a parked TCPStore
// WAIT, Shutdown closes a parked TCPStore client at once, bad options and a
// taken port are refused. The real PyTorch client against the tprdzvd binary
// is in tprdzvd_test.sh.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rendezvous/server.h"
#include "rendezvous/torch_store/encoder.h"
#include "rendezvous/torch_store/protocol.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/store.h"
#include "tests/rendezvous/torch_store/wire_test_util.h"
#include "tests/testing/torch_store_client.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::WaitFor;
using torch_store::MakeRequest;
using torch_store::Op;

constexpr absl::Duration kDeadline = absl::Seconds(10);

using RawClient = testing::TorchStoreClient;

ServerOptions WithTorchStore() {
  ServerOptions options;
  options.port = 0;
  options.torch_store_port = 0;
  return options;
}

std::unique_ptr<RendezvousServer> Start(const ServerOptions& options) {
  auto server = StartRendezvousServer(options);
  INFO(server.status().ToString());
  REQUIRE(server.ok());
  return *std::move(server);
}

std::unique_ptr<Store> Connect(const RendezvousServer& server,
                               const std::string& job,
                               const std::string& token = "") {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(server.address(), 0).value();
  options.job = job;
  options.token = token;
  options.connect_timeout = kDeadline;
  auto store = ConnectGrpcStore(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return *std::move(store);
}

TEST_CASE("torch store: off by default, on with torch_store_port 0",
          "[server][torch_store]") {
  ServerOptions off;
  off.port = 0;
  auto plain = Start(off);
  CHECK(plain->torch_store_address().empty());
  CHECK(plain->torch_store_port() == 0);

  auto server = Start(WithTorchStore());
  CHECK(server->torch_store_port() > 0);
  CHECK(server->torch_store_port() != server->port());
  CHECK(server->torch_store_address() ==
        absl::StrCat("127.0.0.1:", server->torch_store_port()));
}

TEST_CASE("torch store: TCPStore and gRPC clients of the job share keys",
          "[server][torch_store]") {
  auto server = Start(WithTorchStore());
  auto grpc = Connect(*server, "torch");
  auto other_job = Connect(*server, "other");
  RawClient raw(server->torch_store_port());

  // PyTorch's client sends store.set("foo", ...) as key "/foo".
  REQUIRE(grpc->Set("/from_grpc", "g").ok());
  raw.Send(MakeRequest(Op::kGet, {"/from_grpc"}));
  CHECK(raw.ReadBlob() == "g");

  raw.Send(MakeRequest(Op::kSet, {"/from_torch"}, {"t"}));
  auto value = grpc->Get("/from_torch", kDeadline);
  REQUIRE(value.ok());
  CHECK(*value == "t");
  // Other jobs do not see the listener's keys.
  auto missing = other_job->TryGet("/from_torch");
  CHECK(absl::IsNotFound(missing.status()));

  // A gRPC Set releases a parked TCPStore WAIT (reply STOP_WAITING = 0).
  raw.Send(MakeRequest(Op::kWait, {"/later"}));
  CHECK(raw.Quiet(absl::Milliseconds(100)));
  REQUIRE(WaitFor([&] { return server->stats().waiters == 1; }, kDeadline));
  REQUIRE(grpc->Set("/later", "x").ok());
  CHECK(raw.Read(1) == std::string(1, '\0'));

  const ServerStats stats = server->stats();
  CHECK(stats.torch_store_connections == 1);
  CHECK(stats.waiters == 0);
}

TEST_CASE("torch store: --torch-store-job picks the job",
          "[server][torch_store]") {
  ServerOptions options = WithTorchStore();
  options.torch_store_job = "job7";
  auto server = Start(options);
  auto grpc = Connect(*server, "job7");
  RawClient raw(server->torch_store_port());
  raw.Send(MakeRequest(Op::kSet, {"/k"}, {"v"}));
  auto value = grpc->Get("/k", kDeadline);
  REQUIRE(value.ok());
  CHECK(*value == "v");
}

TEST_CASE("torch store: Shutdown closes a parked TCPStore client at once",
          "[server][torch_store]") {
  auto server = Start(WithTorchStore());
  RawClient waiting(server->torch_store_port());
  RawClient getting(server->torch_store_port());
  waiting.Send(MakeRequest(Op::kWait, {"/never"}));
  // PyTorch's get() is a WAIT, then a GET once the WAIT is answered.
  getting.Send(MakeRequest(Op::kWait, {"/never_either"}));
  REQUIRE(WaitFor([&] { return server->stats().waiters == 2; }, kDeadline));

  const absl::Time start = absl::Now();
  server->Shutdown();
  CHECK(waiting.ClosedByPeer(absl::Seconds(5)));
  CHECK(getting.ClosedByPeer(absl::Seconds(5)));
  // Well below the 2 s gRPC grace period: nothing waits for a timeout.
  CHECK(absl::Now() - start < absl::Seconds(2));
  server->Shutdown();  // Idempotent.
}

TEST_CASE("torch store: a token protects gRPC only; the listener still serves",
          "[server][torch_store]") {
  ServerOptions options = WithTorchStore();
  options.token = "secret";
  auto server = Start(options);
  auto grpc = Connect(*server, "torch", "secret");
  RawClient raw(server->torch_store_port());
  raw.Send(MakeRequest(Op::kSet, {"/k"}, {"v"}));
  auto value = grpc->Get("/k", kDeadline);
  REQUIRE(value.ok());
  CHECK(*value == "v");
}

TEST_CASE("torch store: bad options and a taken port are refused",
          "[server][torch_store]") {
  ServerOptions bad = WithTorchStore();
  bad.torch_store_port = 70000;
  CHECK(absl::IsInvalidArgument(StartRendezvousServer(bad).status()));
  bad.torch_store_port = -2;
  CHECK(absl::IsInvalidArgument(StartRendezvousServer(bad).status()));
  bad = WithTorchStore();
  bad.torch_store_job = "";
  CHECK(absl::IsInvalidArgument(StartRendezvousServer(bad).status()));

  auto first = Start(WithTorchStore());
  ServerOptions taken = WithTorchStore();
  taken.torch_store_port = first->torch_store_port();
  auto second = StartRendezvousServer(taken);
  CHECK(absl::IsUnavailable(second.status()));
  CHECK_THAT(std::string(second.status().message()),
             Catch::Contains(first->torch_store_address()));
}

}  // namespace
}  // namespace tplaunch
