// node_rendezvous: how the launchers of one job meet through a Store.
//
// Knows stores, not processes. Every key lives under "<run_id>/a<attempt>/", so
// a new attempt never reads the keys of an earlier one (layout in
// docs/launcher.md):
//
//   <run_id>/attempt         highest attempt any node has entered (decimal)
//   <run_id>/a<N>/count      join counter (Add): a node's slot is its arrival
//   <run_id>/a<N>/node/<s>   join record (host, address, nproc, rank, pid)
//   <run_id>/a<N>/hb/<s>     heartbeat "<seq> <unix_ms> <state>"
//   <run_id>/a<N>/closed     participating nodes K (CompareSet, set once)
//   <run_id>/a<N>/master     "<addr> <port>" from node 0, or "!<reason>"
//                            when node 0 could not prepare the attempt
//   <run_id>/a<N>/done       exit barrier counter (Add)
//   <run_id>/a<N>/end        "ok" | "fail|stop|member <code> <reason>"
//                            (CompareSet: the first report wins)
//   <run_id>/a<N>/late       nodes that arrived after the attempt closed
//   <run_id>/a<N>/w/...      reserved for the attempt's workers (worker_lib)
//
// Thread-safe (all state is in the Store).
#ifndef TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_
#define TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/store.h"

namespace tplaunch {

// What a node says about itself when it joins.
struct NodeInfo {
  std::string host;         // Host name, for humans.
  std::string addr;         // Advertised address (TPLAUNCH_LOCAL_ADDR).
  int nproc = 1;            // Workers it runs.
  int requested_rank = -1;  // --node-rank, or -1.
  int64_t pid = 0;          // The launcher's pid, for humans and tie-breaks.

  std::string Serialize() const;
  static absl::StatusOr<NodeInfo> Parse(absl::string_view text);
  // "hostA (10.0.0.1)"
  std::string Label() const;
};

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

// How an attempt ended, as published under "<run_id>/a<N>/end".
struct AttemptEnd {
  enum class Kind {
    kOk,       // Every node's workers succeeded.
    kFailed,   // A failure; nodes restart within --max-restarts.
    kStopped,  // A failure no restart can fix (signal, missing PROGRAM).
    kMembershipChange,  // A node waits to join; restart without counting a
                        // restart.
  };
  Kind kind = Kind::kFailed;
  int exit_code =
      0;  // The failure's shell-style code (1 for launcher failures).
  std::string reason;  // Names node, host, rank and what happened.

  bool ok() const { return kind == Kind::kOk; }
};

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

  // Joins attempt `attempt` and waits until it closes. Errors: DeadlineExceeded
  // after join_timeout, naming how many nodes are missing and which joined;
  // FailedPrecondition (message starts with "late:") when the attempt closed
  // without this node; InvalidArgument for conflicting --node-rank values;
  // store errors.
  absl::StatusOr<NodeAssignment> Join(int attempt, const NodeInfo& self,
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

  // Heartbeats: `state` is "run", "done" or "left" (a node that left after
  // success must not be declared dead).
  absl::Status Heartbeat(int attempt, int slot, int64_t seq,
                         absl::string_view state);
  // Heartbeat values of the given slots; a missing one is an empty string.
  absl::StatusOr<std::vector<std::string>> ReadHeartbeats(
      int attempt, const std::vector<int>& slots);

  // Records that a node arrived after `attempt` closed, asking for a new
  // attempt.
  absl::StatusOr<int64_t> AddLate(int attempt);
  absl::StatusOr<int64_t> LateCount(int attempt);

  // Key helpers (also used by `tplaunch status`).
  std::string Key(int attempt, absl::string_view name) const;
  std::string AttemptKey() const;

 private:
  absl::StatusOr<int> ProposeClose(int attempt, int64_t count);
  std::string DescribeJoined(int attempt, int64_t count);

  Store* store_;
  NodeRendezvousOptions options_;
};

// Encoding of AttemptEnd in the "end" key.
std::string EncodeAttemptEnd(const AttemptEnd& end);
AttemptEnd DecodeAttemptEnd(absl::string_view value);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_NODE_RENDEZVOUS_H_
