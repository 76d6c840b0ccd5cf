// metrics_text: /metrics in Prometheus' text exposition format (version
// 0.0.4): per run from the live view's jobs, per daemon from its counters and
// RpcMetrics. Every metric is listed in docs/observability.md.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_METRICS_TEXT_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_METRICS_TEXT_H_

#include <cstdint>
#include <string>

#include "proto/live_view.pb.h"
#include "rendezvous/http/rpc_metrics.h"

namespace tplaunch {

// What the daemon counts outside the KvTable (filled by RendezvousServer).
struct DaemonCounters {
  int64_t grpc_connections = 0;
  int64_t torch_store_connections = 0;
  int64_t grpc_refused = 0;
  int64_t parked_bytes = 0;
  int64_t waiters = 0;  // Parked gRPC calls and TCPStore WAITs.
  int64_t keys = 0;
  int64_t jobs = 0;
  int64_t calls = 0;  // gRPC Rendezvous calls since the start.
};

std::string RenderMetrics(const rendezvous::v1::LiveJobList& jobs,
                          const DaemonCounters& counters,
                          const RpcMetricsSnapshot& rpcs,
                          const std::string& version);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_METRICS_TEXT_H_
