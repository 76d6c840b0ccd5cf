// liveness_monitor: one thread per attempt that heartbeats for this node,
// declares silent peers dead, and reports how the attempt ended.
//
// Knows stores, not processes. Each heartbeat interval it writes this node's
// heartbeat, reads the peers' heartbeats (a peer is dead when its value has not
// changed for the heartbeat timeout, measured on this node's monotonic clock,
// so clocks need not agree), then waits one interval on the attempt's "end"
// key. A dead peer ends the attempt as failed. A store that does not answer
// (restarting, frozen, unreachable) is not a dead peer: only time during which
// the store answered counts against a peer, the workers keep running, and only
// a store silent for store_outage_timeout ends the attempt, with a reason that
// names the store and how long it was silent. on_end runs once, on the
// monitor's thread.
#ifndef TPLAUNCH_LAUNCHER_LIVENESS_MONITOR_H_
#define TPLAUNCH_LAUNCHER_LIVENESS_MONITOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "launcher/node_rendezvous.h"

namespace tplaunch {

struct LivenessOptions {
  // How often this node heartbeats and checks its peers.
  absl::Duration interval = absl::Seconds(1);
  // A peer whose heartbeat did not advance for this long while the store
  // answered is dead.
  absl::Duration timeout = absl::Seconds(5);
  // The store not answering for this long fails the attempt (--store-outage-
  // timeout). The store's own calls should give up within `interval`, so that
  // a frozen store is noticed at once and not after an RPC deadline.
  absl::Duration store_outage_timeout = absl::Seconds(60);
  // How messages name the store, e.g. "tprdzvd at 10.0.0.1:29400".
  std::string store_name = "the rendezvous store";
  // The store's incarnation as last reported ("" unknown); empty function: not
  // tracked. A value different from joined_incarnation means the daemon
  // restarted without the attempt's state: the monitor ends the attempt as
  // failed, naming the restart and both incarnations, and writes that end into
  // the new daemon too, so a node that joined the same attempt there stops as
  // well.
  std::function<std::string()> store_incarnation;
  // The incarnation the attempt was joined under, so that a restart between
  // the join and the monitor's start counts too; "": the first one the
  // monitor reads.
  std::string joined_incarnation;
};

class LivenessMonitor final {
 public:
  using EndCallback = std::function<void(const AttemptEnd&)>;

  // Starts the thread. `rdzv` must outlive the monitor.
  LivenessMonitor(NodeRendezvous* rdzv, NodeAssignment assignment,
                  LivenessOptions options, EndCallback on_end);
  // Stops the thread (waits at most about one interval).
  ~LivenessMonitor();

  LivenessMonitor(const LivenessMonitor&) = delete;
  LivenessMonitor& operator=(const LivenessMonitor&) = delete;

  // What this node's heartbeat says from now on.
  void SetState(HeartbeatState state);

  // Writes one heartbeat now (e.g. "left" before the launcher exits).
  void HeartbeatNow();

 private:
  void Run();

  NodeRendezvous* rdzv_;
  const NodeAssignment assignment_;
  const LivenessOptions options_;
  EndCallback on_end_;
  absl::Mutex mu_;
  HeartbeatState state_ ABSL_GUARDED_BY(mu_) = HeartbeatState::kRun;
  std::atomic<int64_t> seq_{1};
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_LIVENESS_MONITOR_H_
