// Runs one function per rank, each on its own thread, and collects every rank's
// status: the "ranks as threads in one process" harness of the worker_lib
// tests.
#ifndef TPLAUNCH_TESTS_WORKER_LIB_RANK_THREADS_H_
#define TPLAUNCH_TESTS_WORKER_LIB_RANK_THREADS_H_

#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace tplaunch {

inline std::vector<absl::Status> RunRanks(
    int world_size, const std::function<absl::Status(int rank)>& fn) {
  std::vector<absl::Status> statuses(world_size);
  std::vector<std::thread> threads;
  threads.reserve(world_size);
  for (int r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] { statuses[r] = fn(r); });
  }
  for (std::thread& t : threads) t.join();
  return statuses;
}

}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_WORKER_LIB_RANK_THREADS_H_
