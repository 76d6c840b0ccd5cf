// StartRendezvousServerInBackground: the port is known (and bound) when the
// call returns, a client that connects at once is served, bad options fail
// the call itself, and options that publish further ports start in the
// foreground.
#include "rendezvous/background_server.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "store/grpc/grpc_store.h"

namespace tplaunch {
namespace {

ServerOptions Loopback() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.token = "t0ken";
  return o;
}

TEST_CASE("a client connecting at once is served by the background start") {
  auto server = StartRendezvousServerInBackground(Loopback());
  REQUIRE(server.ok());
  REQUIRE((*server)->port() > 0);
  CHECK((*server)->address() == absl::StrCat("127.0.0.1:", (*server)->port()));
  GrpcStoreOptions go;
  go.endpoint = Endpoint{"127.0.0.1", (*server)->port()};
  go.job = "job";
  go.token = "t0ken";
  go.connect_timeout = absl::Seconds(30);
  auto store = ConnectGrpcStore(go);
  REQUIRE(store.ok());
  REQUIRE((*store)->Set("k", "v").ok());
  auto value = (*store)->Get("k", absl::Seconds(10));
  REQUIRE(value.ok());
  CHECK(*value == "v");
  CHECK_FALSE((*server)->incarnation().empty());
  CHECK((*server)->stats().keys == 1);
  (*server)->Shutdown();
}

TEST_CASE("bad options fail the background start's call itself") {
  ServerOptions o = Loopback();
  o.max_key_bytes = 0;
  auto server = StartRendezvousServerInBackground(o);
  REQUIRE_FALSE(server.ok());
  CHECK(absl::IsInvalidArgument(server.status()));
}

TEST_CASE("a TCPStore listener is started in the foreground, port known") {
  ServerOptions o = Loopback();
  o.torch_store_port = 0;
  o.torch_store_job = "job";
  auto server = StartRendezvousServerInBackground(o);
  REQUIRE(server.ok());
  CHECK((*server)->torch_store_port() > 0);
  CHECK((*server)->port() > 0);
}

}  // namespace
}  // namespace tplaunch
