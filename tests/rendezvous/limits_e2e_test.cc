// End to end: the real tprdzvd under `prlimit --nofile=256:256` and flooded
// with connections, and a TCPStore port whose clients never read their
// replies (issue #10 items 3 and 8). Every wait is on a condition with a
// deadline; the one fixed window measures CPU, it does not synchronise.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/fd_limit.h"
#include "proto/rendezvous.grpc.pb.h"
#include "tests/rendezvous/torch_store/wire_test_util.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/torch_store_client.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::Runfile;
using testing::Subprocess;
using testing::WaitFor;
using torch_store::MakeRequest;
using torch_store::Op;
using SocketClient = testing::TorchStoreClient;

constexpr absl::Duration kDeadline = absl::Seconds(30);

// Sanitizers keep freed memory in quarantine and add shadow memory, so the
// daemon's RSS says nothing about what it holds: the RSS bounds are checked
// in plain builds only (the behaviour around them is checked in all).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kRssIsMeaningful = false;
#else
constexpr bool kRssIsMeaningful = true;
#endif
constexpr int kFlood = 300;

int64_t Count(const std::string& text, const std::string& what) {
  int64_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

// utime + stime of `pid`, in clock ticks.
int64_t CpuTicks(pid_t pid) {
  const std::string stat =
      testing::ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  // Fields after the parenthesised command name; utime and stime are the 12th
  // and 13th of them.
  const size_t close_paren = stat.rfind(')');
  REQUIRE(close_paren != std::string::npos);
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close_paren + 2), ' ');
  REQUIRE(fields.size() > 13);
  int64_t utime = 0, stime = 0;
  REQUIRE(absl::SimpleAtoi(fields[11], &utime));
  REQUIRE(absl::SimpleAtoi(fields[12], &stime));
  return utime + stime;
}

// A /proc/PID/status field in kB (VmRSS, VmHWM).
int64_t StatusKb(pid_t pid, const std::string& field) {
  std::istringstream status(
      testing::ReadFile(absl::StrCat("/proc/", pid, "/status")));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, field + ":")) {
      std::vector<std::string> parts =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t kb = 0;
      REQUIRE(parts.size() >= 2);
      REQUIRE(absl::SimpleAtoi(parts[1], &kb));
      return kb;
    }
  }
  FAIL("no " << field << " in /proc/" << pid << "/status");
  return 0;
}

// tprdzvd (under prlimit when `nofile` > 0) with a TCPStore port; the ports
// come from its stdout lines.
class Daemon {
 public:
  Daemon(int nofile, std::vector<std::string> flags)
      : proc_(Argv(nofile, flags)) {
    std::vector<std::string> lines;
    const bool up = WaitFor(
        [&] {
          lines = absl::StrSplit(proc_.out(), '\n');
          return lines.size() > 2;
        },
        kDeadline);
    INFO("stdout: " << proc_.out() << "\nstderr: " << proc_.err());
    REQUIRE(up);
    REQUIRE(absl::StartsWith(lines[0], "listening on 127.0.0.1:"));
    REQUIRE(absl::StartsWith(lines[1], "torch store listening on 127.0.0.1:"));
    endpoint_ = lines[0].substr(std::string("listening on ").size());
    REQUIRE(absl::SimpleAtoi(endpoint_.substr(endpoint_.rfind(':') + 1),
                             &grpc_port_));
    REQUIRE(absl::SimpleAtoi(lines[1].substr(lines[1].rfind(':') + 1),
                             &torch_port_));
  }

  pid_t pid() const { return proc_.pid(); }
  std::string err() const { return proc_.err(); }
  const std::string& endpoint() const { return endpoint_; }
  int grpc_port() const { return grpc_port_; }
  int torch_port() const { return torch_port_; }

  // `tprdzvctl health` answers SERVING.
  bool Healthy() const {
    Subprocess ctl({Runfile("rendezvous/tprdzvctl"), "--endpoint", endpoint_,
                    "--connect-timeout", "2s", "--rpc-timeout", "2s",
                    "health"});
    std::optional<int> rc = ctl.Wait(kDeadline);
    return rc.has_value() && *rc == 0 &&
           absl::StrContains(ctl.out(), "SERVING");
  }

  // A fresh TCPStore client can SET and GET.
  bool TorchStoreServes() const {
    SocketClient client(torch_port_);
    client.Send(MakeRequest(Op::kSet, {"/probe"}, {"ok"}));
    client.Send(MakeRequest(Op::kGet, {"/probe"}));
    const std::string length = client.Read(8, absl::Seconds(5));
    if (length.size() != 8) return false;
    return client.Read(2, absl::Seconds(5)) == "ok";
  }

 private:
  static std::vector<std::string> Argv(int nofile,
                                       const std::vector<std::string>& flags) {
    std::vector<std::string> argv;
    if (nofile > 0) {
      argv = {"/usr/bin/prlimit",
              absl::StrCat("--nofile=", nofile, ":", nofile), "--"};
    }
    argv.push_back(Runfile("rendezvous/tprdzvd"));
    for (const char* flag : {"--port", "0", "--torch-store-port", "0"}) {
      argv.push_back(flag);
    }
    argv.insert(argv.end(), flags.begin(), flags.end());
    return argv;
  }

  Subprocess proc_;
  std::string endpoint_;
  int grpc_port_ = 0;
  int torch_port_ = 0;
};

std::vector<std::unique_ptr<SocketClient>> Flood(int port, int n) {
  std::vector<std::unique_ptr<SocketClient>> clients;
  for (int i = 0; i < n; ++i)
    clients.push_back(std::make_unique<SocketClient>(port));
  return clients;
}

void RaiseOwnLimit() {
  // This test holds 2 x kFlood sockets itself.
  REQUIRE(RaiseFdLimit().ok());
  REQUIRE(CurrentFdLimit()->soft > 2 * kFlood + 64);
}

TEST_CASE("limits e2e: a 256-descriptor daemon caps connections and recovers",
          "[limits][e2e]") {
  RaiseOwnLimit();
  Daemon daemon(256, {});
  CHECK(absl::StrContains(daemon.err(), "descriptor limit: 256"));
  {
    auto grpc_flood = Flood(daemon.grpc_port(), kFlood);
    auto torch_flood = Flood(daemon.torch_port(), kFlood);
    // (256 - 64) / 2 = 96 per port; the rest are refused, in a few lines.
    REQUIRE(WaitFor(
        [&] {
          const std::string err = daemon.err();
          return absl::StrContains(err, "gRPC port: refusing connection") &&
                 absl::StrContains(err, "torch store: refusing connection");
        },
        kDeadline));
    // The cap keeps headroom: no accept ever ran out of descriptors.
    CHECK_FALSE(absl::StrContains(daemon.err(), "Too many open files"));
  }
  // Everything closed: new clients on both ports are served.
  CHECK(WaitFor([&] { return daemon.Healthy(); }, kDeadline));
  CHECK(WaitFor([&] { return daemon.TorchStoreServes(); }, kDeadline));
  const std::string err = daemon.err();
  INFO(err);
  CHECK(Count(err, "refusing connection") <= 4);
}

TEST_CASE(
    "limits e2e: out of descriptors, both ports back off and accept again",
    "[limits][e2e]") {
  RaiseOwnLimit();
  // A cap above the descriptor limit, so that accept() does hit EMFILE.
  Daemon daemon(256, {"--max-connections", "1000"});
  {
    auto torch_flood = Flood(daemon.torch_port(), kFlood);
    REQUIRE(WaitFor(
        [&] {
          return absl::StrContains(daemon.err(),
                                   "torch store: accept: Too many open files");
        },
        kDeadline));
    // Still out of descriptors with clients waiting in the backlog: a
    // listener that spins burns a core here; a backing-off one sleeps.
    const int64_t before = CpuTicks(daemon.pid());
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const int64_t used = CpuTicks(daemon.pid()) - before;
    CHECK(used < sysconf(_SC_CLK_TCK) / 4);
    auto grpc_flood = Flood(daemon.grpc_port(), 50);
    REQUIRE(WaitFor(
        [&] {
          return absl::StrContains(daemon.err(),
                                   "gRPC port: accept: Too many open files");
        },
        kDeadline));
  }
  CHECK(WaitFor([&] { return daemon.Healthy(); }, kDeadline));
  CHECK(WaitFor([&] { return daemon.TorchStoreServes(); }, kDeadline));
  const std::string err = daemon.err();
  INFO(err);
  // One line per port per 10 s, not one per attempt.
  CHECK(Count(err, "Too many open files") <= 4);
}

TEST_CASE(
    "limits e2e: TCPStore clients that never read are closed, RSS bounded",
    "[limits][e2e]") {
  constexpr int kClients = 40;
  constexpr int kGets = 50;
  constexpr int64_t kValueBytes = 1 << 20;
  Daemon daemon(0, {"--torch-store-max-output-bytes", "4194304",
                    "--torch-store-max-total-output-bytes", "33554432",
                    "--torch-store-output-stall-timeout", "1s"});
  {
    SocketClient setter(daemon.torch_port());
    setter.Send(
        MakeRequest(Op::kSet, {"/big"}, {std::string(kValueBytes, 'v')}));
    // Read back, so the value is stored before any reader asks for it (the
    // readers may be served by another loop thread).
    setter.Send(MakeRequest(Op::kGet, {"/big"}));
    REQUIRE(setter.ReadBlob().size() == static_cast<size_t>(kValueBytes));
  }
  const int64_t baseline_kb = StatusKb(daemon.pid(), "VmRSS");
  std::vector<std::unique_ptr<SocketClient>> readers;
  for (int i = 0; i < kClients; ++i) {
    readers.push_back(std::make_unique<SocketClient>(daemon.torch_port()));
    // Asks for 50 MiB of replies and never reads one byte of them.
    std::string requests;
    for (int g = 0; g < kGets; ++g) {
      requests += torch_store::EncodeRequest(torch_store::Dialect::kV1,
                                             MakeRequest(Op::kGet, {"/big"}));
    }
    readers.back()->Send(requests);
  }
  // Every one of them is closed, each with a line naming its peer.
  const bool all_closed = WaitFor(
      [&] {
        return Count(daemon.err(), "it does not read its replies") >= kClients;
      },
      kDeadline);
  INFO(daemon.err());
  REQUIRE(all_closed);
  const std::string err = daemon.err();
  INFO(err);
  CHECK(absl::StrContains(err, "closing connection from 127.0.0.1:"));
  // 40 x 50 MiB were asked for; the daemon held about the 32 MiB total cap
  // (without it: 40 x ~8 MiB of buffers, the kernel holding the rest).
  const int64_t peak_growth_kb = StatusKb(daemon.pid(), "VmHWM") - baseline_kb;
  if (kRssIsMeaningful) CHECK(peak_growth_kb < 96 * 1024);
  CHECK(WaitFor([&] { return daemon.TorchStoreServes(); }, kDeadline));
}

TEST_CASE(
    "limits e2e: parked calls are capped and their memory is returned when "
    "they end",
    "[limits][e2e]") {
  namespace pb = rendezvous::v1;
  // Each Wait on 131,072 keys of 64 B is estimated at ~75 MB: two fit under
  // 160 MB, the third is refused.
  Daemon daemon(0, {"--max-parked-bytes", "160000000"});
  auto stub = pb::Rendezvous::NewStub(grpc::CreateChannel(
      daemon.endpoint(), grpc::InsecureChannelCredentials()));
  pb::WaitRequest wait;
  wait.set_job("j");
  for (int i = 0; i < 131072; ++i) {
    std::string key = absl::StrCat("/rank/", i, "/");
    key.resize(64, 'k');
    wait.add_keys(std::move(key));
  }
  const int64_t baseline_kb = StatusKb(daemon.pid(), "VmRSS");

  struct Parked {
    grpc::ClientContext ctx;
    pb::WaitResponse response;
    grpc::Status status;
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Parked>> parked;
  auto park = [&] {
    parked.push_back(std::make_unique<Parked>());
    Parked* p = parked.back().get();
    p->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
    stub->async()->Wait(&p->ctx, &wait, &p->response, [&, p](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      p->status = std::move(s);
      p->done = true;
      cv.notify_all();
    });
  };
  auto wait_done = [&](Parked* p) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(60), [&] { return p->done; });
  };
  park();
  park();
  // Parked: the daemon holds their keys (tprdzvctl stats would say so too).
  REQUIRE(WaitFor(
      [&] { return StatusKb(daemon.pid(), "VmRSS") - baseline_kb > 40 * 1024; },
      kDeadline));
  park();
  REQUIRE(wait_done(parked[2].get()));
  CHECK(parked[2]->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(absl::StrContains(parked[2]->status.error_message(),
                          "--max-parked-bytes"));
  // One line in the daemon's log, naming the peer.
  CHECK(WaitFor(
      [&] {
        return absl::StrContains(daemon.err(),
                                 "refused Wait from ipv4:127.0.0.1:");
      },
      kDeadline));
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK_FALSE(parked[0]->done);
    CHECK_FALSE(parked[1]->done);
  }
  const int64_t parked_kb = StatusKb(daemon.pid(), "VmRSS") - baseline_kb;
  for (int i = 0; i < 2; ++i) parked[i]->ctx.TryCancel();
  for (int i = 0; i < 2; ++i) {
    REQUIRE(wait_done(parked[i].get()));
    CHECK(parked[i]->status.error_code() == grpc::StatusCode::CANCELLED);
  }
  if (!kRssIsMeaningful) return;
  // Given back to the OS, not just to malloc's free lists.
  const bool returned = WaitFor(
      [&] {
        return StatusKb(daemon.pid(), "VmRSS") - baseline_kb < parked_kb / 4;
      },
      kDeadline);
  INFO("parked: +" << parked_kb << " kB, now: +"
                   << StatusKb(daemon.pid(), "VmRSS") - baseline_kb << " kB");
  CHECK(returned);
}

}  // namespace
}  // namespace tplaunch
