// RpcMetrics: counts of tprdzvd's gRPC calls by method and status code and a
// latency histogram per method, fed by a gRPC server interceptor (so the
// service's handlers stay untouched) and read by /metrics.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_RPC_METRICS_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_RPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace tplaunch {

// Upper bounds, in seconds, of the latency histogram's buckets (+Inf beside).
// Blocking calls (Get, Wait) count their whole wait, hence the long tail.
inline constexpr std::array<double, 12> kRpcLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 10, 60, 600};

struct RpcLatency {
  std::array<int64_t, kRpcLatencyBuckets.size()> buckets{};  // Cumulative.
  int64_t count = 0;
  double sum_s = 0;
};

struct RpcMetricsSnapshot {
  // (method, status code name) -> calls.
  std::map<std::pair<std::string, std::string>, int64_t> calls;
  std::map<std::string, RpcLatency> latency;  // By method.
};

class RpcMetrics final {
 public:
  // `method` is the bare name ("Set"), `code` gRPC's ("OK", "NOT_FOUND").
  void Record(const std::string& method, const std::string& code,
              double seconds);
  RpcMetricsSnapshot Snapshot() const;

 private:
  mutable std::mutex mu_;
  RpcMetricsSnapshot data_;  // Guarded by mu_.
};

// Name of a gRPC status code as the proto enum spells it.
std::string GrpcCodeName(int code);

// An interceptor factory for ServerBuilder::experimental()
// .SetInterceptorCreators; `metrics` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory(RpcMetrics* metrics);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_RPC_METRICS_H_
