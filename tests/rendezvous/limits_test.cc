// The daemon's limits through StartRendezvousServer over loopback gRPC
// (docs/reliability.md, "Limits and caps"): malformed protobuf, the
// blocking-timeout cap, the parked-bytes cap, the gRPC connection cap.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/rendezvous.grpc.pb.h"
#include "rendezvous/server.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

namespace pb = rendezvous::v1;
using testing::WaitFor;

constexpr absl::Duration kDeadline = absl::Seconds(20);

std::unique_ptr<RendezvousServer> Start(ServerOptions options) {
  options.host = "127.0.0.1";
  options.port = 0;
  absl::StatusOr<std::unique_ptr<RendezvousServer>> server =
      StartRendezvousServer(options);
  INFO(server.status().ToString());
  REQUIRE(server.ok());
  return std::move(*server);
}

std::unique_ptr<pb::Rendezvous::Stub> Connect(const std::string& address,
                                              int salt = 0) {
  grpc::ChannelArguments args;
  // Its own connection (gRPC shares subchannels between identical channels).
  args.SetInt("tplaunch.test.salt", salt);
  return pb::Rendezvous::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

std::unique_ptr<grpc::ClientContext> Ctx(
    absl::Duration timeout = absl::Seconds(10)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

// Sends `bytes` as the request of `method` and returns the status.
grpc::Status RawCall(const std::string& address, const std::string& method,
                     const std::string& bytes) {
  grpc::GenericStub generic(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::Slice slice(bytes.data(), bytes.size());
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  auto ctx = Ctx();
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  grpc::Status status;
  generic.UnaryCall(ctx.get(), method, grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = std::move(s);
                      finished = true;
                      cv.notify_all();
                    });
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return finished; }));
  return status;
}

TEST_CASE("limits: a request that is not protobuf is INVALID_ARGUMENT",
          "[limits]") {
  auto server = Start(ServerOptions{});
  // Field 1 (job), length-delimited, claims 100 bytes but carries 3.
  const std::string truncated(
      "\x0a\x64"
      "abc",
      5);
  for (const char* method : {"Set", "Get", "Wait", "GetStats", "MultiSet"}) {
    INFO(method);
    grpc::Status status = RawCall(
        server->address(),
        absl::StrCat("/tplaunch.rendezvous.v1.Rendezvous/", method), truncated);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StrContains(status.error_message(), "not a valid"));
    CHECK(absl::StrContains(status.error_message(), method));
  }
  CHECK(server->stats().jobs == 0);
  CHECK(server->stats().waiters == 0);
  // A valid request still works on the strict handlers.
  pb::SetRequest set;
  set.set_job("j");
  set.set_key("k");
  set.set_value("v");
  CHECK(RawCall(server->address(), "/tplaunch.rendezvous.v1.Rendezvous/Set",
                set.SerializeAsString())
            .ok());
  CHECK(server->stats().keys == 1);
}

TEST_CASE("limits: a blocking deadline over max_blocking_timeout is refused",
          "[limits]") {
  ServerOptions options;
  options.max_blocking_timeout = absl::Minutes(10);
  auto server = Start(options);
  auto stub = Connect(server->address());
  pb::WaitRequest req;
  req.set_job("j");
  req.add_keys("never");
  pb::WaitResponse resp;
  grpc::Status far = stub->Wait(Ctx(absl::Hours(1)).get(), req, &resp);
  CHECK(far.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StrContains(far.error_message(), "--max-blocking-timeout"));
  CHECK(server->stats().waiters == 0);
  // Inside the cap the call parks as before (and times out).
  grpc::Status near = stub->Wait(Ctx(absl::Milliseconds(50)).get(), req, &resp);
  CHECK(near.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_CASE("limits: parked calls are held to max_parked_bytes and give it back",
          "[limits]") {
  ServerOptions options;
  options.max_parked_bytes = 8 << 20;
  auto server = Start(options);
  auto stub = Connect(server->address());

  // 10,000 keys of 64 B: ~5.8 MB estimated, under the 8 MiB cap; two are not.
  pb::WaitRequest big;
  big.set_job("j");
  for (int i = 0; i < 10000; ++i) {
    std::string key = absl::StrCat("key-", i);
    key.resize(64, '.');
    big.add_keys(key);
  }
  grpc::ClientContext first_ctx;
  first_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
  pb::WaitResponse first_resp;
  std::mutex mu;
  std::condition_variable cv;
  bool first_done = false;
  grpc::Status first_status;
  stub->async()->Wait(&first_ctx, &big, &first_resp, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    first_status = std::move(s);
    first_done = true;
    cv.notify_all();
  });
  REQUIRE(WaitFor([&] { return server->stats().waiters == 1; }, kDeadline));
  const int64_t held = server->stats().parked_bytes;
  CHECK(held > 2'000'000);
  CHECK(held <= options.max_parked_bytes);

  // A second one would take the daemon over its cap.
  pb::WaitResponse resp;
  grpc::Status second = stub->Wait(Ctx().get(), big, &resp);
  CHECK(second.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(absl::StrContains(second.error_message(), "--max-parked-bytes"));
  CHECK(server->stats().waiters == 1);

  // Cancelling the first gives its bytes back; then the second fits.
  first_ctx.TryCancel();
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(20),
                        [&] { return first_done; }));
  }
  CHECK(first_status.error_code() == grpc::StatusCode::CANCELLED);
  REQUIRE(
      WaitFor([&] { return server->stats().parked_bytes == 0; }, kDeadline));
  CHECK(server->stats().waiters == 0);
  grpc::Status third =
      stub->Wait(Ctx(absl::Milliseconds(200)).get(), big, &resp);
  CHECK(third.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  REQUIRE(
      WaitFor([&] { return server->stats().parked_bytes == 0; }, kDeadline));
}

int ConnectRaw(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

TEST_CASE("limits: the gRPC port holds max_connections and recovers",
          "[limits]") {
  ServerOptions options;
  options.max_connections = 4;
  auto server = Start(options);
  CHECK(server->stats().max_connections == 4);
  std::vector<int> fds;
  for (int i = 0; i < 10; ++i) fds.push_back(ConnectRaw(server->port()));
  REQUIRE(WaitFor(
      [&] {
        const ServerStats stats = server->stats();
        return stats.grpc_connections == 4 && stats.grpc_refused == 6;
      },
      kDeadline));
  for (int fd : fds) close(fd);
  // Once the held connections are gone, a real client is served again.
  auto stub = Connect(server->address(), /*salt=*/1);
  pb::GetStatsRequest req;
  pb::GetStatsResponse resp;
  CHECK(WaitFor([&] { return stub->GetStats(Ctx().get(), req, &resp).ok(); },
                kDeadline));
}

TEST_CASE("limits: the default connection cap comes from the fd limit",
          "[limits]") {
  CHECK(DefaultMaxConnections(256, 2) == (256 - kReservedFds) / 2);
  CHECK(DefaultMaxConnections(256, 1) == 256 - kReservedFds);
  CHECK(DefaultMaxConnections(10, 2) == 1);
}

}  // namespace
}  // namespace tplaunch
