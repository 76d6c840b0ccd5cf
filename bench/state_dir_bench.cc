// state_dir_bench: what tprdzvd --state-dir costs per Set, with and without
// group commit, and writes JSON.
//
// Each run writes `ops` distinct 64-byte values from `threads` threads and
// records every call's latency, at two levels:
//   table  KvTable::Set in this process: the journal's cost alone.
//   grpc   GrpcStore::Set against an in-process RendezvousServer (one store,
//          so one HTTP/2 connection, per thread): what a client sees.
// under four configurations: memory (no --state-dir), full (the default:
// synchronous=FULL, group commit), full-single (synchronous=FULL, one
// transaction per call: group commit off) and normal (synchronous=NORMAL,
// group commit). Every run uses a fresh state dir under --dir.
#include <sys/utsname.h>
#include <sys/vfs.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "rendezvous/server.h"
#include "rendezvous/state_store.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

struct Config {
  std::string name;
  bool persistent = false;
  StateSync sync = StateSync::kFull;
  int max_batch_calls = 1024;
};

const std::vector<Config>& Configs() {
  static const auto* configs = new std::vector<Config>{
      {"memory", false, StateSync::kFull, 1024},
      {"full", true, StateSync::kFull, 1024},
      {"full-single", true, StateSync::kFull, 1},
      {"normal", true, StateSync::kNormal, 1024},
  };
  return *configs;
}

struct Result {
  std::string level;
  std::string config;
  int threads = 0;
  int rep = 0;
  int ops = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
  int64_t commits = -1;  // Table level with a state dir only.
};

std::string FreshDir(const std::string& base, int* counter) {
  std::string dir =
      absl::StrCat(base, "/state_dir_bench.", getpid(), ".", (*counter)++);
  std::filesystem::remove_all(dir);
  return dir;
}

// Runs `set(thread, i)` ops/threads times on each thread; true when all
// succeeded.
template <typename SetFn>
bool Drive(int threads, int ops, SetFn set, Result& result) {
  std::vector<std::vector<double>> lat(threads);
  std::atomic<bool> ok{true};
  const int per_thread = ops / threads;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      lat[t].reserve(per_thread);
      for (int i = 0; i < per_thread && ok; ++i) {
        const auto a = std::chrono::steady_clock::now();
        if (!set(t, i)) ok = false;
        const auto b = std::chrono::steady_clock::now();
        lat[t].push_back(
            std::chrono::duration<double, std::micro>(b - a).count());
      }
    });
  }
  for (std::thread& w : workers) w.join();
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  result.ops = per_thread * threads;
  for (auto& l : lat) {
    result.latencies_us.insert(result.latencies_us.end(), l.begin(), l.end());
  }
  std::sort(result.latencies_us.begin(), result.latencies_us.end());
  return ok;
}

const std::string& Value() {
  static const auto* value = new std::string(64, 'v');
  return *value;
}

bool RunTable(const Config& config, int threads, int ops,
              const std::string& dir, Result& result) {
  std::unique_ptr<StateStore> state;
  if (config.persistent) {
    StateStoreOptions options;
    options.dir = dir;
    options.sync = config.sync;
    options.max_batch_calls = config.max_batch_calls;
    absl::StatusOr<std::unique_ptr<StateStore>> opened =
        OpenStateStore(options);
    if (!opened.ok()) {
      std::cerr << opened.status() << "\n";
      return false;
    }
    state = *std::move(opened);
  }
  bool ok;
  {
    KvTableOptions options;
    options.journal = state.get();
    KvTable table(options);
    ok = Drive(
        threads, ops,
        [&](int t, int i) {
          return table.Set("bench", absl::StrCat(t, "/", i), Value()).ok();
        },
        result);
  }
  if (state != nullptr) result.commits = state->stats().commits;
  return ok;
}

bool RunGrpc(const Config& config, int threads, int ops, const std::string& dir,
             Result& result) {
  ServerOptions options;
  options.port = 0;
  if (config.persistent) {
    options.state_dir = dir;
    options.state_sync = config.sync;
  }
  // full-single has no gRPC run: the server has no knob for it (the group
  // size is not a flag), and the table level already shows its cost.
  absl::StatusOr<std::unique_ptr<RendezvousServer>> server =
      StartRendezvousServer(options);
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return false;
  }
  std::vector<std::unique_ptr<Store>> stores;
  for (int t = 0; t < threads; ++t) {
    GrpcStoreOptions store;
    store.endpoint = ParseEndpoint((*server)->address(), 0).value();
    store.job = "bench";
    absl::StatusOr<std::unique_ptr<Store>> connected = ConnectGrpcStore(store);
    if (!connected.ok()) {
      std::cerr << connected.status() << "\n";
      return false;
    }
    stores.push_back(*std::move(connected));
  }
  return Drive(
      threads, ops,
      [&](int t, int i) {
        return stores[t]->Set(absl::StrCat(t, "/", i), Value()).ok();
      },
      result);
}

std::string FsType(const std::string& dir) {
  struct statfs fs;
  if (statfs(dir.c_str(), &fs) != 0) return "unknown";
  return absl::StrFormat("0x%x", static_cast<unsigned>(fs.f_type));
}

std::string Json(const Result& r) {
  const double mean =
      r.latencies_us.empty()
          ? 0
          : std::accumulate(r.latencies_us.begin(), r.latencies_us.end(), 0.0) /
                r.latencies_us.size();
  std::string json = absl::StrFormat(
      "{\"level\": \"%s\", \"config\": \"%s\", \"threads\": %d, "
      "\"rep\": %d, \"ops\": %d, "
      "\"seconds\": %.4f, \"ops_per_s\": %.1f, \"p50_us\": %.1f, "
      "\"p99_us\": %.1f, \"mean_us\": %.1f",
      r.level, r.config, r.threads, r.rep, r.ops, r.seconds, r.ops / r.seconds,
      bench::Quantile(r.latencies_us, 0.5),
      bench::Quantile(r.latencies_us, 0.99), mean);
  if (r.commits >= 0) {
    absl::StrAppendFormat(
        &json, ", \"commits\": %d, \"calls_per_commit\": %.2f", r.commits,
        r.commits > 0 ? double(r.ops) / r.commits : 0.0);
  }
  return json + "}";
}

int Run(int argc, char** argv) {
  CLI::App app{"state_dir_bench: the cost of tprdzvd --state-dir per Set"};
  int ops = 4000;
  int reps = 3;
  std::string threads_list = "1,16";
  std::string levels_list = "table,grpc";
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp != nullptr ? tmp : "/tmp";
  std::string out;
  app.add_option("--ops", ops, "Sets per run (split over the threads)")
      ->capture_default_str();
  app.add_option("--reps", reps,
                 "Repetitions; each runs every configuration once, "
                 "interleaved so that load changes hit them alike")
      ->capture_default_str();
  app.add_option("--threads", threads_list, "Comma-separated thread counts")
      ->capture_default_str();
  app.add_option("--levels", levels_list, "table, grpc or both")
      ->capture_default_str();
  app.add_option("--dir", base,
                 "Where the state dirs go (its file system is "
                 "what is measured)")
      ->capture_default_str();
  app.add_option("--out", out, "Write the JSON here instead of stdout");
  CLI11_PARSE(app, argc, argv);
  bench::RaiseFdLimit();

  std::vector<Result> results;
  int counter = 0;
  for (int rep = 0; rep < reps; ++rep) {
    for (absl::string_view level : absl::StrSplit(levels_list, ',')) {
      for (absl::string_view threads_text : absl::StrSplit(threads_list, ',')) {
        const int threads = std::stoi(std::string(threads_text));
        for (const Config& config : Configs()) {
          if (level == "grpc" && config.max_batch_calls == 1) continue;
          Result r;
          r.level = std::string(level);
          r.config = config.name;
          r.threads = threads;
          r.rep = rep;
          const std::string dir = FreshDir(base, &counter);
          const bool ok = level == "table"
                              ? RunTable(config, threads, ops, dir, r)
                              : RunGrpc(config, threads, ops, dir, r);
          std::filesystem::remove_all(dir);
          if (!ok) {
            std::cerr << "run " << level << "/" << config.name << "/" << threads
                      << " failed\n";
            return 1;
          }
          std::cerr << Json(r) << "\n";
          results.push_back(std::move(r));
        }
      }
    }
  }

  utsname u;
  uname(&u);
  std::ostringstream json;
  json << "{\n  \"machine\": {\"cpus\": " << std::thread::hardware_concurrency()
       << ", \"kernel\": \"" << u.release << "\", \"state_dir_base\": \""
       << base << "\", \"fs_type\": \"" << FsType(base) << "\"},\n";
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  json << "  \"load_average_at_end\": [" << load[0] << ", " << load[1] << ", "
       << load[2] << "],\n";
  json << "  \"value_bytes\": " << Value().size() << ",\n  \"runs\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    json << "    " << Json(results[i])
         << (i + 1 < results.size() ? ",\n" : "\n");
  }
  json << "  ]\n}\n";
  if (out.empty()) {
    std::cout << json.str();
  } else {
    std::ofstream(out) << json.str();
  }
  return 0;
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) { return tplaunch::Run(argc, argv); }
