// Nodes as threads over one MemoryStore. Catch2 assertions stay on the main
// thread.
#include "launcher/node_rendezvous.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <set>
#include <thread>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/key_layout.h"
#include "launcher/liveness_monitor.h"
#include "store/memory_store.h"

namespace tplaunch {
namespace {

NodeInfo Node(const std::string& host, int nproc = 2, int requested = -1) {
  NodeInfo n;
  n.host = host;
  n.addr = absl::StrCat("10.0.0.", host.back() - 'A' + 1);
  n.nproc = nproc;
  n.requested_rank = requested;
  n.pid = 100;
  return n;
}

NodeRendezvousOptions Options(int min_nodes, int max_nodes) {
  NodeRendezvousOptions o;
  o.run_id = "job";
  o.min_nodes = min_nodes;
  o.max_nodes = max_nodes;
  o.join_timeout = absl::Seconds(10);
  o.last_call = absl::Seconds(30);
  return o;
}

NodeRendezvous::MasterReserver Master(int port) {
  return [port]() -> absl::StatusOr<std::pair<std::string, int>> {
    return std::make_pair(std::string("10.0.0.1"), port);
  };
}

// The node's assignment; a LateArrival becomes FailedPrecondition here, so the
// tests of nodes inside the attempt read one StatusOr.
absl::StatusOr<NodeAssignment> Assigned(absl::StatusOr<JoinResult> joined) {
  if (!joined.ok()) return joined.status();
  if (const auto* late = std::get_if<LateArrival>(&*joined)) {
    return absl::FailedPreconditionError(late->Describe());
  }
  return std::get<NodeAssignment>(*std::move(joined));
}

// Joins every node on its own thread; returns the results in node order. The
// nodes reserve the master with `reserver`, by default Master(40000 +
// attempt).
std::vector<absl::StatusOr<NodeAssignment>> JoinAll(
    Store* store, const NodeRendezvousOptions& o,
    const std::vector<NodeInfo>& nodes, int attempt = 0,
    NodeRendezvous::MasterReserver reserver = nullptr) {
  if (!reserver) reserver = Master(40000 + attempt);
  std::vector<std::future<absl::StatusOr<NodeAssignment>>> futures;
  for (const auto& n : nodes) {
    futures.push_back(
        std::async(std::launch::async, [store, o, n, attempt, reserver] {
          NodeRendezvous r(store, o);
          return Assigned(r.Join(attempt, n, reserver, nullptr));
        }));
  }
  std::vector<absl::StatusOr<NodeAssignment>> out;
  for (auto& f : futures) out.push_back(f.get());
  return out;
}

TEST_CASE("three nodes join and get distinct ranks, stable by host") {
  auto store = NewMemoryStore();
  auto results =
      JoinAll(store.get(), Options(3, 3),
              {Node("hostC", 1), Node("hostA", 2), Node("hostB", 4)});
  std::set<int> ranks;
  for (auto& r : results) {
    REQUIRE(r.ok());
    CHECK(r->num_nodes == 3);
    CHECK(r->world_size == 7);
    CHECK(r->master_addr == "10.0.0.1");
    CHECK(r->master_port == 40000);
    ranks.insert(r->node_rank);
  }
  CHECK(ranks == std::set<int>{0, 1, 2});
  // Sorted by host name: A=0 (ranks 0..1), B=1 (2..5), C=2 (6).
  CHECK(results[1]->node_rank == 0);
  CHECK(results[1]->rank_offset == 0);
  CHECK(results[2]->node_rank == 1);
  CHECK(results[2]->rank_offset == 2);
  CHECK(results[0]->node_rank == 2);
  CHECK(results[0]->rank_offset == 6);
  CHECK(results[0]->nodes[0].host == "hostA");
}

TEST_CASE("--node-rank is honoured; conflicts name both nodes") {
  auto store = NewMemoryStore();
  auto ok = JoinAll(store.get(), Options(2, 2),
                    {Node("hostA", 1, 1), Node("hostB", 1)});
  REQUIRE(ok[0].ok());
  REQUIRE(ok[1].ok());
  CHECK(ok[0]->node_rank == 1);
  CHECK(ok[1]->node_rank == 0);

  auto store2 = NewMemoryStore();
  auto bad = JoinAll(store2.get(), Options(2, 2),
                     {Node("hostA", 1, 0), Node("hostB", 1, 0)});
  for (auto& r : bad) {
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK_THAT(std::string(r.status().message()),
               Catch::Contains("both asked for --node-rank 0"));
  }
}

TEST_CASE(
    "MIN:MAX closes at MAX at once, or after the last call once MIN joined") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions at_max = Options(2, 3);
  at_max.last_call = absl::Seconds(60);
  const absl::Time start = absl::Now();
  auto full = JoinAll(store.get(), at_max,
                      {Node("hostA"), Node("hostB"), Node("hostC")});
  for (auto& r : full) {
    REQUIRE(r.ok());
    CHECK(r->num_nodes == 3);
  }
  CHECK(absl::Now() - start < absl::Seconds(5));

  auto store2 = NewMemoryStore();
  NodeRendezvousOptions elastic = Options(2, 4);
  elastic.last_call = absl::Milliseconds(200);
  auto partial = JoinAll(store2.get(), elastic, {Node("hostA"), Node("hostB")});
  for (auto& r : partial) {
    REQUIRE(r.ok());
    CHECK(r->num_nodes == 2);
    CHECK(r->world_size == 4);
  }
  // A node arriving after the close is late.
  NodeRendezvous r(store2.get(), elastic);
  auto late = r.Join(0, Node("hostC"), Master(1), nullptr);
  REQUIRE(late.ok());
  REQUIRE(std::holds_alternative<LateArrival>(*late));
  const LateArrival& l = std::get<LateArrival>(*late);
  CHECK(l.attempt == 0);
  CHECK(l.run_id == "job");
  CHECK(l.closed_with == 2);
  CHECK(l.Describe() == "attempt 0 of run 'job' already closed with 2 node(s)");
}

TEST_CASE("progress names who joined; a timeout says how many are missing") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(3, 3);
  o.join_timeout = absl::Milliseconds(300);
  auto second = std::async(std::launch::async, [&] {
    NodeRendezvous r(store.get(), o);
    return Assigned(r.Join(0, Node("hostB"), Master(1), nullptr));
  });
  NodeRendezvous r(store.get(), o);
  std::vector<std::string> messages;
  auto a =
      Assigned(r.Join(0, Node("hostA"), Master(1),
                      [&](const std::string& m) { messages.push_back(m); }));
  auto b = second.get();
  REQUIRE_FALSE(a.ok());
  CHECK(absl::IsDeadlineExceeded(a.status()));
  const std::string msg(a.status().message());
  CHECK_THAT(msg, Catch::Contains("2 of 3 nodes joined"));
  CHECK_THAT(msg, Catch::Contains("1 missing"));
  CHECK_THAT(msg, Catch::Contains("hostA"));
  CHECK_THAT(msg, Catch::Contains("hostB"));
  REQUIRE_FALSE(messages.empty());
  CHECK_THAT(messages.front(), Catch::StartsWith("waiting for "));
  CHECK_THAT(messages.front(), Catch::Contains("/3 joined: "));
  REQUIRE_FALSE(b.ok());

  auto store2 = NewMemoryStore();
  NodeRendezvousOptions o2 = Options(2, 2);
  o2.join_timeout = absl::Milliseconds(100);
  NodeRendezvous r2(store2.get(), o2);
  std::vector<std::string> m2;
  auto alone = r2.Join(0, Node("hostA"), Master(1),
                       [&](const std::string& m) { m2.push_back(m); });
  REQUIRE_FALSE(m2.empty());
  CHECK(m2.front() == "waiting for 1 more node (1/2 joined: hostA)");
}

TEST_CASE("node 0 failing to prepare the attempt fails the others at once") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(2, 2);
  // Long enough that reaching it would fail the test's own timing check.
  o.join_timeout = absl::Seconds(60);
  NodeRendezvous::MasterReserver broken =
      []() -> absl::StatusOr<std::pair<std::string, int>> {
    return absl::UnavailableError("cannot reach the TCPStore listener");
  };
  const absl::Time start = absl::Now();
  auto results =
      JoinAll(store.get(), o, {Node("hostA"), Node("hostB")}, 0, broken);
  auto& a = results[0];  // hostA sorts first: node 0.
  auto& b = results[1];
  REQUIRE_FALSE(a.ok());
  CHECK(absl::IsUnavailable(a.status()));
  REQUIRE_FALSE(b.ok());
  CHECK(absl::IsFailedPrecondition(b.status()));
  CHECK_THAT(std::string(b.status().message()),
             Catch::Contains("node 0 (hostA") &&
                 Catch::Contains("could not prepare the attempt") &&
                 Catch::Contains("cannot reach the TCPStore listener"));
  CHECK(absl::Now() - start < absl::Seconds(30));
}

TEST_CASE("a new attempt never sees the keys of the previous one") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(2, 2);
  auto first = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")}, 0);
  REQUIRE(first[0].ok());
  NodeRendezvous r(store.get(), o);
  auto end =
      r.ReportFailure(0, AttemptEnd::Kind::kFailed, 7, "rank 1 exited with 7");
  REQUIRE(end.ok());
  CHECK(end->exit_code == 7);
  // A second report does not overwrite the first.
  auto again = r.ReportFailure(0, AttemptEnd::Kind::kStopped, 9, "other");
  CHECK(again->exit_code == 7);
  CHECK(again->kind == AttemptEnd::Kind::kFailed);
  CHECK(*r.CurrentAttempt() == 0);

  auto second = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")}, 1);
  REQUIRE(second[0].ok());
  CHECK(second[0]->attempt == 1);
  CHECK(second[0]->master_port == 40001);
  CHECK(*r.CurrentAttempt() == 1);
  CHECK(absl::IsNotFound(r.TryGetEnd(1).status()));
  CHECK(EndKey("job", 1) == "job/a1/end");
  // Another run id is another namespace.
  NodeRendezvousOptions other = o;
  other.run_id = "job2";
  NodeRendezvous r2(store.get(), other);
  CHECK(*r2.CurrentAttempt() == 0);
}

// Collects a monitor's end on the monitor's thread.
struct EndBox {
  absl::Mutex mu;
  std::optional<AttemptEnd> end;
  absl::Notification done;
  LivenessMonitor::EndCallback Callback() {
    return [this](const AttemptEnd& e) {
      {
        absl::MutexLock lock(&mu);
        end = e;
      }
      done.Notify();
    };
  }
};

TEST_CASE(
    "a node that stops heartbeating is declared dead within the timeout") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(2, 2);
  auto joined = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")});
  REQUIRE(joined[0].ok());
  REQUIRE(joined[1].ok());
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(50);
  lo.timeout = absl::Milliseconds(400);
  EndBox a, b;
  auto ma = std::make_unique<LivenessMonitor>(&r, *joined[0], lo, a.Callback());
  {
    LivenessMonitor mb(&r, *joined[1], lo, b.Callback());
    // Both alive for longer than the timeout: nobody is declared dead.
    CHECK_FALSE(a.done.WaitForNotificationWithTimeout(absl::Milliseconds(700)));
  }  // B stops heartbeating (its launcher died).
  const absl::Time stopped = absl::Now();
  REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  const absl::Duration took = absl::Now() - stopped;
  CHECK(took < absl::Seconds(2));
  absl::MutexLock lock(&a.mu);
  CHECK(a.end->kind == AttemptEnd::Kind::kFailed);
  CHECK_THAT(a.end->reason, Catch::Contains("hostB"));
  CHECK_THAT(a.end->reason, Catch::Contains("stopped heartbeating"));
}

TEST_CASE("a node whose last heartbeat says 'left' is never declared dead") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(2, 2);
  auto joined = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")});
  REQUIRE(joined[0].ok());
  REQUIRE(joined[1].ok());
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(50);
  lo.timeout = absl::Milliseconds(300);
  EndBox a, b;
  LivenessMonitor ma(&r, *joined[0], lo, a.Callback());
  {
    LivenessMonitor mb(&r, *joined[1], lo, b.Callback());
    mb.SetState(HeartbeatState::kLeft);
    mb.HeartbeatNow();
  }  // B exits after success, silent from now on.
  auto hb = store->TryGet(HeartbeatKey("job", 0, joined[1]->slot));
  REQUIRE(hb.ok());
  auto record = HeartbeatRecord::Decode("hb", *hb);
  REQUIRE(record.ok());
  CHECK(record->state == HeartbeatState::kLeft);
  // Well past the heartbeat timeout: still nobody declared dead.
  CHECK_FALSE(a.done.WaitForNotificationWithTimeout(absl::Milliseconds(900)));
}

TEST_CASE("exit barrier: the last node done ends the attempt ok for everyone") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(2, 2);
  auto joined = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")});
  REQUIRE(joined[0].ok());
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(50);
  lo.timeout = absl::Seconds(2);
  EndBox a, b;
  LivenessMonitor ma(&r, *joined[0], lo, a.Callback());
  LivenessMonitor mb(&r, *joined[1], lo, b.Callback());
  REQUIRE(r.ReportDone(*joined[0]).ok());
  CHECK_FALSE(a.done.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  REQUIRE(r.ReportDone(*joined[1]).ok());
  REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  REQUIRE(b.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock la(&a.mu);
  CHECK(a.end->ok());
}

TEST_CASE("a late node below MAX restarts the group as a membership change") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(1, 2);
  o.last_call = absl::Milliseconds(50);
  auto joined = JoinAll(store.get(), o, {Node("hostA")});
  REQUIRE(joined[0].ok());
  CHECK(joined[0]->num_nodes == 1);
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(50);
  lo.timeout = absl::Seconds(5);
  EndBox a;
  LivenessMonitor ma(&r, *joined[0], lo, a.Callback());
  auto late = r.Join(0, Node("hostB"), Master(1), nullptr);
  REQUIRE(late.ok());
  REQUIRE(std::holds_alternative<LateArrival>(*late));
  REQUIRE(r.AddLate(0).ok());
  REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock la(&a.mu);
  CHECK(a.end->kind == AttemptEnd::Kind::kMembershipChange);
  CHECK_THAT(a.end->reason, Catch::Contains("1 node(s) waiting"));
  auto next = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")}, 1);
  REQUIRE(next[0].ok());
  CHECK(next[0]->num_nodes == 2);
}

TEST_CASE("a failure report ends every node's wait at once") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Options(2, 2);
  auto joined = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")});
  REQUIRE(joined[0].ok());
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval =
      absl::Seconds(2);  // Long: the end must not wait for an interval.
  lo.timeout = absl::Seconds(10);
  EndBox a;
  LivenessMonitor ma(&r, *joined[0], lo, a.Callback());
  REQUIRE(r.ReportDone(*joined[0]).ok());
  const absl::Time t = absl::Now();
  REQUIRE(
      r.ReportFailure(0, AttemptEnd::Kind::kFailed, 3, "rank 2 exited").ok());
  REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  CHECK(absl::Now() - t < absl::Seconds(1));
  absl::MutexLock la(&a.mu);
  CHECK(a.end->exit_code == 3);
}

// Everything the store holds is gone, as after a daemon restart without
// --state-dir.
void Wipe(Store& store) {
  auto keys = store.ListKeys("");
  REQUIRE(keys.ok());
  for (const auto& k : *keys) REQUIRE(store.DeleteKey(k).ok());
}

// Options whose joining nodes heartbeat fast, so stale slots show quickly.
NodeRendezvousOptions Fast(int min_nodes, int max_nodes) {
  NodeRendezvousOptions o = Options(min_nodes, max_nodes);
  o.heartbeat_interval = absl::Milliseconds(20);
  o.heartbeat_timeout = absl::Milliseconds(300);
  o.progress_interval = absl::Milliseconds(20);
  return o;
}

// A joiner that died without withdrawing (SIGKILL): slot `slot` of attempt 0
// holds its record and a join heartbeat written at `beat`.
void DeadJoiner(Store& store, int slot, absl::Time beat) {
  REQUIRE(store.Add(JoinCountKey("job", 0), 1).ok());
  NodeInfo dead = Node("hostA");
  dead.id = "dead";
  dead.joined_unix_ms = absl::ToUnixMillis(beat);
  REQUIRE(store.Set(NodeKey("job", 0, slot), dead.Encode()).ok());
  HeartbeatRecord hb;
  hb.unix_ms = absl::ToUnixMillis(beat);
  hb.state = HeartbeatState::kJoin;
  hb.node_id = "dead";
  REQUIRE(store.Set(HeartbeatKey("job", 0, slot), hb.Encode()).ok());
}

// Waits (bounded) until `key` exists.
bool WaitForKey(Store& store, const std::string& key) {
  return store.Wait({key}, absl::Seconds(10)).ok();
}

TEST_CASE("a node interrupted during the join withdraws; fresh nodes join") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Fast(2, 2);
  o.heartbeat_timeout = absl::Seconds(60);  // Only the withdrawal can help.
  o.join_timeout = absl::Seconds(20);
  NodeRendezvous interrupted(store.get(), o);
  auto first = std::async(std::launch::async, [&] {
    return interrupted.Join(0, Node("hostA"), Master(1), nullptr);
  });
  REQUIRE(WaitForKey(*store, HeartbeatKey("job", 0, 0)));
  interrupted.WithdrawPendingJoin("received SIGTERM");
  auto left = first.get();
  REQUIRE(absl::IsCancelled(left.status()));
  CHECK_THAT(std::string(left.status().message()),
             Catch::Contains("received SIGTERM"));
  auto gone = store->TryGet(GoneKey("job", 0, 0));
  REQUIRE(gone.ok());
  CHECK_THAT(GoneRecord::Decode("k", *gone)->reason,
             Catch::Contains("withdrew: received SIGTERM"));

  // A fresh node says why the first slot no longer counts.
  NodeRendezvousOptions alone = o;
  alone.join_timeout = absl::Milliseconds(100);
  NodeRendezvous probe(store.get(), alone);
  std::vector<std::string> messages;
  auto timed_out =
      probe.Join(0, Node("hostD"), Master(1),
                 [&](const std::string& m) { messages.push_back(m); });
  REQUIRE(absl::IsDeadlineExceeded(timed_out.status()));
  REQUIRE_FALSE(messages.empty());
  CHECK_THAT(messages.front(), Catch::StartsWith("slot 0 no longer counts: "
                                                 "withdrew: received SIGTERM"));

  const absl::Time t = absl::Now();
  auto fresh = JoinAll(store.get(), o, {Node("hostB"), Node("hostC")});
  for (auto& r : fresh) {
    REQUIRE(r.ok());
    CHECK(r->num_nodes == 2);
    CHECK(r->nodes[0].host == "hostB");
    CHECK(r->nodes[1].host == "hostC");
  }
  CHECK(std::set<int>(fresh[0]->slot_of_rank.begin(),
                      fresh[0]->slot_of_rank.end()) == std::set<int>{2, 3});
  CHECK(absl::Now() - t < absl::Seconds(10));
}

TEST_CASE("a join that failed withdraws its slot before returning") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Fast(2, 2);
  o.join_timeout = absl::Milliseconds(100);
  NodeRendezvous r(store.get(), o);
  auto timed_out = r.Join(0, Node("hostA"), Master(1), nullptr);
  REQUIRE(absl::IsDeadlineExceeded(timed_out.status()));
  auto gone = store->TryGet(GoneKey("job", 0, 0));
  REQUIRE(gone.ok());
  CHECK_THAT(GoneRecord::Decode("k", *gone)->reason,
             Catch::Contains("withdrew: its join failed: rendezvous of run"));
}

TEST_CASE("a stale slot (SIGKILLed joiner) does not count and is reclaimed") {
  auto store = NewMemoryStore();
  // Died long ago: its heartbeat is older than the timeout.
  DeadJoiner(*store, 0, absl::Now() - absl::Seconds(60));
  NodeRendezvousOptions o = Fast(2, 2);
  auto fresh = JoinAll(store.get(), o, {Node("hostB"), Node("hostC")});
  for (auto& r : fresh) {
    REQUIRE(r.ok());
    CHECK(r->num_nodes == 2);
    CHECK(r->nodes[0].host == "hostB");
  }
  auto gone = store->TryGet(GoneKey("job", 0, 0));
  REQUIRE(gone.ok());
  auto record = GoneRecord::Decode("k", *gone);
  CHECK(record->node_id == "dead");
  CHECK_THAT(record->reason, Catch::Contains("reclaimed by host") &&
                                 Catch::Contains("no heartbeat since"));

  // Died a few beats ago, not yet stale: it shows as joined but is closed in
  // only once seen alive, which never happens.
  auto store2 = NewMemoryStore();
  DeadJoiner(*store2, 0, absl::Now() - absl::Milliseconds(100));
  NodeRendezvousOptions o3 = Fast(3, 3);
  auto later =
      JoinAll(store2.get(), o3, {Node("hostB"), Node("hostC"), Node("hostD")});
  for (auto& r : later) {
    REQUIRE(r.ok());
    CHECK(r->num_nodes == 3);
    // Never seen alive: not a member.
    CHECK(std::set<int>(r->slot_of_rank.begin(), r->slot_of_rank.end()) ==
          std::set<int>{1, 2, 3});
  }
}

TEST_CASE("a join waiting on a silent slot names its node and since when") {
  auto store = NewMemoryStore();
  DeadJoiner(*store, 0, absl::Now());
  NodeRendezvousOptions o = Fast(3, 3);
  o.heartbeat_timeout = absl::Seconds(30);
  o.join_timeout = absl::Milliseconds(400);
  NodeRendezvous r(store.get(), o);
  std::vector<std::string> messages;
  auto joined = r.Join(0, Node("hostB"), Master(1),
                       [&](const std::string& m) { messages.push_back(m); });
  REQUIRE(absl::IsDeadlineExceeded(joined.status()));
  const std::string msg(joined.status().message());
  INFO(msg);
  CHECK_THAT(msg, Catch::Contains("waiting since "));
  CHECK_THAT(msg, Catch::Contains("waiting on slot 0 (hostA (10.0.0.1), pid "
                                  "100): no heartbeat since "));
  CHECK_THAT(msg, Catch::Contains("--heartbeat-timeout 30s"));
  REQUIRE_FALSE(messages.empty());
  CHECK_THAT(messages.back(),
             Catch::StartsWith("waiting for 1 more node (2/3 joined: hostA, "
                               "hostB); waiting on slot 0 (hostA (10.0.0.1), "
                               "pid 100): no heartbeat since "));
}

TEST_CASE(
    "after the store lost its keys a running node re-asserts them: "
    "a node starting later is late, never a second world") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Fast(1, 2);
  o.last_call = absl::Milliseconds(20);
  auto a = JoinAll(store.get(), o, {Node("hostA")});
  REQUIRE(a[0].ok());
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(20);
  lo.timeout = absl::Seconds(30);
  EndBox box;
  LivenessMonitor ma(&r, *a[0], lo, box.Callback());
  Wipe(*store);
  REQUIRE(WaitForKey(*store, ClosedKey("job", 0)));
  CHECK(*r.CurrentAttempt() == 0);
  NodeRendezvous rb(store.get(), o);
  auto b = rb.Join(*rb.CurrentAttempt(), Node("hostB"), Master(1), nullptr);
  REQUIRE(b.ok());
  REQUIRE(std::holds_alternative<LateArrival>(*b));
  CHECK(std::get<LateArrival>(*b).closed_with == 1);
  // Late below MAX: the running node restarts the job with it.
  REQUIRE(rb.AddLate(0).ok());
  REQUIRE(box.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock lock(&box.mu);
  CHECK(box.end->kind == AttemptEnd::Kind::kMembershipChange);
}

TEST_CASE("a node joining before the running node re-asserted is late too") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Fast(1, 2);
  o.last_call = absl::Milliseconds(20);
  auto a = JoinAll(store.get(), o, {Node("hostA")});
  REQUIRE(a[0].ok());
  Wipe(*store);
  // B arrives while A has not noticed yet: it takes A's slot 0.
  NodeRendezvousOptions ob = o;
  ob.last_call = absl::Seconds(20);  // Never reached: A re-asserts first.
  NodeRendezvous rb(store.get(), ob);
  std::vector<std::string> messages;
  absl::Mutex mu;
  auto b = std::async(std::launch::async, [&] {
    return rb.Join(0, Node("hostB"), Master(1), [&](const std::string& m) {
      absl::MutexLock lock(&mu);
      messages.push_back(m);
    });
  });
  REQUIRE(WaitForKey(*store, HeartbeatKey("job", 0, 0)));
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(20);
  lo.timeout = absl::Seconds(30);
  EndBox box;
  LivenessMonitor ma(&r, *a[0], lo, box.Callback());
  const absl::Time t = absl::Now();
  auto joined = b.get();
  REQUIRE(joined.ok());
  REQUIRE(std::holds_alternative<LateArrival>(*joined));
  CHECK(absl::Now() - t < absl::Seconds(10));
  // A's world is intact: no end while it runs.
  CHECK_FALSE(box.done.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
}

TEST_CASE("two worlds that closed the same attempt restart together") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Fast(1, 2);
  o.last_call = absl::Milliseconds(20);
  auto a = JoinAll(store.get(), o, {Node("hostA")});
  REQUIRE(a[0].ok());
  Wipe(*store);
  // B closes its own attempt 0 before A notices.
  auto b = JoinAll(store.get(), o, {Node("hostB")});
  REQUIRE(b[0].ok());
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(20);
  lo.timeout = absl::Seconds(30);
  EndBox ea, eb;
  LivenessMonitor mb(&r, *b[0], lo, eb.Callback());
  LivenessMonitor ma(&r, *a[0], lo, ea.Callback());
  REQUIRE(ea.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  REQUIRE(eb.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock la(&ea.mu);
  absl::MutexLock lb(&eb.mu);
  CHECK(ea.end->kind == AttemptEnd::Kind::kMembershipChange);
  CHECK(eb.end->kind == AttemptEnd::Kind::kMembershipChange);
  CHECK_THAT(ea.end->reason, Catch::Contains("closed twice"));
}

TEST_CASE("the exit barrier completes after the store lost its keys") {
  auto store = NewMemoryStore();
  NodeRendezvousOptions o = Fast(2, 2);
  auto joined = JoinAll(store.get(), o, {Node("hostA"), Node("hostB")});
  REQUIRE(joined[0].ok());
  REQUIRE(joined[1].ok());
  NodeRendezvous r(store.get(), o);
  LivenessOptions lo;
  lo.interval = absl::Milliseconds(20);
  lo.timeout = absl::Seconds(30);
  EndBox a, b;
  LivenessMonitor ma(&r, *joined[0], lo, a.Callback());
  LivenessMonitor mb(&r, *joined[1], lo, b.Callback());
  ma.SetState(HeartbeatState::kDone);
  REQUIRE(r.ReportDone(*joined[0]).ok());
  Wipe(*store);  // A's arrival is lost.
  mb.SetState(HeartbeatState::kDone);
  REQUIRE(r.ReportDone(*joined[1]).ok());
  REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  REQUIRE(b.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock la(&a.mu);
  CHECK(a.end->ok());
}

}  // namespace
}  // namespace tplaunch
