// WorkerPool: a fixed number of threads running queued tasks, so the proxy's
// blocking upstream calls never run on gRPC's callback threads and their
// number in flight is bounded by the thread count.
#ifndef TPLAUNCH_STORE_PROXY_WORKER_POOL_H_
#define TPLAUNCH_STORE_PROXY_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tplaunch {

class WorkerPool final {
 public:
  // Starts `threads` (at least 1) threads.
  explicit WorkerPool(int threads);
  // Stop(), then joins the threads.
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and `task` dropped) after Stop.
  bool Submit(std::function<void()> task);

  // Refuses new tasks; the threads finish the queued ones and exit.
  void Stop();
  // Stop, then waits for the threads (tasks running now included).
  void Join();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // Guarded by mu_.
  bool stopped_ = false;                     // Guarded by mu_.
  std::vector<std::thread> threads_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PROXY_WORKER_POOL_H_
