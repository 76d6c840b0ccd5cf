// liveness_monitor: one thread per attempt that heartbeats for this node,
// declares silent peers dead, and reports how the attempt ended.
//
// Knows stores, not processes. Each heartbeat interval it writes this node's
// heartbeat, reads the peers' heartbeats (a peer is dead when its value has not
// changed for the heartbeat timeout, measured on this node's monotonic clock,
// so clocks need not agree), then waits one interval on the attempt's "end"
// key. A dead peer or a store unreachable for the heartbeat timeout ends the
// attempt as failed. on_end runs once, on the monitor's thread.
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
  // A peer silent this long is dead; the store unreachable this long is a
  // failure.
  absl::Duration timeout = absl::Seconds(5);
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
