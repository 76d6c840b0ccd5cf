// store_bench: measures tprdzvd against the targets of issue 2 and writes JSON.
//
//   1. Latency: p50/p99 of Set, of Get on an existing key and of Add, from one
//      GrpcStore client (the library the launcher and workers use), after a
//      warm-up.
//   2. Parked waiters: N clients blocked in Get on one key (async calls spread
//   over a
//      few channels, so this process needs no thread per waiter), the daemon's
//      thread count and RSS while they wait, then one Set and the time until
//      the last Get returned.
//
// The daemon runs as its own process (the real tprdzvd, started here on port 0,
// or an external one given with --endpoint and --daemon-pid) so that its
// threads and memory are measured alone.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "proto/rendezvous.grpc.pb.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/store.h"

extern char** environ;

namespace tplaunch {
namespace {

namespace pb = ::tplaunch::rendezvous::v1;

struct BenchOptions {
  std::string endpoint;  // External daemon; empty: start tprdzvd here.
  int daemon_pid = 0;    // The external daemon's pid, for /proc.
  std::string tprdzvd;   // Path of the daemon binary to start.
  std::string token = "store-bench-token";
  int warmup = 2000;
  int ops = 20000;
  int waiters = 10000;
  int channels = 8;
  double waiter_timeout_s = 120;
  std::string out;
};

// ---- Small helpers ----

struct Percentiles {
  double p50_us = 0, p90_us = 0, p99_us = 0, mean_us = 0, max_us = 0;
};

Percentiles Summarize(std::vector<double> us) {
  Percentiles p;
  if (us.empty()) return p;
  std::sort(us.begin(), us.end());
  p.p50_us = bench::Quantile(us, 0.50);
  p.p90_us = bench::Quantile(us, 0.90);
  p.p99_us = bench::Quantile(us, 0.99);
  p.max_us = us.back();
  double sum = 0;
  for (double v : us) sum += v;
  p.mean_us = sum / us.size();
  return p;
}

std::string Json(const Percentiles& p) {
  return absl::StrFormat(
      "{\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"mean_us\": "
      "%.1f, "
      "\"max_us\": %.1f}",
      p.p50_us, p.p90_us, p.p99_us, p.mean_us, p.max_us);
}

int64_t CountThreads(int pid) {
  int64_t n = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(
           absl::StrCat("/proc/", pid, "/task"), error)) {
    (void)entry;
    ++n;
  }
  return n;
}

// VmRSS from /proc/<pid>/status, in KiB.
int64_t RssKib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kib = 0;
      std::string number(absl::StripAsciiWhitespace(
          absl::StripSuffix(absl::StripPrefix(line, "VmRSS:"), "kB")));
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(number), &kib))
        return kib;
    }
  }
  return -1;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      return std::string(
          absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
    }
  }
  return "unknown";
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out.push_back(c);
  }
  return out + "\"";
}

// ---- The daemon ----

// tprdzvd started by this process on 127.0.0.1:0; stopped with SIGTERM.
class DaemonProcess {
 public:
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(
      const std::string& binary, const std::string& token) {
    const std::string token_file =
        absl::StrCat(std::filesystem::temp_directory_path().string(),
                     "/store_bench_token_", getpid());
    {
      std::ofstream out(token_file);
      out << token;
    }
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<std::string> args = {binary,     "--host",      "127.0.0.1",
                                     "--port",   "0",           "--token-file",
                                     token_file, "--log-level", "warn"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr,
                               argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      return absl::InternalError(
          absl::StrCat("cannot start ", binary, ": ", std::strerror(rc)));
    }
    auto daemon =
        std::unique_ptr<DaemonProcess>(new DaemonProcess(pid, out[0]));
    std::string line;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (line.find('\n') == std::string::npos) {
      pollfd fd = {out[0], POLLIN, 0};
      const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (ms <= 0 || poll(&fd, 1, static_cast<int>(ms)) <= 0) break;
      char buffer[256];
      const ssize_t got = read(out[0], buffer, sizeof(buffer));
      if (got <= 0) break;
      line.append(buffer, got);
    }
    std::remove(token_file.c_str());
    line = line.substr(0, line.find('\n'));
    if (!absl::StartsWith(line, "listening on ")) {
      return absl::InternalError(
          absl::StrCat(binary, " did not print 'listening on': '", line, "'"));
    }
    daemon->endpoint_ = std::string(absl::StripPrefix(line, "listening on "));
    return daemon;
  }

  ~DaemonProcess() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    close(stdout_fd_);
  }

  int pid() const { return pid_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  DaemonProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  pid_t pid_;
  int stdout_fd_;
  std::string endpoint_;
};

// The daemon binary beside this one in Bazel's runfiles, unless given.
std::string FindTprdzvd(const char* argv0) {
  const std::string self = std::filesystem::absolute(argv0).string();
  const char* runfiles = std::getenv("RUNFILES_DIR");
  for (const std::string& candidate :
       {runfiles != nullptr
            ? absl::StrCat(runfiles, "/tplaunch/rendezvous/tprdzvd")
            : std::string(),
        absl::StrCat(self, ".runfiles/tplaunch/rendezvous/tprdzvd"),
        std::string(
            "rendezvous/tprdzvd"),  // `bazel run` starts in the runfiles.
        std::string("bazel-bin/rendezvous/tprdzvd")}) {
    if (candidate.empty()) continue;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// ---- 1. Latency ----

template <typename Op>
absl::StatusOr<std::vector<double>> TimeOps(int warmup, int ops, Op op) {
  for (int i = 0; i < warmup; ++i) {
    if (absl::Status s = op(i); !s.ok()) return s;
  }
  std::vector<double> us;
  us.reserve(ops);
  for (int i = 0; i < ops; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status s = op(i); !s.ok()) return s;
    us.push_back(std::chrono::duration<double, std::micro>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  return us;
}

// ---- 2. Parked waiters ----

// One async Get; the completion queue hands it back when the call ends.
struct PendingGet {
  grpc::ClientContext context;
  pb::GetResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::GetResponse>> reader;
};

struct WaiterResult {
  int64_t waiters = 0;
  int64_t ok = 0;
  double park_all_s =
      0;  // From the first call to the daemon reporting all parked.
  int64_t daemon_threads_idle = 0;
  int64_t daemon_rss_kib_idle = 0;
  int64_t daemon_threads_parked = 0;
  int64_t daemon_rss_kib_parked = 0;
  int64_t bench_threads_parked = 0;
  double set_to_last_return_ms = 0;
  double set_to_first_return_ms = 0;
  std::string first_error;
};

absl::StatusOr<WaiterResult> ParkAndRelease(const BenchOptions& options,
                                            const Endpoint& endpoint,
                                            int daemon_pid) {
  WaiterResult result;
  result.waiters = options.waiters;
  result.daemon_threads_idle = CountThreads(daemon_pid);
  result.daemon_rss_kib_idle = RssKib(daemon_pid);

  GrpcStoreOptions store_options;
  store_options.endpoint = endpoint;
  store_options.job = "bench_waiters";
  store_options.token = options.token;
  store_options.connect_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Store>> setter =
      ConnectGrpcStore(store_options);
  if (!setter.ok()) return setter.status();

  // Separate connections (a local subchannel pool each), as separate clients
  // would be.
  std::vector<std::unique_ptr<pb::Rendezvous::Stub>> stubs;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
  for (int c = 0; c < options.channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(-1);
    stubs.push_back(pb::Rendezvous::NewStub(grpc::CreateCustomChannel(
        endpoint.ToString(), grpc::InsecureChannelCredentials(), args)));
    queues.push_back(std::make_unique<grpc::CompletionQueue>());
  }

  const std::string authorization = absl::StrCat("Bearer ", options.token);
  const absl::Time deadline =
      absl::Now() + absl::Seconds(options.waiter_timeout_s);
  std::vector<std::unique_ptr<PendingGet>> calls(options.waiters);
  pb::GetRequest request;
  request.set_job(store_options.job);
  request.set_key("release");
  const absl::Time park_start = absl::Now();
  for (int i = 0; i < options.waiters; ++i) {
    auto call = std::make_unique<PendingGet>();
    call->context.set_deadline(absl::ToChronoTime(deadline));
    call->context.AddMetadata("authorization", authorization);
    const int c = i % options.channels;
    call->reader = stubs[c]->AsyncGet(&call->context, request, queues[c].get());
    call->reader->Finish(&call->response, &call->status, call.get());
    calls[i] = std::move(call);
  }

  // Wait until the daemon reports every call parked (nothing signals this:
  // poll).
  for (;;) {
    absl::StatusOr<RendezvousStats> stats = GetRendezvousStats(store_options);
    if (!stats.ok()) return stats.status();
    if (stats->waiters >= options.waiters) break;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "only ", stats->waiters, " of ", options.waiters, " Gets parked"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  result.park_all_s = absl::ToDoubleSeconds(absl::Now() - park_start);
  result.daemon_threads_parked = CountThreads(daemon_pid);
  result.daemon_rss_kib_parked = RssKib(daemon_pid);
  result.bench_threads_parked = CountThreads(getpid());

  // One drainer per queue records when its last and first calls came back.
  std::vector<std::chrono::steady_clock::time_point> last(options.channels);
  std::vector<std::chrono::steady_clock::time_point> first(
      options.channels, std::chrono::steady_clock::time_point::max());
  std::vector<int64_t> ok(options.channels, 0);
  std::vector<std::string> error(options.channels);
  std::vector<std::thread> drainers;
  const int per_queue = options.waiters / options.channels;
  for (int c = 0; c < options.channels; ++c) {
    const int expected =
        per_queue + (c < options.waiters % options.channels ? 1 : 0);
    drainers.emplace_back([&, c, expected] {
      void* tag = nullptr;
      bool started = false;
      for (int done = 0; done < expected && queues[c]->Next(&tag, &started);
           ++done) {
        const auto now = std::chrono::steady_clock::now();
        first[c] = std::min(first[c], now);
        last[c] = std::max(last[c], now);
        auto* call = static_cast<PendingGet*>(tag);
        if (call->status.ok() && call->response.value() == "go") {
          ++ok[c];
        } else if (error[c].empty()) {
          error[c] = call->status.error_message();
        }
      }
    });
  }
  const auto set_at = std::chrono::steady_clock::now();
  if (absl::Status s = (*setter)->Set("release", "go"); !s.ok()) return s;
  for (std::thread& drainer : drainers) drainer.join();

  auto latest = *std::max_element(last.begin(), last.end());
  auto earliest = *std::min_element(first.begin(), first.end());
  result.set_to_last_return_ms =
      std::chrono::duration<double, std::milli>(latest - set_at).count();
  result.set_to_first_return_ms =
      std::chrono::duration<double, std::milli>(earliest - set_at).count();
  for (int c = 0; c < options.channels; ++c) {
    result.ok += ok[c];
    if (result.first_error.empty()) result.first_error = error[c];
  }
  for (auto& queue : queues) {
    queue->Shutdown();
    void* tag;
    bool started;
    while (queue->Next(&tag, &started)) {
    }
  }
  return result;
}

int Run(int argc, char** argv) {
  BenchOptions options;
  CLI::App app{
      "store_bench: tprdzvd latency and parked-waiter benchmark (JSON out)",
      "store_bench"};
  app.add_option("--endpoint", options.endpoint,
                 "An external tprdzvd (default: start one here on port 0)");
  app.add_option("--daemon-pid", options.daemon_pid,
                 "Pid of the external tprdzvd, to read its threads and RSS");
  app.add_option("--tprdzvd", options.tprdzvd,
                 "Path of the tprdzvd binary to start");
  app.add_option("--token", options.token,
                 "Token (the started daemon uses it too)")
      ->capture_default_str();
  app.add_option("--warmup", options.warmup,
                 "Calls before timing, per operation")
      ->capture_default_str();
  app.add_option("--ops", options.ops, "Timed calls per operation")
      ->capture_default_str();
  app.add_option("--waiters", options.waiters, "Clients parked in Get")
      ->capture_default_str();
  app.add_option("--channels", options.channels,
                 "Connections the waiters share")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--out", options.out, "Write the JSON here instead of stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "store_bench: " << e.what() << "\n\n" << app.help();
    return 2;
  }

  std::unique_ptr<DaemonProcess> daemon;
  std::string endpoint = options.endpoint;
  int daemon_pid = options.daemon_pid;
  if (endpoint.empty()) {
    const std::string binary =
        options.tprdzvd.empty() ? FindTprdzvd(argv[0]) : options.tprdzvd;
    if (binary.empty()) {
      std::cerr
          << "store_bench: cannot find tprdzvd; pass --tprdzvd or --endpoint\n";
      return 2;
    }
    absl::StatusOr<std::unique_ptr<DaemonProcess>> started =
        DaemonProcess::Start(binary, options.token);
    if (!started.ok()) {
      std::cerr << "store_bench: " << started.status() << "\n";
      return 1;
    }
    daemon = std::move(*started);
    endpoint = daemon->endpoint();
    daemon_pid = daemon->pid();
  }

  absl::StatusOr<Endpoint> parsed =
      ParseEndpoint(endpoint, kDefaultRendezvousPort);
  if (!parsed.ok()) {
    std::cerr << "store_bench: --endpoint: " << parsed.status().message()
              << "\n";
    return 2;
  }
  GrpcStoreOptions store_options;
  store_options.endpoint = *parsed;
  store_options.job = "bench_latency";
  store_options.token = options.token;
  store_options.connect_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Store>> store =
      ConnectGrpcStore(store_options);
  if (!store.ok()) {
    std::cerr << "store_bench: " << store.status() << "\n";
    return 1;
  }
  Store& s = **store;
  const std::string value(64, 'v');
  if (absl::Status st = s.Set("existing", value); !st.ok()) {
    std::cerr << "store_bench: " << st << "\n";
    return 1;
  }
  const std::string set_keys[] = {"k0", "k1", "k2", "k3",
                                  "k4", "k5", "k6", "k7"};
  auto set_times = TimeOps(options.warmup, options.ops, [&](int i) {
    return s.Set(set_keys[i % 8], value);
  });
  auto get_times = TimeOps(options.warmup, options.ops, [&](int) {
    return s.Get("existing", absl::Seconds(10)).status();
  });
  auto add_times = TimeOps(options.warmup, options.ops,
                           [&](int) { return s.Add("counter", 1).status(); });
  for (const auto* times : {&set_times, &get_times, &add_times}) {
    if (!times->ok()) {
      std::cerr << "store_bench: " << times->status() << "\n";
      return 1;
    }
  }
  const Percentiles set_p = Summarize(*set_times);
  const Percentiles get_p = Summarize(*get_times);
  const Percentiles add_p = Summarize(*add_times);

  absl::StatusOr<WaiterResult> waiters;
  if (options.waiters > 0) {
    waiters = ParkAndRelease(options, *parsed, daemon_pid);
    if (!waiters.ok()) {
      std::cerr << "store_bench: waiters: " << waiters.status() << "\n";
      return 1;
    }
  }

  utsname host{};
  uname(&host);
  std::ostringstream json;
  json << "{\n";
  json << "  \"machine\": {\"cpus\": " << std::thread::hardware_concurrency()
       << ", \"cpu_model\": " << JsonString(CpuModel())
       << ", \"kernel\": " << JsonString(host.release) << "},\n";
  json << "  \"daemon\": {\"endpoint\": " << JsonString(endpoint)
       << ", \"started_by_bench\": " << (daemon ? "true" : "false")
       << ", \"token\": true},\n";
  json << "  \"latency\": {\"client\": \"GrpcStore, one client, sequential\", "
       << "\"warmup\": " << options.warmup << ", \"ops\": " << options.ops
       << ", \"value_bytes\": " << value.size() << ",\n";
  json << "    \"set\": " << Json(set_p) << ",\n";
  json << "    \"get_existing\": " << Json(get_p) << ",\n";
  json << "    \"add\": " << Json(add_p) << "},\n";
  if (options.waiters > 0) {
    const WaiterResult& w = *waiters;
    json << "  \"parked_waiters\": {\"waiters\": " << w.waiters
         << ", \"channels\": " << options.channels
         << ", \"released_ok\": " << w.ok << ", \"seconds_to_park_all\": "
         << absl::StrFormat("%.3f", w.park_all_s)
         << ",\n    \"daemon_threads_idle\": " << w.daemon_threads_idle
         << ", \"daemon_rss_mib_idle\": "
         << absl::StrFormat("%.1f", w.daemon_rss_kib_idle / 1024.0)
         << ",\n    \"daemon_threads_parked\": " << w.daemon_threads_parked
         << ", \"daemon_rss_mib_parked\": "
         << absl::StrFormat("%.1f", w.daemon_rss_kib_parked / 1024.0)
         << ", \"bench_threads_parked\": " << w.bench_threads_parked
         << ",\n    \"set_to_first_return_ms\": "
         << absl::StrFormat("%.1f", w.set_to_first_return_ms)
         << ", \"set_to_last_return_ms\": "
         << absl::StrFormat("%.1f", w.set_to_last_return_ms)
         << ", \"first_error\": " << JsonString(w.first_error) << "},\n";
  }
  json << "  \"targets\": {\"p50_us_max\": 100, \"daemon_threads_max\": 64, "
       << "\"daemon_rss_mib_max\": 300, \"release_ms_max\": 1000}\n";
  json << "}\n";

  if (options.out.empty()) {
    std::cout << json.str();
  } else {
    std::ofstream out(options.out);
    out << json.str();
    if (!out.good()) {
      std::cerr << "store_bench: cannot write " << options.out << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) { return tplaunch::Run(argc, argv); }
