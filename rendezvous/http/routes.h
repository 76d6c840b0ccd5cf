// routes: the live view's URLs on a cpp-httplib server. / and /jobs/<run_id>
// (the embedded page), /api/v1/jobs[/<run_id>] (JSON), /metrics (Prometheus),
// /healthz (no auth). docs/observability.md describes each.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_ROUTES_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_ROUTES_H_

#include <functional>
#include <memory>
#include <string>

#include "rendezvous/http/local_jobs.h"
#include "rendezvous/http/metrics_text.h"
#include "rendezvous/http/rpc_metrics.h"
#include "store/kv_table.h"

namespace httplib {
class Server;
}

namespace tplaunch {

// What the routes read; every pointer must outlive the HTTP server.
struct LiveSources {
  const KvTable* table = nullptr;
  std::function<DaemonCounters()> counters;
  const RpcMetrics* rpcs = nullptr;  // nullptr: no RPC metrics.
  // The daemon's token: "" lets everyone in (as the gRPC side does).
  std::string token;
  std::string incarnation;
  std::string version;
  // The workers this process runs (tplaunch --http-port); nullptr: none.
  std::shared_ptr<const LocalJobSource> local_jobs;
};

void InstallRoutes(const LiveSources& sources, httplib::Server& server);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_ROUTES_H_
