// How the nodes of a self-hosted job leave it: the pure MemberWatch with
// explicit times, and FindFinalAttempt / ReportLeft / WaitForMembersToLeave
// over a MemoryStore holding the records a real rendezvous writes.
#include "launcher/topology/job_leave.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/key_layout.h"
#include "store/memory_store.h"

namespace tplaunch {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

std::string Beat(int64_t seq, HeartbeatState state, const std::string& id) {
  HeartbeatRecord hb;
  hb.seq = seq;
  hb.state = state;
  hb.node_id = id;
  return hb.Encode();
}

std::vector<ClosedRecord::Member> Members(int n) {
  std::vector<ClosedRecord::Member> out;
  for (int i = 0; i < n; ++i) {
    ClosedRecord::Member m;
    m.slot = i;
    m.id = absl::StrCat("id", i);
    out.push_back(m);
  }
  return out;
}

TEST_CASE(
    "a member is there until it left, its slot is gone, or it is silent") {
  MemberWatch watch(Members(3), kT0, absl::Seconds(5));
  CHECK(watch.Remaining(kT0) == std::vector<int>{0, 1, 2});
  const absl::Time t1 = kT0 + absl::Seconds(1);
  watch.Observe(0, Beat(7, HeartbeatState::kLeft, "id0"), false, t1);
  watch.Observe(1, Beat(7, HeartbeatState::kRun, "id1"), true, t1);
  watch.Observe(2, Beat(7, HeartbeatState::kRun, "id2"), false, t1);
  CHECK(watch.Remaining(t1) == std::vector<int>{2});
  // Beating: still there; then silent for the whole timeout: gone.
  const absl::Time t2 = kT0 + absl::Seconds(4);
  watch.Observe(2, Beat(8, HeartbeatState::kDone, "id2"), false, t2);
  CHECK(watch.Remaining(t2 + absl::Seconds(4)) == std::vector<int>{2});
  watch.Observe(2, Beat(8, HeartbeatState::kDone, "id2"), false,
                t2 + absl::Seconds(4));
  CHECK(watch.Remaining(t2 + absl::Seconds(5)).empty());
}

TEST_CASE("a `left` beat of another node in the slot does not count") {
  MemberWatch watch(Members(1), kT0, absl::Seconds(5));
  watch.Observe(0, Beat(9, HeartbeatState::kLeft, "someone-else"), false,
                kT0 + absl::Seconds(1));
  CHECK(watch.Remaining(kT0 + absl::Seconds(2)) == std::vector<int>{0});
}

// The keys of attempt `attempt` of run "r", closed with `n` nodes; node i is
// on host "h", address 10.0.0.i, pid 100+i.
void Closed(Store& store, int attempt, int n, bool ended) {
  REQUIRE(store.Set(AttemptCounterKey("r"), absl::StrCat(attempt)).ok());
  ClosedRecord closed;
  closed.members = Members(n);
  REQUIRE(store.Set(ClosedKey("r", attempt), closed.Encode()).ok());
  for (int i = 0; i < n; ++i) {
    NodeInfo info;
    info.host = "h";
    info.addr = absl::StrCat("10.0.0.", i);
    info.pid = 100 + i;
    info.id = absl::StrCat("id", i);
    REQUIRE(store.Set(NodeKey("r", attempt, i), info.Encode()).ok());
    REQUIRE(store
                .Set(HeartbeatKey("r", attempt, i),
                     Beat(3, HeartbeatState::kRun, info.id))
                .ok());
  }
  if (ended) {
    AttemptEnd end;
    end.kind = AttemptEnd::Kind::kFailed;
    end.exit_code = 3;
    REQUIRE(store.Set(EndKey("r", attempt), end.Encode()).ok());
  }
}

LeaveOptions Node(int i) {
  LeaveOptions o;
  o.run_id = "r";
  o.host = "h";
  o.addr = absl::StrCat("10.0.0.", i);
  o.pid = 100 + i;
  o.heartbeat_timeout = absl::Seconds(30);
  o.poll_interval = absl::Milliseconds(5);
  o.linger_timeout = absl::Seconds(30);
  return o;
}

TEST_CASE("a node finds its slot in the last attempt and reports `left`") {
  auto store = NewMemoryStore();
  Closed(*store, 2, 2, true);
  auto final = FindFinalAttempt(*store, Node(1));
  REQUIRE(final.ok());
  REQUIRE(final->has_value());
  CHECK((*final)->attempt == 2);
  CHECK((*final)->ended);
  REQUIRE((*final)->self.has_value());
  CHECK((*final)->self->slot == 1);
  REQUIRE(ReportLeft(*store, Node(1), **final).ok());
  auto hb = store->TryGet(HeartbeatKey("r", 2, 1));
  REQUIRE(hb.ok());
  auto record = HeartbeatRecord::Decode("hb", *hb);
  REQUIRE(record.ok());
  CHECK(record->state == HeartbeatState::kLeft);
  CHECK(record->node_id == "id1");
  CHECK(record->seq == 4);  // After the monitor's last beat.
}

TEST_CASE("no `left` without an end record: silence must declare the node") {
  auto store = NewMemoryStore();
  Closed(*store, 0, 2, false);
  auto final = FindFinalAttempt(*store, Node(1));
  REQUIRE(final.ok());
  REQUIRE(final->has_value());
  CHECK_FALSE((*final)->ended);
  const std::string before = *store->TryGet(HeartbeatKey("r", 0, 1));
  REQUIRE(ReportLeft(*store, Node(1), **final).ok());
  CHECK(*store->TryGet(HeartbeatKey("r", 0, 1)) == before);
}

TEST_CASE("a late node entered the next attempt: the closed one is found") {
  auto store = NewMemoryStore();
  Closed(*store, 4, 2, true);
  REQUIRE(store->Set(AttemptCounterKey("r"), "5").ok());
  auto final = FindFinalAttempt(*store, Node(0));
  REQUIRE(final.ok());
  REQUIRE(final->has_value());
  CHECK((*final)->attempt == 4);
  REQUIRE((*final)->self.has_value());
  CHECK((*final)->self->slot == 0);
  // A stranger is no member, but still sees the attempt.
  LeaveOptions stranger = Node(0);
  stranger.pid = 999;
  auto other = FindFinalAttempt(*store, stranger);
  REQUIRE(other.ok());
  REQUIRE(other->has_value());
  CHECK_FALSE((*other)->self.has_value());
}

TEST_CASE("no attempt closed: nothing to wait for") {
  auto store = NewMemoryStore();
  auto final = FindFinalAttempt(*store, Node(0));
  REQUIRE(final.ok());
  CHECK_FALSE(final->has_value());
}

TEST_CASE("the host waits until the other members reported `left`") {
  auto store = NewMemoryStore();
  Closed(*store, 1, 3, true);
  auto final = FindFinalAttempt(*store, Node(0));
  REQUIRE(final.ok());
  REQUIRE(final->has_value());
  absl::StatusOr<LingerOutcome> out;
  std::thread host(
      [&] { out = WaitForMembersToLeave(*store, Node(0), **final); });
  for (int i : {1, 2}) {
    auto mine = FindFinalAttempt(*store, Node(i));
    REQUIRE(mine.ok());
    REQUIRE(ReportLeft(*store, Node(i), **mine).ok());
  }
  host.join();
  REQUIRE(out.ok());
  CHECK(out->waited_for == 2);
  CHECK(out->still_there.empty());
}

TEST_CASE("the host gives up at its linger timeout, naming who is left") {
  auto store = NewMemoryStore();
  Closed(*store, 0, 2, true);
  auto final = FindFinalAttempt(*store, Node(0));
  REQUIRE(final.ok());
  LeaveOptions o = Node(0);
  o.linger_timeout = absl::Milliseconds(50);
  auto out = WaitForMembersToLeave(*store, o, **final);
  REQUIRE(out.ok());
  CHECK(out->still_there == std::vector<int>{1});
  CHECK(out->waited >= absl::Milliseconds(50));
}

TEST_CASE(
    "a member silent for the heartbeat timeout no longer holds the host") {
  auto store = NewMemoryStore();
  Closed(*store, 0, 2, true);
  auto final = FindFinalAttempt(*store, Node(0));
  REQUIRE(final.ok());
  LeaveOptions o = Node(0);
  o.heartbeat_timeout = absl::Milliseconds(50);
  auto out = WaitForMembersToLeave(*store, o, **final);
  REQUIRE(out.ok());
  CHECK(out->still_there.empty());
}

}  // namespace
}  // namespace tplaunch
