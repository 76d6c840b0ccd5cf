// Starts worker processes with a given environment, output captured to files,
// and waits for them with a deadline (killing stragglers). The real-process
// harness of the worker_lib end-to-end tests.
#ifndef TPLAUNCH_TESTS_WORKER_LIB_WORKER_PROCESSES_H_
#define TPLAUNCH_TESTS_WORKER_LIB_WORKER_PROCESSES_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace tplaunch {

struct WorkerResult {
  int exit_code = -1;  // 128+signal when killed; -1 when it had to be killed.
  std::string out;
  std::string err;
};

inline std::string TestTmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Path of a runfile such as "examples/train".
inline std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return path;
  return absl::StrCat(srcdir, "/",
                      workspace != nullptr ? workspace : "tplaunch", "/", path);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class WorkerProcesses {
 public:
  ~WorkerProcesses() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (auto& f : waits_) f.wait();
  }

  // Starts argv with the current environment plus `env`; returns the worker's
  // index.
  int Start(const std::vector<std::string>& argv,
            const std::map<std::string, std::string>& env) {
    const int index = static_cast<int>(pids_.size());
    const std::string base =
        absl::StrCat(TestTmpDir(), "/worker", counter_++, "_", getpid());
    outs_.push_back(base + ".out");
    errs_.push_back(base + ".err");
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      size_t eq = kv.find('=');
      if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : env) merged[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (std::string& s : argv_copy) args.push_back(s.data());
    args.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, outs_.back().c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, errs_.back().c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(),
                    envp.data()) != 0) {
      pid = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    pids_.push_back(pid);
    waits_.push_back(std::async(std::launch::async, [pid] {
      if (pid < 0) return 127;
      int status = 0;
      if (waitpid(pid, &status, 0) != pid) return -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }));
    return index;
  }

  // Waits for every worker until `deadline`, then kills whoever is left (exit
  // -1).
  std::vector<WorkerResult> WaitAll(
      std::chrono::steady_clock::time_point deadline) {
    std::vector<WorkerResult> results(pids_.size());
    for (size_t i = 0; i < pids_.size(); ++i) {
      if (waits_[i].wait_until(deadline) != std::future_status::ready) {
        kill(pids_[i], SIGKILL);
        waits_[i].wait();
        results[i].exit_code = -1;
      } else {
        results[i].exit_code = waits_[i].get();
      }
      pids_[i] = -1;
      results[i].out = ReadFile(outs_[i]);
      results[i].err = ReadFile(errs_[i]);
    }
    pids_.clear();
    waits_.clear();
    outs_.clear();
    errs_.clear();
    return results;
  }

 private:
  std::vector<pid_t> pids_;
  std::vector<std::future<int>> waits_;
  std::vector<std::string> outs_, errs_;
  int counter_ = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_WORKER_LIB_WORKER_PROCESSES_H_
