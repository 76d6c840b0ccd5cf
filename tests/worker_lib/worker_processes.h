// Starts worker processes with a given environment, output captured to files,
// and waits for them with a deadline (killing stragglers). The real-process
// harness of the worker_lib end-to-end tests, over testing::Subprocess.
#ifndef TPLAUNCH_TESTS_WORKER_LIB_WORKER_PROCESSES_H_
#define TPLAUNCH_TESTS_WORKER_LIB_WORKER_PROCESSES_H_

#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/testing/processes.h"

namespace tplaunch {

struct WorkerResult {
  int exit_code = -1;  // 128+signal when killed; -1 when it had to be killed.
  std::string out;
  std::string err;
};

class WorkerProcesses {
 public:
  // Starts argv with the current environment plus `env`; returns the worker's
  // index. A worker that cannot be executed exits 127.
  int Start(const std::vector<std::string>& argv,
            const std::map<std::string, std::string>& env) {
    workers_.push_back(std::make_unique<testing::Subprocess>(argv, env));
    return static_cast<int>(workers_.size()) - 1;
  }

  // Waits for every worker until `deadline`, then kills whoever is left (exit
  // -1).
  std::vector<WorkerResult> WaitAll(
      std::chrono::steady_clock::time_point deadline) {
    std::vector<WorkerResult> results(workers_.size());
    for (size_t i = 0; i < workers_.size(); ++i) {
      testing::Subprocess& worker = *workers_[i];
      const std::optional<int> code = worker.Wait(
          absl::FromChrono(deadline - std::chrono::steady_clock::now()));
      if (code) {
        results[i].exit_code = *code;
      } else {
        worker.Kill(SIGKILL);
        worker.Wait(absl::InfiniteDuration());
        results[i].exit_code = -1;
      }
      results[i].out = worker.out();
      results[i].err = worker.err();
    }
    workers_.clear();
    return results;
  }

 private:
  // Each kills its process (if still running) when destroyed.
  std::vector<std::unique_ptr<testing::Subprocess>> workers_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_WORKER_LIB_WORKER_PROCESSES_H_
