// TorchStoreListener over real loopback sockets: the 1.13 byte transcript,
// split segments, parked WAITs released by other connections and by a direct
// KvTable Set (what a gRPC client does), bad input and stalled clients closed
// without disturbing others, backpressure, 1000 connections, shutdown.
#include "rendezvous/torch_store/listener.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "store/kv_table.h"
#include "tests/rendezvous/torch_store/test_listener.h"
#include "tests/rendezvous/torch_store/wire_test_util.h"
#include "tests/testing/torch_store_client.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace torch_store {
namespace {

using SocketClient = testing::TorchStoreClient;
using testing::WaitFor;

TEST_CASE("listener: the 1.13 transcript over TCP, type bytes split off") {
  TestListener server;
  SocketClient a(server.port());
  a.SendHex("0005000000000000002f6b657931040000000000000076616c31");
  a.SendHex("05010000000000000005000000000000002f6b657931");
  CHECK(a.ReadHex(1) == "00");
  a.SendHex("0205000000000000002f6b657931");
  CHECK(a.ReadHex(12) == "040000000000000076616c31");
  a.SendHex("03");
  a.SendHex("04000000000000002f6374720500000000000000");
  CHECK(a.ReadHex(8) == "0500000000000000");
  a.SendHex("04");
  a.SendHex(
      "020000000000000005000000000000002f6b65793104000000000000002f6e6f6b");
  CHECK(a.ReadHex(1) == "01");
  a.SendHex("06");
  CHECK(a.ReadHex(8) == "0200000000000000");
  // The keys are visible in the listener's job with their "/" prefix.
  CHECK(*server.table.TryGet("torch", "/key1") == "val1");
}

TEST_CASE(
    "listener: a parked WAIT is released by another connection and by a "
    "KvTable Set") {
  TestListener server;
  SocketClient a(server.port());
  SocketClient b(server.port());
  a.SendHex("05010000000000000005000000000000002f6c617465");
  CHECK(a.Quiet(absl::Milliseconds(50)));
  b.SendHex("0005000000000000002f6c61746502000000000000004c38");
  CHECK(a.ReadHex(1) == "00");
  a.SendHex("0205000000000000002f6c617465");
  CHECK(a.ReadHex(10) == "02000000000000004c38");

  a.SendHex("05010000000000000004000000000000002f677270");
  REQUIRE(WaitFor([&] { return server.table.Stats().waiters == 1; }));
  REQUIRE(server.table.Set("torch", "/grp", "g").ok());
  CHECK(a.ReadHex(1) == "00");
}

TEST_CASE("listener: bad input closes that connection only, with its reason") {
  TestListener server;
  SocketClient good(server.port());
  good.SendHex(
      "0002000000000000002f6b0100000000000000"
      "76");
  SECTION("HTTP from a port scanner") {
    SocketClient scanner(server.port());
    scanner.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(scanner.ClosedByPeer());
  }
  SECTION("an 8 EiB key length") {
    SocketClient bad(server.port());
    bad.SendHex("02ffffffffffffff7f");
    CHECK(bad.ClosedByPeer());
  }
  SECTION("too many keys in a WAIT") {
    SocketClient bad(server.port());
    bad.SendHex("05ffffffff00000000");
    CHECK(bad.ClosedByPeer());
  }
  SECTION("GET of a missing key from a 1.x client (as PyTorch 1.x)") {
    SocketClient bad(server.port());
    bad.SendHex("0202000000000000002f7a");
    CHECK(bad.ClosedByPeer());
  }
  CHECK(server.listener->stats().closed_for_cause == 1);
  good.SendHex("0202000000000000002f6b");
  CHECK(good.ReadHex(9) == "010000000000000076");
}

TEST_CASE("listener: a client that sends half a request and stalls is closed") {
  TorchStoreListenerOptions options;
  options.stalled_request_timeout = absl::Milliseconds(200);
  TestListener server(options);
  SocketClient stalled(server.port());
  SocketClient idle(server.port());
  SocketClient busy(server.port());
  stalled.SendHex("0005000000000000002f6b");  // SET, key cut short.
  busy.SendHex("06");
  CHECK(busy.ReadHex(8) == "0000000000000000");
  CHECK(stalled.ClosedByPeer());
  // An idle connection between requests is not stalled.
  CHECK(idle.Quiet(absl::Milliseconds(300)));
  idle.SendHex("06");
  CHECK(idle.ReadHex(8) == "0000000000000000");
}

TEST_CASE("listener: >= 2.2 handshake, ping, and CANCEL_WAIT over TCP") {
  TestListener server;
  SocketClient c(server.port());
  c.SendHex(
      "00cef7853c"
      "0d01020304");
  CHECK(c.ReadHex(4) == "01020304");
  c.SendHex("06 0100000000000000 0200000000000000 2f77");
  CHECK(c.Quiet(absl::Milliseconds(30)));
  c.SendHex("0c");
  CHECK(c.ReadHex(1) == "01");
  CHECK(WaitFor([&] { return server.table.Stats().waiters == 0; }));
}

TEST_CASE("listener: a client that does not read its replies is throttled") {
  TorchStoreListenerOptions options;
  options.max_output_bytes = 256 * 1024;
  TestListener server(options);
  const std::string value(512 * 1024, 'v');
  REQUIRE(server.table.Set("torch", "/big", value).ok());
  SocketClient hog(server.port());
  // 64 GETs of 512 KiB = 32 MiB of replies, sent without reading.
  std::string gets;
  for (int i = 0; i < 64; ++i) gets += Hex("0204000000000000002f626967");
  hog.Send(gets);
  SocketClient other(server.port());
  other.SendHex("06");
  CHECK(other.ReadHex(8) == "0100000000000000");
  // Every reply arrives, in order, once the hog reads.
  for (int i = 0; i < 64; ++i) {
    std::string reply = hog.Read(8 + value.size());
    REQUIRE(reply.size() == 8 + value.size());
    CHECK(reply.substr(8) == value);
  }
}

TEST_CASE("listener: 1000 connections park WAITs and one SET releases them") {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  const int n = limit.rlim_cur >= 2200 ? 1000 : 400;
  TestListener server;
  std::vector<std::unique_ptr<SocketClient>> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<SocketClient>(server.port()));
    clients.back()->SendHex("030500000000000000696e69742f0100000000000000");
  }
  for (auto& c : clients) {
    REQUIRE(c->Read(8).size() == 8);
    c->SendHex("05010000000000000003000000000000002f676f");
  }
  REQUIRE(WaitFor([&] { return server.table.Stats().waiters == n; }));
  CHECK(*server.table.TryGet("torch", "init/") == std::to_string(n));
  SocketClient setter(server.port());
  setter.SendHex(
      "0003000000000000002f676f0100000000000000"
      "31");
  for (auto& c : clients) CHECK(c->ReadHex(1) == "00");
  CHECK(server.listener->stats().connections == n + 1);
}

TEST_CASE("listener: shutdown closes connections and removes their waiters") {
  TestListener server;
  SocketClient a(server.port());
  a.SendHex("05010000000000000002000000000000002f78");
  REQUIRE(WaitFor([&] { return server.table.Stats().waiters == 1; }));
  server.listener->Shutdown();
  CHECK(server.table.Stats().waiters == 0);
  CHECK(a.ClosedByPeer());
  server.listener->Shutdown();  // Idempotent.
}

TEST_CASE("listener: IPv6 loopback and option errors") {
  TorchStoreListenerOptions options;
  options.host = "::1";
  KvTable table;
  auto listener = StartTorchStoreListener(options, &table);
  if (listener.ok()) {
    CHECK((*listener)->address().rfind("[::1]:", 0) == 0);
    SocketClient c((*listener)->port(), "::1", AF_INET6);
    c.SendHex("06");
    CHECK(c.ReadHex(8) == "0000000000000000");
  } else {
    WARN("no IPv6 loopback here: " << listener.status().message());
  }
  options.host = "127.0.0.1";
  options.limits.max_key_bytes = 0x3C85F7CE;
  CHECK(absl::IsInvalidArgument(
      StartTorchStoreListener(options, &table).status()));
  options.limits = DecoderLimits{};
  options.job = "";
  CHECK(absl::IsInvalidArgument(
      StartTorchStoreListener(options, &table).status()));
  options.job = "torch";
  options.host = "no-such-host.invalid";
  CHECK(absl::IsUnavailable(StartTorchStoreListener(options, &table).status()));
}

}  // namespace
}  // namespace torch_store
}  // namespace tplaunch
