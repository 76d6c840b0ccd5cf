// End to end: the real tprdzvd binary with --state-dir, SIGKILLed and started
// again on the same port. Clients are GrpcStores and the launcher's own
// NodeRendezvous, so what must survive is checked through the calls that use
// it. Every wait has a deadline; nothing sleeps as synchronisation.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/key_layout.h"
#include "launcher/node_rendezvous.h"
#include "rendezvous/torch_store/protocol.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/store.h"
#include "tests/rendezvous/torch_store/wire_test_util.h"
#include "tests/rendezvous/tprdzvd_process.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/torch_store_client.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::kStartTimeout;
using testing::Tprdzvd;

GrpcStoreOptions Options(const Tprdzvd& d, const std::string& job) {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(d.endpoint(), 0).value();
  options.job = job;
  options.connect_timeout = kStartTimeout;
  return options;
}

std::unique_ptr<Store> Connect(const Tprdzvd& d, const std::string& job) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      ConnectGrpcStore(Options(d, job));
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return *std::move(store);
}

std::vector<std::string> StateFlags(const std::string& dir) {
  return {"--state-dir", dir};
}

TEST_CASE("tprdzvd --state-dir keeps keys and counters across SIGKILL",
          "[state_dir][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  int port = 0;
  {
    Tprdzvd daemon(0, StateFlags(dir));
    port = daemon.port();
    std::unique_ptr<Store> store = Connect(daemon, "run");
    REQUIRE(store->Set("k", std::string("v\0w", 3)).ok());
    REQUIRE(*store->Add("counter", 5) == 5);
    REQUIRE(*store->Add("counter", 2) == 7);
    REQUIRE(store->Append("log", "a").ok());
    REQUIRE(store->Append("log", "b").ok());
    REQUIRE(*store->DeleteKey("k"));
    REQUIRE(store->Set("k", "again").ok());
    REQUIRE(Connect(daemon, "other")->Set("x", "1").ok());
    daemon.Kill();
  }
  Tprdzvd daemon(port, StateFlags(dir));
  REQUIRE(daemon.port() == port);
  std::unique_ptr<Store> store = Connect(daemon, "run");
  CHECK(*store->TryGet("k") == "again");
  CHECK(*store->TryGet("log") == "ab");
  CHECK(*store->Add("counter", 1) == 8);
  CHECK(*store->NumKeys() == 3);
  CHECK(*Connect(daemon, "other")->TryGet("x") == "1");
  absl::StatusOr<RendezvousStats> stats =
      GetRendezvousStats(Options(daemon, ""));
  REQUIRE(stats.ok());
  CHECK(stats->jobs == 2);
  CHECK(stats->keys == 4);
}

TEST_CASE("tprdzvd --state-dir keeps what TCPStore clients wrote",
          "[state_dir][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  int port = 0;
  {
    Tprdzvd daemon(0, {"--state-dir", dir, "--torch-store-port", "0"},
                   /*torch_store=*/true);
    port = daemon.port();
    testing::TorchStoreClient raw(daemon.torch_port());
    raw.Send(torch_store::MakeRequest(torch_store::Op::kSet, {"/a"}, {"1"}));
    raw.Send(torch_store::MakeRequest(torch_store::Op::kAdd, {"/n"}, {}, 5));
    // ADD's reply comes after the SET before it was applied and committed.
    const int64_t five = 5;
    CHECK(raw.Read(8) == std::string(reinterpret_cast<const char*>(&five), 8));
    daemon.Kill();
  }
  Tprdzvd daemon(port, StateFlags(dir));
  std::unique_ptr<Store> store = Connect(daemon, "torch");
  CHECK(*store->TryGet("/a") == "1");
  CHECK(*store->TryGet("/n") == "5");
}

TEST_CASE("tprdzvd --state-dir keeps idle TTLs: a job still expires",
          "[state_dir][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  // Long enough that the restart below never eats it up; the downtime itself
  // does not count against it.
  const std::vector<std::string> flags = {"--state-dir", dir, "--job-idle-ttl",
                                          "8s"};
  int port = 0;
  {
    Tprdzvd daemon(0, flags);
    port = daemon.port();
    REQUIRE(Connect(daemon, "idle")->Set("k", "v").ok());
    daemon.Kill();
  }
  Tprdzvd daemon(port, flags);
  // Read through the admin stats, which do not refresh the job's idle clock.
  absl::StatusOr<RendezvousStats> stats =
      GetRendezvousStats(Options(daemon, ""));
  REQUIRE(stats.ok());
  REQUIRE(stats->keys == 1);
  CHECK(testing::WaitFor(
      [&] {
        absl::StatusOr<RendezvousStats> now =
            GetRendezvousStats(Options(daemon, ""));
        return now.ok() && now->jobs == 0;
      },
      absl::Seconds(30)));
}

TEST_CASE(
    "tprdzvd --state-dir loses no acknowledged write when SIGKILLed "
    "under load",
    "[state_dir][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  constexpr int kWriters = 4;
  constexpr int kAcksBeforeKill = 400;
  std::vector<int> last_set(kWriters, -1);  // Highest acknowledged Set index.
  std::atomic<int> acked_adds{0};
  std::atomic<int> acks{0};
  int port = 0;
  {
    Tprdzvd daemon(0, StateFlags(dir));
    port = daemon.port();
    std::vector<std::unique_ptr<Store>> stores;
    for (int w = 0; w < kWriters; ++w) stores.push_back(Connect(daemon, "j"));
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0;; ++i) {
          if (!stores[w]
                   ->Set(absl::StrCat(w, "/", i), absl::StrCat("v", i))
                   .ok())
            return;
          last_set[w] = i;
          ++acks;
          if (!stores[w]->Add("adds", 1).ok()) return;
          ++acked_adds;
          ++acks;
        }
      });
    }
    const bool loaded = testing::WaitFor(
        [&] { return acks >= kAcksBeforeKill; }, absl::Seconds(60));
    daemon.Kill();
    for (std::thread& t : writers) t.join();
    REQUIRE(loaded);
  }
  Tprdzvd daemon(port, StateFlags(dir));
  std::unique_ptr<Store> store = Connect(daemon, "j");
  int checked = 0;
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i <= last_set[w]; ++i) {
      absl::StatusOr<std::string> value =
          store->TryGet(absl::StrCat(w, "/", i));
      INFO("writer " << w << " write " << i << ": " << value.status());
      REQUIRE(value.ok());
      REQUIRE(*value == absl::StrCat("v", i));
      ++checked;
    }
  }
  CHECK(checked > 0);
  // Acknowledged Adds all count; an Add in flight at the kill may or may not.
  int64_t adds = 0;
  REQUIRE(absl::SimpleAtoi(*store->TryGet("adds"), &adds));
  CHECK(adds >= acked_adds);
  CHECK(adds <= acked_adds + kWriters);
}

NodeRendezvousOptions TwoNodes() {
  NodeRendezvousOptions options;
  options.run_id = "barrier-run";
  options.min_nodes = 2;
  options.max_nodes = 2;
  options.join_timeout = absl::Seconds(60);
  return options;
}

NodeInfo Node(const std::string& host) {
  NodeInfo node;
  node.host = host;
  node.addr = "127.0.0.1";
  node.nproc = 1;
  return node;
}

TEST_CASE("tprdzvd --state-dir keeps the exit barrier and the closed record",
          "[state_dir][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  int port = 0;
  NodeAssignment second;
  std::string closed;
  {
    Tprdzvd daemon(0, StateFlags(dir));
    port = daemon.port();
    std::unique_ptr<Store> s0 = Connect(daemon, "launcher");
    std::unique_ptr<Store> s1 = Connect(daemon, "launcher");
    NodeRendezvous n0(s0.get(), TwoNodes());
    NodeRendezvous n1(s1.get(), TwoNodes());
    auto master = [] {
      return absl::StatusOr<std::pair<std::string, int>>(
          std::make_pair(std::string("127.0.0.1"), 29500));
    };
    absl::StatusOr<JoinResult> a1;
    std::thread other([&] { a1 = n1.Join(0, Node("b"), master, {}); });
    absl::StatusOr<JoinResult> joined = n0.Join(0, Node("a"), master, {});
    other.join();
    REQUIRE(joined.ok());
    REQUIRE(a1.ok());
    REQUIRE(std::holds_alternative<NodeAssignment>(*joined));
    REQUIRE(std::holds_alternative<NodeAssignment>(*a1));
    second = std::get<NodeAssignment>(*a1);
    absl::StatusOr<std::string> record =
        s0->TryGet(ClosedKey(TwoNodes().run_id, 0));
    REQUIRE(record.ok());
    closed = *record;
    // One node finished before the daemon died.
    REQUIRE(n0.ReportDone(std::get<NodeAssignment>(*joined)).ok());
    daemon.Kill();
  }
  Tprdzvd daemon(port, StateFlags(dir));
  std::unique_ptr<Store> s1 = Connect(daemon, "launcher");
  NodeRendezvous n1(s1.get(), TwoNodes());
  // The attempt is still closed with both nodes: a late node is late.
  CHECK(*s1->TryGet(ClosedKey(TwoNodes().run_id, 0)) == closed);
  CHECK(*n1.CurrentAttempt() == 0);
  CHECK(absl::IsNotFound(n1.TryGetEnd(0).status()));
  // The second arrival completes the barrier at once: the first one's count
  // survived.
  REQUIRE(n1.ReportDone(second).ok());
  absl::StatusOr<AttemptEnd> end = n1.TryGetEnd(0);
  REQUIRE(end.ok());
  CHECK(end->ok());
}

TEST_CASE("tprdzvd --state-dir keeps an attempt's end record",
          "[state_dir][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  int port = 0;
  {
    Tprdzvd daemon(0, StateFlags(dir));
    port = daemon.port();
    std::unique_ptr<Store> store = Connect(daemon, "launcher");
    NodeRendezvous node(store.get(), TwoNodes());
    REQUIRE(node.ReportFailure(0, AttemptEnd::Kind::kFailed, 3,
                               "node a rank 0 exited 3")
                .ok());
    daemon.Kill();
  }
  Tprdzvd daemon(port, StateFlags(dir));
  std::unique_ptr<Store> store = Connect(daemon, "launcher");
  NodeRendezvous node(store.get(), TwoNodes());
  absl::StatusOr<AttemptEnd> end = node.TryGetEnd(0);
  REQUIRE(end.ok());
  CHECK(end->kind == AttemptEnd::Kind::kFailed);
  CHECK(end->exit_code == 3);
  CHECK(end->reason == "node a rank 0 exited 3");
}

TEST_CASE("tprdzvd refuses a state dir another tprdzvd holds",
          "[state_dir][e2e]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  Tprdzvd daemon(0, StateFlags(dir));
  testing::Subprocess second({testing::Runfile("rendezvous/tprdzvd"), "--port",
                              "0", "--state-dir", dir});
  CHECK(second.Wait(kStartTimeout) == 1);
  CHECK(absl::StrContains(second.err(), "in use"));
}

}  // namespace
}  // namespace tplaunch
