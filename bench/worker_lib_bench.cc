// worker_lib_bench: time from starting `tplaunch --nproc N examples/train` to
// rank 0's first completed all-reduce, for several N, with where worker_lib's
// init time went (join over the store, Gloo pair connection, and the store's
// share of that), and the same launch-to-first-allreduce for torchrun running
// an equivalent PyTorch gloo script. Prints JSON. Run: bazel run
// //bench:worker_lib_bench -- --reps 5
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace {

std::string g_argv0;

// `bazel run` sets RUNFILES_DIR; run directly, the runfiles sit beside the
// binary.
std::string Runfile(const std::string& path) {
  if (const char* dir = std::getenv("RUNFILES_DIR")) {
    return absl::StrCat(dir, "/tplaunch/", path);
  }
  return absl::StrCat(g_argv0, ".runfiles/tplaunch/", path);
}

// Runs argv with extra environment variables; returns the exit code.
int Run(const std::vector<std::string>& argv,
        const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  for (const auto& [k, v] : extra_env) env.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> copy = argv;
  for (std::string& s : copy) args.push_back(s.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc =
      posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return 127;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The number after "key": in a flat JSON object.
double Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  double value = -1;
  std::string rest = json.substr(at + key.size() + 3);
  rest = rest.substr(0, rest.find_first_of(",}"));
  (void)absl::SimpleAtod(absl::StripAsciiWhitespace(rest), &value);
  return value;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double Median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  g_argv0 = argv[0];
  std::string ranks_text = "2,4,8";
  int reps = 5;
  std::string tplaunch = Runfile("launcher/tplaunch");
  std::string train = Runfile("examples/train");
  std::string python = "/usr/bin/python3";
  bool torchrun = true;
  CLI::App app{"Launch-to-first-allreduce: tplaunch + worker_lib vs torchrun."};
  app.add_option("--ranks", ranks_text, "comma-separated N")
      ->capture_default_str();
  app.add_option("--reps", reps, "runs per N (median reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--tplaunch", tplaunch)->capture_default_str();
  app.add_option("--train", train)->capture_default_str();
  app.add_option("--python", python, "python3 with torch (Debian's)")
      ->capture_default_str();
  app.add_flag("--torchrun,!--no-torchrun", torchrun,
               "also measure torchrun (needs python3-torch)");
  CLI11_PARSE(app, argc, argv);

  const std::string timing =
      absl::StrCat("/tmp/worker_lib_bench_", getpid(), ".json");
  const std::string torch_script =
      Runfile("bench/worker_lib_torch_first_allreduce.py");
  const std::string torchrun_compat = Runfile("bench/torchrun_compat.py");
  if (torchrun && Run({python, "-c", "import torch.distributed"}, {}) != 0) {
    torchrun = false;
  }

  std::vector<std::string> rows;
  for (absl::string_view n_text : absl::StrSplit(ranks_text, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(n_text, &n) || n < 1) {
      std::fprintf(stderr, "bad --ranks entry '%s'\n",
                   std::string(n_text).c_str());
      return 2;
    }
    std::vector<double> total, init, join, connect, store, torch_total;
    int failures = 0;
    for (int rep = 0; rep < reps; ++rep) {
      std::remove(timing.c_str());
      const int64_t start = absl::ToUnixMicros(absl::Now());
      const int rc = Run({tplaunch, "--nproc", std::to_string(n), train,
                          "--steps", "10", "--timing-file", timing},
                         {});
      const std::string json = ReadFile(timing);
      if (rc != 0 || json.empty()) {
        ++failures;
        continue;
      }
      total.push_back((Field(json, "first_allreduce_unix_us") - start) /
                      1000.0);
      init.push_back(Field(json, "init_ms"));
      join.push_back(Field(json, "join_ms"));
      connect.push_back(Field(json, "connect_ms"));
      store.push_back(Field(json, "connect_store_ms"));
    }
    for (int rep = 0; torchrun && rep < reps; ++rep) {
      std::remove(timing.c_str());
      const int64_t start = absl::ToUnixMicros(absl::Now());
      const int rc =
          Run({python, torchrun_compat, "--standalone", "--nproc_per_node",
               std::to_string(n), "--monitor_interval", "0.1", torch_script},
              {{"TIMING_FILE", timing}});
      const std::string json = ReadFile(timing);
      if (rc == 0 && !json.empty()) {
        torch_total.push_back((Field(json, "first_allreduce_unix_us") - start) /
                              1000.0);
      }
    }
    const double t = Median(total), c = Median(connect), s = Median(store);
    const double torch = Median(torch_total);
    rows.push_back(absl::StrFormat(
        "    {\"n\": %d, \"runs\": %d, \"failures\": %d, "
        "\"tplaunch_launch_to_first_allreduce_ms\": %.1f, \"init_ms\": %.1f, "
        "\"join_ms\": %.1f, \"gloo_connect_ms\": %.1f, "
        "\"gloo_connect_store_ms\": %.2f, \"store_share_of_connect\": %.3f, "
        "\"torchrun_launch_to_first_allreduce_ms\": %.1f, \"speedup\": %.1f}",
        n, reps, failures, t, Median(init), Median(join), c, s,
        c > 0 ? s / c : -1, torch, torch > 0 && t > 0 ? torch / t : -1));
  }
  std::remove(timing.c_str());
  std::printf(
      "{\n  \"benchmark\": \"worker_lib launch to first allreduce "
      "(medians)\",\n"
      "  \"torchrun_measured\": %s,\n  \"results\": [\n%s\n  ]\n}\n",
      torchrun ? "true" : "false", absl::StrJoin(rows, ",\n").c_str());
  return 0;
}
