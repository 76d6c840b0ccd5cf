// job_view over a real KvTable holding the keys the launchers write
// (common/key_layout.h, common/records.h), with a waiter really parked.
#include "rendezvous/http/job_view.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/key_layout.h"
#include "common/records.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

constexpr char kRun[] = "run7";
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

NodeInfo Node(const std::string& host, int nproc, int64_t pid) {
  NodeInfo n;
  n.host = host;
  n.addr = absl::StrCat("10.0.0.", pid);
  n.nproc = nproc;
  n.pid = pid;
  n.id = absl::StrCat("id-", host);
  n.joined_unix_ms = absl::ToUnixMillis(kNow - absl::Seconds(20));
  return n;
}

void Join(KvTable& table, int slot, const NodeInfo& node) {
  REQUIRE(table.Set(kRun, AttemptCounterKey(kRun), "0").ok());
  REQUIRE(table.Add(kRun, JoinCountKey(kRun, 0), 1).ok());
  REQUIRE(table.Set(kRun, NodeKey(kRun, 0, slot), node.Encode()).ok());
  HeartbeatRecord hb;
  hb.seq = 3;
  hb.unix_ms = absl::ToUnixMillis(kNow - absl::Seconds(2));
  hb.node_id = node.id;
  REQUIRE(table.Set(kRun, HeartbeatKey(kRun, 0, slot), hb.Encode()).ok());
}

TEST_CASE("a job waiting for nodes, then running, then failed") {
  KvTable table;
  // Unrequested ranks follow host order: slot 0 (hostB) gets
  // node rank 1 and its workers ranks 4..5 after hostA's 0..3.
  Join(table, 0, Node("hostB", 2, 1));
  std::optional<rendezvous::v1::LiveJob> job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  CHECK(job->state() == "waiting");
  CHECK(job->nodes_joined() == 1);
  CHECK(job->age_s() == Approx(20));
  REQUIRE(job->nodes_size() == 1);
  CHECK(job->nodes(0).heartbeat_age_s() == Approx(2));
  CHECK(job->missing_slots_size() == 0);
  // The joined node waits for the next slot's join record: slot 1 is missing.
  auto parked = table.StartWait(
      kRun, {NodeKey(kRun, 0, 1)}, absl::Seconds(60),
      /*want_values=*/false, [](absl::StatusOr<std::vector<std::string>>) {});
  REQUIRE(parked.ok());
  job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  REQUIRE(job->missing_slots_size() == 1);
  CHECK(job->missing_slots(0) == 1);

  Join(table, 1, Node("hostA", 4, 2));
  ClosedRecord closed;
  closed.members = {{0, "id-hostB"}, {1, "id-hostA"}};
  REQUIRE(table.Set(kRun, ClosedKey(kRun, 0), closed.Encode()).ok());
  job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  CHECK(job->state() == "running");
  CHECK(job->missing_slots_size() == 0);  // Slot 1 joined; its waiter woke.
  CHECK(job->nodes_expected() == 2);
  REQUIRE(job->nodes_size() == 2);
  CHECK(job->nodes(0).host() == "hostB");
  CHECK(job->nodes(0).node_rank() == 1);
  CHECK(job->nodes(0).first_rank() == 4);
  CHECK(job->nodes(0).last_rank() == 5);
  CHECK(job->nodes(1).node_rank() == 0);
  CHECK(job->nodes(1).first_rank() == 0);
  CHECK(job->nodes(1).last_rank() == 3);
  CHECK(job->nodes(1).launcher_pid() == 2);

  AttemptEnd end;
  end.kind = AttemptEnd::Kind::kFailed;
  end.exit_code = 3;
  end.reason = "node 1 (hostB) rank 5 exited with code 3";
  REQUIRE(table.Set(kRun, EndKey(kRun, 0), end.Encode()).ok());
  job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  CHECK(job->state() == "ended_failed");
  CHECK(job->root_cause().exit_code() == 3);
  CHECK(job->root_cause().reason() == end.reason);
  REQUIRE(job->history_size() == 1);
}

TEST_CASE("who waits: the callers' labels, ranks as ranges") {
  KvTable table;
  std::vector<WaiterId> ids;
  for (const char* label : {"rank 2", "rank 0", "rank 1", "rank 7", "node 1",
                            "node 1", "", "rank 1"}) {
    auto start = table.StartWait(
        kRun, {"nccl/id/0"}, absl::Seconds(60),
        /*want_values=*/false, [](absl::StatusOr<std::vector<std::string>>) {});
    REQUIRE(start.ok());
    REQUIRE_FALSE(start->ready);
    if (*label != '\0') table.LabelWaiter(start->id, label);
    ids.push_back(start->id);
  }
  std::optional<rendezvous::v1::LiveJob> job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  REQUIRE(job->parked_size() == 1);
  CHECK(job->parked(0).waiters() == 8);
  CHECK(job->parked(0).labelled() == 7);
  CHECK(job->parked(0).who() == "ranks 0-2, 7, node 1 x2");
  // A completed waiter's label is gone with it; labelling it is a no-op.
  for (WaiterId id : ids) CHECK(table.CancelWaiter(id));
  table.LabelWaiter(ids[0], "rank 9");
  CHECK_FALSE(BuildJob(table, kRun, kNow).has_value());
  table.Shutdown();
}

TEST_CASE("the expected nodes and the last-call countdown") {
  KvTable table;
  // Nodes of --nnodes 2:4 --rdzv-last-call 30s: the second (MIN-th) node
  // joined 10 s before kNow, so 20 s of the last call are left.
  REQUIRE(table.Set(kRun, ExpectKey(kRun, 0), "2 4 30000").ok());
  Join(table, 0, Node("hostA", 1, 1));
  std::optional<rendezvous::v1::LiveJob> job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  CHECK(job->min_nodes() == 2);
  CHECK(job->max_nodes() == 4);
  CHECK(job->last_call_s() == Approx(30));
  CHECK(job->last_call_remaining_s() == -1);  // Fewer than MIN joined.
  NodeInfo second = Node("hostB", 1, 2);
  second.joined_unix_ms = absl::ToUnixMillis(kNow - absl::Seconds(10));
  Join(table, 1, second);
  job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  CHECK(job->state() == "waiting");
  CHECK(job->nodes_joined() == 2);
  CHECK(job->last_call_remaining_s() == Approx(20));
  // Past it (nodes still closing): 0, never negative.
  job = BuildJob(table, kRun, kNow + absl::Seconds(25));
  CHECK(job->last_call_remaining_s() == 0);
  // Closed: no countdown.
  ClosedRecord closed;
  closed.members = {{0, "id-hostA"}, {1, "id-hostB"}};
  REQUIRE(table.Set(kRun, ClosedKey(kRun, 0), closed.Encode()).ok());
  job = BuildJob(table, kRun, kNow);
  CHECK(job->last_call_remaining_s() == -1);
  CHECK(job->max_nodes() == 4);
}

TEST_CASE("an unreadable or absent expect record leaves the counts at 0") {
  KvTable table;
  Join(table, 0, Node("hostA", 1, 1));
  std::optional<rendezvous::v1::LiveJob> job = BuildJob(table, kRun, kNow);
  REQUIRE(job.has_value());
  CHECK(job->max_nodes() == 0);
  REQUIRE(table.Set(kRun, ExpectKey(kRun, 0), "3 2 x").ok());
  job = BuildJob(table, kRun, kNow);
  CHECK(job->max_nodes() == 0);
  CHECK(job->last_call_remaining_s() == -1);
}

TEST_CASE("parked calls are grouped by key, with sizes but never values") {
  KvTable table;
  REQUIRE(table.Set(kRun, "secret", "the-nccl-id-bytes").ok());
  int completions = 0;
  for (int i = 0; i < 3; ++i) {
    auto start = table.StartWait(
        kRun, {"nccl/id/0"}, absl::Seconds(60), /*want_values=*/true,
        [&completions](absl::StatusOr<std::vector<std::string>>) {
          ++completions;
        });
    REQUIRE(start.ok());
    REQUIRE_FALSE(start->ready);
  }
  rendezvous::v1::LiveJobList list = BuildJobList(table, absl::Now());
  REQUIRE(list.jobs_size() == 1);
  const auto& job = list.jobs(0);
  CHECK(job.state() == "store_only");
  CHECK(job.keys() == 1);
  CHECK(job.bytes() == 6 + 17);
  CHECK(job.parked_calls() == 3);
  REQUIRE(job.parked_size() == 1);
  CHECK(job.parked(0).key() == "nccl/id/0");
  CHECK(job.parked(0).waiters() == 3);
  CHECK(job.parked(0).oldest_wait_s() >= 0);
  CHECK(job.DebugString().find("the-nccl-id-bytes") == std::string::npos);
  CHECK(job.parked(0).who().empty());  // Nobody named itself.
  // An unknown run id has no view (the API answers 404).
  CHECK_FALSE(BuildJob(table, "no-such-run", kNow).has_value());
  table.Shutdown();
  CHECK(completions == 3);
}

}  // namespace
}  // namespace tplaunch
