// Every record round-trips, keeps awkward bytes intact, and rejects malformed
// values with InvalidArgument naming the record kind and the key.
#include "common/records.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace tplaunch {
namespace {

// Checks that `status` is InvalidArgument naming `kind` and `key`.
void CheckMalformed(const absl::Status& status, const std::string& kind,
                    const std::string& key) {
  INFO(status.ToString());
  CHECK(absl::IsInvalidArgument(status));
  CHECK_THAT(std::string(status.message()),
             Catch::Contains("malformed " + kind + " record") &&
                 Catch::Contains("'" + key + "'"));
}

// Awkward text: separators, escapes, newlines, quotes and a NUL byte.
const std::string kAwkward =
    std::string("a\tb c\\n\n\"q'\x01", 12) + '\0' + "z";

TEST_CASE("NodeInfo round-trips and labels itself") {
  NodeInfo n;
  n.host = "hostA";
  n.addr = "10.0.0.1";
  n.nproc = 3;
  n.requested_rank = 1;
  n.pid = 1234567890123;
  absl::StatusOr<NodeInfo> d = NodeInfo::Decode("k", n.Encode());
  REQUIRE(d.ok());
  CHECK(d->host == "hostA");
  CHECK(d->addr == "10.0.0.1");
  CHECK(d->nproc == 3);
  CHECK(d->requested_rank == 1);
  CHECK(d->pid == 1234567890123);
  CHECK(d->Label() == "hostA (10.0.0.1)");

  n.host = kAwkward;
  n.requested_rank = -1;
  d = NodeInfo::Decode("k", n.Encode());
  REQUIRE(d.ok());
  CHECK(d->host == kAwkward);
  CHECK(d->requested_rank == -1);
}

TEST_CASE("a join record carries the node's id and join time") {
  NodeInfo n;
  n.host = "hostA";
  n.id = "0123456789abcdef";
  n.joined_unix_ms = 1700000000123;
  absl::StatusOr<NodeInfo> d = NodeInfo::Decode("k", n.Encode());
  REQUIRE(d.ok());
  CHECK(d->id == "0123456789abcdef");
  CHECK(d->joined_unix_ms == 1700000000123);
}

TEST_CASE(
    "gone and closed records round-trip; closed membership is (slot, id)") {
  GoneRecord g;
  g.node_id = "abc";
  g.reason = kAwkward;
  absl::StatusOr<GoneRecord> gd = GoneRecord::Decode("k", g.Encode());
  REQUIRE(gd.ok());
  CHECK(gd->node_id == "abc");
  CHECK(gd->reason == kAwkward);

  ClosedRecord c;
  c.members = {{0, "a"}, {3, kAwkward}};
  absl::StatusOr<ClosedRecord> cd = ClosedRecord::Decode("k", c.Encode());
  REQUIRE(cd.ok());
  REQUIRE(cd->members.size() == 2);
  CHECK(cd->members[1].slot == 3);
  CHECK(cd->members[1].id == kAwkward);
  CHECK(cd->Contains(0, "a"));
  CHECK_FALSE(cd->Contains(0, "b"));  // Same slot, another world's node.
  CHECK_FALSE(cd->Contains(1, "a"));
  for (const std::string& bad :
       {std::string("2"), std::string("closed/v1"), std::string("closed/v1\t0"),
        std::string("closed/v1\tx\ta")}) {
    INFO("'" << bad << "'");
    CheckMalformed(ClosedRecord::Decode("job/a0/closed", bad).status(),
                   "closed", "job/a0/closed");
  }
}

TEST_CASE("attempt ends round-trip, every kind") {
  for (auto kind :
       {AttemptEnd::Kind::kOk, AttemptEnd::Kind::kFailed,
        AttemptEnd::Kind::kStopped, AttemptEnd::Kind::kMembershipChange}) {
    AttemptEnd e;
    e.kind = kind;
    e.exit_code = 139;
    e.reason = "rank 3 died: a reason with spaces";
    absl::StatusOr<AttemptEnd> d = AttemptEnd::Decode("job/a0/end", e.Encode());
    REQUIRE(d.ok());
    CHECK(d->kind == kind);
    CHECK(d->ok() == (kind == AttemptEnd::Kind::kOk));
    CHECK(d->exit_code == 139);
    CHECK(d->reason == e.reason);
  }
  AttemptEnd e;
  e.reason = kAwkward;
  absl::StatusOr<AttemptEnd> d = AttemptEnd::Decode("k", e.Encode());
  REQUIRE(d.ok());
  CHECK(d->reason == kAwkward);
  CHECK(d->kind == AttemptEnd::Kind::kFailed);
}

TEST_CASE("master records: an address, or node 0's failure") {
  MasterRecord m;
  m.addr = "::1";
  m.port = 29500;
  absl::StatusOr<MasterRecord> d = MasterRecord::Decode("k", m.Encode());
  REQUIRE(d.ok());
  CHECK_FALSE(d->failure.has_value());
  CHECK(d->addr == "::1");
  CHECK(d->port == 29500);

  MasterRecord failed;
  failed.failure = "cannot reach the TCPStore listener\n" + kAwkward;
  d = MasterRecord::Decode("k", failed.Encode());
  REQUIRE(d.ok());
  REQUIRE(d->failure.has_value());
  CHECK(*d->failure == *failed.failure);

  // An empty reason is still a failure.
  failed.failure = "";
  d = MasterRecord::Decode("k", failed.Encode());
  REQUIRE(d.ok());
  CHECK(d->failure == std::optional<std::string>(""));
}

TEST_CASE("heartbeats round-trip each state; state names are stable") {
  for (auto state : {HeartbeatState::kJoin, HeartbeatState::kRun,
                     HeartbeatState::kDone, HeartbeatState::kLeft}) {
    HeartbeatRecord hb;
    hb.node_id = "n1";
    hb.seq = 42;
    hb.unix_ms = 1700000000123;
    hb.state = state;
    absl::StatusOr<HeartbeatRecord> d =
        HeartbeatRecord::Decode("k", hb.Encode());
    REQUIRE(d.ok());
    CHECK(d->seq == 42);
    CHECK(d->unix_ms == 1700000000123);
    CHECK(d->state == state);
    CHECK(d->node_id == "n1");
    CHECK(ParseHeartbeatState(HeartbeatStateName(state)) == state);
  }
  CHECK(HeartbeatStateName(HeartbeatState::kJoin) == "join");
  CHECK(HeartbeatStateName(HeartbeatState::kRun) == "run");
  CHECK(HeartbeatStateName(HeartbeatState::kDone) == "done");
  CHECK(HeartbeatStateName(HeartbeatState::kLeft) == "left");
  CHECK_FALSE(ParseHeartbeatState("gone").has_value());
}

TEST_CASE("member records round-trip") {
  MemberRecord m;
  m.rank = 7;
  m.world_size = 8;
  m.backend = "gloo";
  m.host = kAwkward;
  m.pid = 4242;
  absl::StatusOr<MemberRecord> d = MemberRecord::Decode("k", m.Encode());
  REQUIRE(d.ok());
  CHECK(d->rank == 7);
  CHECK(d->world_size == 8);
  CHECK(d->backend == "gloo");
  CHECK(d->host == kAwkward);
  CHECK(d->pid == 4242);
}

TEST_CASE("malformed values name the record kind and the key") {
  const std::string key = "job/a0/node/1";
  for (const std::string& bad :
       {std::string("garbage"), std::string(""),
        std::string("node/v1\th\ta\t1\t-1\t1"),     // another version
        std::string("node/v1\th\ta\t1\t-1"),        // a field short
        std::string("node/v1\th\ta\t1\t-1\t1\tx"),  // a field over
        std::string("node/v1\th\ta\tone\t-1\t1"),   // not a number
        std::string("node/v1\th\\\ta\t1\t-1\t1"),   // a dangling escape
        std::string("v1\thost\taddr\t1\t-1\t1")}) {
    INFO("'" << bad << "'");
    CheckMalformed(NodeInfo::Decode(key, bad).status(), "join", key);
  }
  for (const std::string& bad :
       {std::string("ok"), std::string("fail 1 reason"),
        std::string("end/v1\tcrash\t1\tr"), std::string("end/v1\tfail\tx\tr"),
        std::string("end/v1\tfail\t1")}) {
    INFO("'" << bad << "'");
    CheckMalformed(AttemptEnd::Decode("job/a0/end", bad).status(),
                   "attempt end", "job/a0/end");
  }
  for (const std::string& bad :
       {std::string("10.0.0.1 29500"), std::string("!reason"),
        std::string("master/v1\tok\t10.0.0.1"),
        std::string("master/v1\tok\t10.0.0.1\tport"),
        std::string("master/v1\tfail"), std::string("master/v1\tmaybe\tx"),
        std::string("master/v1")}) {
    INFO("'" << bad << "'");
    CheckMalformed(MasterRecord::Decode("job/a0/master", bad).status(),
                   "master", "job/a0/master");
  }
  for (const std::string& bad :
       {std::string("1 1700000000000 run"), std::string("hb/v1\t1\t2\tgone"),
        std::string("hb/v1\tx\t2\trun"), std::string("hb/v1\t1\t2")}) {
    INFO("'" << bad << "'");
    CheckMalformed(HeartbeatRecord::Decode("job/a0/hb/0", bad).status(),
                   "heartbeat", "job/a0/hb/0");
  }
  for (const std::string& bad :
       {std::string("rank=0\nworld_size=2\nbackend=gloo"),
        std::string("member/v1\t0\t2\tgloo\th"),
        std::string("member/v1\tzero\t2\tgloo\th\t1")}) {
    INFO("'" << bad << "'");
    CheckMalformed(MemberRecord::Decode("join/0", bad).status(), "group member",
                   "join/0");
  }
}

TEST_CASE("a huge malformed value is cut short in the message") {
  const std::string huge(1 << 20, 'x');
  absl::Status s = NodeInfo::Decode("k", huge).status();
  REQUIRE(absl::IsInvalidArgument(s));
  CHECK(s.message().size() < 1000);
  CHECK_THAT(std::string(s.message()), Catch::Contains("...'"));
}

}  // namespace
}  // namespace tplaunch
