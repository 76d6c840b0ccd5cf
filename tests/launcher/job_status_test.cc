// `tplaunch status` over a MemoryStore whose keys are written the way the
// node rendezvous writes them (common/key_layout.h, common/records.h).
#include "launcher/job_status.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/key_layout.h"
#include "common/records.h"
#include "launcher/node_rendezvous.h"
#include "store/memory_store.h"

namespace tplaunch {
namespace {

NodeInfo Node(const std::string& host, const std::string& addr, int nproc) {
  NodeInfo n;
  n.host = host;
  n.addr = addr;
  n.nproc = nproc;
  n.pid = 4321;
  return n;
}

// The closed record of an attempt whose members are `slots` (ids empty, as the
// nodes here have none).
std::string Closed(const std::vector<int>& slots) {
  ClosedRecord c;
  for (int s : slots) c.members.push_back({s, ""});
  return c.Encode();
}

// Joins `node` into `slot` of attempt 1 of run "job", as Join does.
void Join(Store& store, int slot, const NodeInfo& node) {
  REQUIRE(store.Add(JoinCountKey("job", 1), 1).ok());
  REQUIRE(store.Set(NodeKey("job", 1, slot), node.Encode()).ok());
  REQUIRE(store.Set(AttemptCounterKey("job"), "1").ok());
}

TEST_CASE("an unknown run id is NotFound") {
  auto store = NewMemoryStore();
  absl::StatusOr<std::string> text = DescribeJob(store.get(), "nope");
  REQUIRE(absl::IsNotFound(text.status()));
  CHECK_THAT(std::string(text.status().message()), Catch::Contains("'nope'"));
}

TEST_CASE("a closed attempt: nodes by rank, master, heartbeats, the end") {
  auto store = NewMemoryStore();
  // hostB arrived first (slot 0) but hostA sorts first: node rank 0.
  Join(*store, 0, Node("hostB", "10.0.0.2", 4));
  Join(*store, 1, Node("hostA", "10.0.0.1", 2));
  REQUIRE(store->Set(ClosedKey("job", 1), Closed({0, 1})).ok());
  MasterRecord master;
  master.addr = "10.0.0.1";
  master.port = 40001;
  REQUIRE(store->Set(MasterKey("job", 1), master.Encode()).ok());
  NodeRendezvousOptions o;
  o.run_id = "job";
  NodeRendezvous rdzv(store.get(), o);
  REQUIRE(rdzv.Heartbeat(1, 0, 17, HeartbeatState::kDone).ok());

  absl::StatusOr<std::string> text = DescribeJob(store.get(), "job");
  REQUIRE(text.ok());
  INFO(*text);
  CHECK_THAT(*text, Catch::Contains("run id   : job\n"));
  CHECK_THAT(*text, Catch::Contains("attempt  : 1\n"));
  CHECK_THAT(*text, Catch::Contains("state    : rendezvous closed with 2 "
                                    "node(s)\n"));
  CHECK_THAT(*text, Catch::Contains("master   : 10.0.0.1:40001\n"));
  CHECK_THAT(*text, !Catch::Contains("ended"));
  // Slot 0 (hostB) is node 1 with ranks 2..5 and a heartbeat; slot 1 (hostA)
  // is node 0 with ranks 0..1 and none yet.
  CHECK_THAT(*text, Catch::Matches(
                        "(.|\n)*\n1 +hostB +10\\.0\\.0\\.2 +4 +2\\.\\.5 +4321 "
                        "+[0-9.]+s ago \\(done, #17\\)\n(.|\n)*"));
  CHECK_THAT(*text,
             Catch::Matches("(.|\n)*\n0 +hostA +10\\.0\\.0\\.1 +2 +0\\.\\.1 "
                            "+4321 +never\n(.|\n)*"));

  REQUIRE(rdzv.ReportFailure(1, AttemptEnd::Kind::kFailed, 7,
                             "rank 3 exited with 7")
              .ok());
  text = DescribeJob(store.get(), "job");
  REQUIRE(text.ok());
  CHECK_THAT(
      *text,
      Catch::Contains("ended    : failed (exit code 7): rank 3 exited with 7"));
}

TEST_CASE("an open attempt; an unreadable join record still gets a row") {
  auto store = NewMemoryStore();
  Join(*store, 0, Node("hostA", "10.0.0.1", 2));
  REQUIRE(store->Add(JoinCountKey("job", 1), 1).ok());
  REQUIRE(store->Set(NodeKey("job", 1, 1), "garbage").ok());
  MasterRecord failed;
  failed.failure = "cannot reach the TCPStore listener";
  REQUIRE(store->Set(MasterKey("job", 1), failed.Encode()).ok());

  absl::StatusOr<std::string> text = DescribeJob(store.get(), "job");
  REQUIRE(text.ok());
  INFO(*text);
  CHECK_THAT(*text,
             Catch::Contains("state    : rendezvous open, 2 node(s) joined\n"));
  CHECK_THAT(*text, Catch::Contains("master   : node 0 could not prepare the "
                                    "attempt: cannot reach the TCPStore "
                                    "listener\n"));
  CHECK_THAT(*text, Catch::Matches("(.|\n)*\n[0-9?] +hostA +10\\.0\\.0\\.1 "
                                   "+2 (.|\n)*"));
  CHECK_THAT(*text, Catch::Matches("(.|\n)*\n[0-9?] +\\? +\\? +0 (.|\n)*"));
}

TEST_CASE("an open attempt leaves out withdrawn slots and counts them") {
  auto store = NewMemoryStore();
  Join(*store, 0, Node("hostA", "10.0.0.1", 2));
  Join(*store, 1, Node("hostB", "10.0.0.2", 2));
  GoneRecord gone;
  gone.reason = "withdrew: its launcher received a terminating signal";
  REQUIRE(store->Set(GoneKey("job", 1, 0), gone.Encode()).ok());
  absl::StatusOr<std::string> text = DescribeJob(store.get(), "job");
  REQUIRE(text.ok());
  INFO(*text);
  CHECK_THAT(*text, Catch::Contains("state    : rendezvous open, 1 node(s) "
                                    "joined (1 slot(s) left)\n"));
  CHECK_THAT(*text, Catch::Contains("hostB"));
  CHECK_THAT(*text, !Catch::Contains("hostA"));
}

TEST_CASE("the latest attempt is shown, not an earlier one") {
  auto store = NewMemoryStore();
  Join(*store, 0, Node("hostA", "10.0.0.1", 2));
  REQUIRE(store->Set(JoinCountKey("job", 0), "5").ok());
  REQUIRE(store->Set(ClosedKey("job", 0), Closed({0, 1, 2, 3, 4})).ok());
  absl::StatusOr<std::string> text = DescribeJob(store.get(), "job");
  REQUIRE(text.ok());
  CHECK_THAT(*text, Catch::Contains("attempt  : 1\n"));
  CHECK_THAT(*text,
             Catch::Contains("state    : rendezvous open, 1 node(s) joined\n"));
}

}  // namespace
}  // namespace tplaunch
