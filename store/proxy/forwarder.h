// Forwarder: the node-local store proxy's calls to its one upstream Store,
// without gRPC. Blocking calls (Get, Wait, MultiGet) go through a CallTable,
// so identical concurrent calls share one upstream call, and run on a bounded
// pool; each caller is answered by its own deadline (a timer thread expires
// it) or by the shared upstream answer. Non-blocking calls run on a second,
// smaller pool. No caller's thread ever blocks on the upstream.
#ifndef TPLAUNCH_STORE_PROXY_FORWARDER_H_
#define TPLAUNCH_STORE_PROXY_FORWARDER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "store/proxy/call_table.h"
#include "store/proxy/proxy_options.h"
#include "store/proxy/worker_pool.h"
#include "store/store.h"

namespace tplaunch {

enum class BlockingOp { kGet, kWait, kMultiGet };

class Forwarder final {
 public:
  // `upstream` is shared with the running upstream calls, which may outlive
  // Shutdown by at most one upstream_slice.
  Forwarder(std::shared_ptr<Store> upstream, const StoreProxyOptions& options);
  // Shutdown(), then waits for the running upstream calls.
  ~Forwarder();

  struct Ticket {
    std::string call_key;
    uint64_t caller = 0;
  };

  // Joins (or starts) the upstream call `op` on `keys` for a caller that
  // gives up at `deadline`. `done` runs exactly once, on a pool or timer
  // thread (or inline after Shutdown), unless Cancel returns true: with the
  // values (Get: one, Wait: none, MultiGet: one per key); DeadlineExceeded
  // naming the keys, the job and the time this caller waited; or the
  // upstream's error, naming the upstream, the call and the time waited.
  Ticket StartBlocking(BlockingOp op, std::vector<std::string> keys,
                       absl::Time deadline, CallDone done);

  // The caller went away. True: it is out and `done` never runs. False: its
  // `done` ran or is running.
  bool Cancel(const Ticket& ticket);

  // Runs `call` with the upstream on the non-blocking pool. False (and `call`
  // dropped) after Shutdown.
  bool RunQuick(std::function<void(Store&)> call);

  // How an upstream error of `op` on `keys` reaches a local caller that
  // waited `waited`: the same code, the message naming the proxy, the
  // upstream and the call.
  absl::Status FromUpstream(const absl::Status& status, absl::string_view op,
                            absl::Span<const std::string> keys,
                            absl::Duration waited) const;

  // Answers every waiting caller Unavailable and refuses new calls
  // (Unavailable). Does not wait for the upstream calls still running: the
  // destructor does (at most one upstream_slice), so a launcher about to
  // _exit never waits for them.
  void Shutdown();

  // Local callers parked in blocking calls now.
  int64_t waiting_callers();

  // Blocking upstream calls started so far (restarts included).
  int64_t upstream_blocking_calls() const {
    return upstream_blocking_calls_.load();
  }

 private:
  struct Call {
    BlockingOp op;
    std::vector<std::string> keys;
    std::string call_key;
  };
  void RunUpstream(const Call& call);
  CallResult CallUpstream(const Call& call, absl::Duration timeout);
  void AnswerExpired(const Call& call, std::vector<CallTable::Answer> due,
                     absl::Time now);
  void TimerLoop();

  const std::shared_ptr<Store> upstream_;
  const StoreProxyOptions options_;
  std::atomic<int64_t> upstream_blocking_calls_{0};

  std::mutex mu_;
  std::condition_variable timer_wake_;
  CallTable table_;                    // Guarded by mu_.
  std::map<std::string, Call> calls_;  // By call key. Guarded by mu_.
  bool shut_down_ = false;             // Guarded by mu_.

  WorkerPool blocking_pool_;
  WorkerPool quick_pool_;
  std::thread timer_;
};

// The name of op ("Get", "Wait", "MultiGet").
absl::string_view BlockingOpName(BlockingOp op);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PROXY_FORWARDER_H_
