// The NCCL-id rendezvous through node-local store proxies (issue #15), against
// every rank dialling tprdzvd itself: an in-process tprdzvd, `nodes` proxies
// (store/proxy/) each serving `ranks_per_node` ranks over its Unix socket,
// every rank its own GrpcStore connection. Each rank ADDs a counter, rank 0
// SETs a 128-byte id, every rank GETs it (blocking). Connections are made
// before the clock starts. Prints one JSON object per run: the time from the
// start to the last rank done, and the RPCs the daemon received.
//
//   bazel run -c opt //bench:proxy_rendezvous -- --nodes 16,64,128
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "rendezvous/server.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/proxy/store_proxy.h"

namespace tplaunch {
namespace {

struct Result {
  double seconds = 0;
  int64_t daemon_calls = 0;
  int failures = 0;
};

GrpcStoreOptions DaemonOptions(const RendezvousServer& daemon,
                               const std::string& job) {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(daemon.address(), 0).value();
  options.job = job;
  return options;
}

int64_t DaemonCalls(const RendezvousServer& daemon) {
  absl::StatusOr<RendezvousStats> stats =
      GetRendezvousStats(DaemonOptions(daemon, "stats"));
  return stats.ok() ? stats->calls : -1;
}

Result RunOnce(const RendezvousServer& daemon, bool through_proxies, int nodes,
               int ranks_per_node, const std::string& job,
               const std::string& socket_root) {
  std::vector<std::unique_ptr<StoreProxy>> proxies;
  if (through_proxies) {
    for (int p = 0; p < nodes; ++p) {
      StoreProxyOptions options;
      options.socket_dir = absl::StrCat(socket_root, "/", job, "-", p);
      options.job = job;
      options.upstream_name = "tprdzvd at " + daemon.address();
      // One distinct blocking call per node here: small pools.
      options.max_blocking_upstream_calls = 2;
      options.max_quick_upstream_calls = 2;
      std::shared_ptr<Store> upstream =
          std::move(ConnectGrpcStore(DaemonOptions(daemon, job)).value());
      proxies.push_back(StartStoreProxy(options, upstream).value());
    }
  }
  const int ranks = nodes * ranks_per_node;
  std::vector<std::unique_ptr<Store>> clients;
  for (int r = 0; r < ranks; ++r) {
    GrpcStoreOptions options = DaemonOptions(daemon, job);
    if (through_proxies) {
      options.endpoint = Endpoint{proxies[r / ranks_per_node]->target(), 0};
    }
    clients.push_back(std::move(ConnectGrpcStore(options).value()));
  }
  const int64_t calls_before = DaemonCalls(daemon);
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};
  const std::string id(128, 'x');
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      while (!go.load()) std::this_thread::yield();
      Store& store = *clients[r];
      if (!store.Add("nccl/count", 1).ok()) failures++;
      if (r == 0 && !store.Set("nccl/id/0", id).ok()) failures++;
      absl::StatusOr<std::string> got =
          store.Get("nccl/id/0", absl::Seconds(120));
      if (!got.ok() || *got != id) failures++;
    });
  }
  const absl::Time start = absl::Now();
  go.store(true);
  for (std::thread& thread : threads) thread.join();
  Result result;
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  // The stats call itself counts one.
  result.daemon_calls = DaemonCalls(daemon) - calls_before - 1;
  result.failures = failures.load();
  clients.clear();
  proxies.clear();
  return result;
}

int Main(int argc, char** argv) {
  CLI::App app{"NCCL-id rendezvous through node-local store proxies"};
  std::string nodes_list = "16,64,128";
  int ranks_per_node = 8;
  int runs = 3;
  app.add_option("--nodes", nodes_list,
                 "simulated node counts, comma-separated");
  app.add_option("--ranks-per-node", ranks_per_node, "ranks per node");
  app.add_option("--runs", runs, "runs per (mode, nodes)");
  CLI11_PARSE(app, argc, argv);

  std::string root = "/tmp/tpproxy-bench-XXXXXX";
  if (mkdtemp(root.data()) == nullptr) return 1;
  ServerOptions server_options;
  server_options.port = 0;
  std::unique_ptr<RendezvousServer> daemon =
      std::move(StartRendezvousServer(server_options).value());
  for (absl::string_view text : absl::StrSplit(nodes_list, ',')) {
    int nodes = 0;
    if (!absl::SimpleAtoi(text, &nodes) || nodes < 1) return 2;
    for (bool proxied : {false, true}) {
      for (int run = 0; run < runs; ++run) {
        const std::string job =
            absl::StrCat(proxied ? "p" : "d", nodes, "-", run);
        const Result r =
            RunOnce(*daemon, proxied, nodes, ranks_per_node, job, root);
        std::printf(
            "{\"mode\": \"%s\", \"nodes\": %d, \"ranks\": %d, \"run\": %d, "
            "\"seconds\": %.4f, \"daemon_calls\": %lld, \"failures\": %d}\n",
            proxied ? "proxy" : "direct", nodes, nodes * ranks_per_node, run,
            r.seconds, static_cast<long long>(r.daemon_calls), r.failures);
        std::fflush(stdout);
      }
    }
  }
  daemon->Shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(root, ignored);
  return 0;
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) { return tplaunch::Main(argc, argv); }
