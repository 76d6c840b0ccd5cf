// node_rendezvous: how the launchers of one job meet through a Store.
//
// Knows stores, not processes. Every key lives under "<run_id>/a<attempt>/", so
// a new attempt never reads the keys of an earlier one; the keys are
// common/key_layout.h's and their values common/records.h's (the table is in
// docs/launcher.md#rendezvous-and-key-layout).
//
// Thread-safe (all state is in the Store).
#ifndef TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_
#define TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "store/store.h"

namespace tplaunch {

// The result of a completed rendezvous, from one node's point of view.
struct NodeAssignment {
  int attempt = 0;
  int slot = 0;                   // Arrival order; heartbeat keys use it.
  int node_rank = 0;              // GROUP_RANK.
  int num_nodes = 1;              // GROUP_WORLD_SIZE.
  std::vector<NodeInfo> nodes;    // Indexed by node rank.
  std::vector<int> slot_of_rank;  // Indexed by node rank.
  int rank_offset = 0;            // Global rank of this node's local rank 0.
  int world_size = 1;
  std::string master_addr;
  int master_port = 0;
};

// A node that arrived after the attempt closed. Not an error: the node asks
// the running nodes for a new attempt (AddLate) and waits for this one to end.
struct LateArrival {
  int attempt = 0;
  std::string run_id;
  int closed_with = 0;  // Nodes the attempt closed with.

  // "attempt 3 of run 'job' already closed with 2 node(s)"
  std::string Describe() const;
};

// What Join gives a node: its place in the attempt, or that it came too late.
using JoinResult = std::variant<NodeAssignment, LateArrival>;

struct NodeRendezvousOptions {
  // The job's run id; every key starts with it.
  std::string run_id;
  // Participants: done at max_nodes, or `last_call` after min_nodes joined.
  int min_nodes = 1;
  int max_nodes = 1;
  // Bound on the whole Join.
  absl::Duration join_timeout = absl::Seconds(600);
  absl::Duration last_call = absl::Seconds(30);
  // How often Join reports progress while waiting.
  absl::Duration progress_interval = absl::Seconds(5);
};

// Ranks for the joined nodes (index = slot): requested ranks are kept, the
// others fill the free ranks in (host, addr, pid) order, so a restart with the
// same nodes yields the same ranks. InvalidArgument names conflicting or
// out-of-range requests.
absl::StatusOr<std::vector<int>> AssignNodeRanks(
    const std::vector<NodeInfo>& joined);

class NodeRendezvous {
 public:
  // Node 0 calls this to choose MASTER_ADDR/MASTER_PORT for the attempt.
  using MasterReserver =
      std::function<absl::StatusOr<std::pair<std::string, int>>()>;
  using ProgressCallback = std::function<void(const std::string&)>;

  // `store` must outlive this object.
  NodeRendezvous(Store* store, NodeRendezvousOptions options);

  const NodeRendezvousOptions& options() const { return options_; }

  // The attempt a launcher starting now should join: the highest one entered,
  // or 0.
  absl::StatusOr<int> CurrentAttempt();

  // Joins attempt `attempt` and waits until it closes: a NodeAssignment, or a
  // LateArrival when the attempt closed without this node. Errors:
  // DeadlineExceeded after join_timeout, naming how many nodes are missing and
  // which joined; InvalidArgument for conflicting --node-rank values or a
  // malformed record; FailedPrecondition when node 0 could not prepare the
  // attempt; store errors.
  absl::StatusOr<JoinResult> Join(int attempt, const NodeInfo& self,
                                  const MasterReserver& reserve_master,
                                  const ProgressCallback& progress);

  // Ends the attempt as failed unless it already ended; returns how it ended
  // (the first report wins, on every node).
  absl::StatusOr<AttemptEnd> ReportFailure(int attempt, AttemptEnd::Kind kind,
                                           int exit_code,
                                           const std::string& reason);

  // Exit barrier arrival: this node's workers all succeeded. The last of
  // num_nodes arrivals ends the attempt as ok.
  absl::Status ReportDone(int attempt, int num_nodes);

  // Waits up to `timeout` for the attempt to end. DeadlineExceeded when it did
  // not.
  absl::StatusOr<AttemptEnd> WaitForEnd(int attempt, absl::Duration timeout);
  // Never blocks. NotFound when the attempt has not ended.
  absl::StatusOr<AttemptEnd> TryGetEnd(int attempt);

  // Writes this node's HeartbeatRecord, stamped with this host's clock.
  absl::Status Heartbeat(int attempt, int slot, int64_t seq,
                         HeartbeatState state);
  // Heartbeat values of the given slots, as stored (peers compare whole values
  // to see a change; HeartbeatRecord::Decode reads one); a missing one is an
  // empty string.
  absl::StatusOr<std::vector<std::string>> ReadHeartbeats(
      int attempt, const std::vector<int>& slots);

  // Records that a node arrived after `attempt` closed, asking for a new
  // attempt.
  absl::StatusOr<int64_t> AddLate(int attempt);
  absl::StatusOr<int64_t> LateCount(int attempt);

 private:
  absl::StatusOr<int> ProposeClose(int attempt, int64_t count);
  std::string DescribeJoined(int attempt, int64_t count);

  Store* store_;
  NodeRendezvousOptions options_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_
