// node_rendezvous: how the launchers of one job meet through a Store.
//
// Knows stores, not processes. Every key lives under "<run_id>/a<attempt>/", so
// a new attempt never reads the keys of an earlier one; the keys are
// common/key_layout.h's and their values common/records.h's (the table is in
// docs/protocol.md#key-layout).
//
// Joining nodes heartbeat while they wait: a slot whose node left (withdrew)
// or went silent for the heartbeat timeout (reclaimed) does not count. Running
// nodes re-assert their attempt's keys when the store lost them (Reassert), so
// a node starting after a daemon restart without --state-dir is late, never a
// second world (docs/reliability.md#rendezvous-stale-joins-and-restarts).
//
// Thread-safe (the state is in the Store; the join in progress, for
// WithdrawPendingJoin, is guarded by a mutex).
#ifndef TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_
#define TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/node_ranks.h"  // AssignNodeRanks, for its users here.
#include "common/records.h"
#include "store/store.h"

namespace tplaunch {

// The result of a completed rendezvous, from one node's point of view.
struct NodeAssignment {
  int attempt = 0;
  int slot = 0;                   // Arrival order; heartbeat keys use it.
  std::string node_id;            // This node's NodeInfo::id.
  ClosedRecord closed;            // The attempt's members, as closed.
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
  // Why: set when the attempt's keys were re-asserted by nodes already running
  // it (the store lost them), so the node is late rather than a second world.
  std::string detail;

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
  // How often a joining node heartbeats its slot (--heartbeat-interval), and
  // how long a slot's heartbeat may stay unchanged before the slot stops
  // counting and is reclaimed (--heartbeat-timeout).
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(5);
  // Events a person should see: a slot reclaimed, keys re-asserted after the
  // store lost them, two worlds found. Called on the caller's thread; nullptr
  // drops them.
  std::function<void(const std::string&)> on_notice;
};

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
  // LateArrival when the attempt closed without this node. Heartbeats the slot
  // while waiting. On any error the slot is withdrawn before returning.
  // Errors: DeadlineExceeded after join_timeout, naming how many nodes are
  // missing, which joined, since when it waits and which silent node it waits
  // on; InvalidArgument for conflicting --node-rank values or a malformed
  // record; FailedPrecondition when node 0 could not prepare the attempt or
  // the attempt's keys changed under it; Unavailable when the store did not
  // answer until join_timeout ran out (an outage shorter than that is ridden
  // through: slot and wait are tried again, with one notice); other store
  // errors.
  absl::StatusOr<JoinResult> Join(int attempt, const NodeInfo& self,
                                  const MasterReserver& reserve_master,
                                  const ProgressCallback& progress);

  // Withdraws the slot of a Join in progress on this object (none: nothing),
  // so the other nodes stop counting it; that Join then returns Cancelled.
  // For a launcher leaving while it waits (a terminating signal): safe from
  // another thread, best effort, never blocks longer than two store calls.
  void WithdrawPendingJoin(const std::string& reason);

  // Once per heartbeat interval from the liveness monitor of a running node:
  // when the store lost the attempt's keys (a daemon restarted without
  // --state-dir), writes back its closed record, join counter, this node's
  // record and the attempt counter, so a node starting now is late; in
  // `state` kDone, re-asserts this node's exit-barrier key and completes the
  // barrier when every member's is there. Returns the attempt's end when it
  // found another world closed the same attempt (both restart together, as
  // a membership change). Errors: store errors.
  absl::StatusOr<std::optional<AttemptEnd>> Reassert(const NodeAssignment& a,
                                                     HeartbeatState state);

  // Ends the attempt as failed unless it already ended; returns how it ended
  // (the first report wins, on every node).
  absl::StatusOr<AttemptEnd> ReportFailure(int attempt, AttemptEnd::Kind kind,
                                           int exit_code,
                                           const std::string& reason);

  // Exit barrier arrival: this node's workers all succeeded. Sets the node's
  // done key; when every member's is set, ends the attempt as ok. Errors:
  // store errors.
  absl::Status ReportDone(const NodeAssignment& a);

  // Waits up to `timeout` for the attempt to end. DeadlineExceeded when it did
  // not.
  absl::StatusOr<AttemptEnd> WaitForEnd(int attempt, absl::Duration timeout);
  // Never blocks. NotFound when the attempt has not ended.
  absl::StatusOr<AttemptEnd> TryGetEnd(int attempt);

  // Writes this node's HeartbeatRecord, stamped with this host's clock and
  // `node_id` (NodeAssignment::node_id).
  absl::Status Heartbeat(int attempt, int slot, int64_t seq,
                         HeartbeatState state, const std::string& node_id = "");
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
  struct Pending {
    int attempt = 0;
    int slot = 0;
    std::string id;
  };
  class SlotWatch;

  // Heartbeats `slot` until the attempt closes; returns its closed record.
  // Takes a new slot when a peer reclaimed this one; sets saw_foreign when
  // another world's nodes heartbeat under this attempt.
  absl::StatusOr<ClosedRecord> WaitForClose(int attempt, const NodeInfo& self,
                                            int& slot, bool& saw_foreign,
                                            const ProgressCallback& progress,
                                            absl::Time start,
                                            absl::Time deadline);
  // One pass over the attempt's slots into `watch`: reclaims stale ones,
  // notes another world's heartbeats. True when this node's own slot had
  // been reclaimed and it took a new one (scan again).
  absl::StatusOr<bool> ScanSlots(int attempt, const NodeInfo& self, int& slot,
                                 const ProgressCallback& progress,
                                 SlotWatch& watch);
  absl::StatusOr<int> TakeSlot(int attempt, const NodeInfo& self);
  absl::StatusOr<NodeAssignment> Assign(int attempt, int slot,
                                        const NodeInfo& self,
                                        const ClosedRecord& closed,
                                        const MasterReserver& reserve_master,
                                        absl::Time deadline);
  absl::Status Withdraw(int attempt, int slot, const std::string& id,
                        const std::string& reason);
  absl::Status CompleteBarrier(const NodeAssignment& a);
  absl::Status RestoreKeys(const NodeAssignment& a);
  void Notice(const std::string& message) const;

  Store* store_;
  NodeRendezvousOptions options_;
  absl::Mutex mu_;
  std::optional<Pending> pending_ ABSL_GUARDED_BY(mu_);
  // Set by WithdrawPendingJoin: the Join in progress gives up (Cancelled).
  std::optional<std::string> withdrawn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_
