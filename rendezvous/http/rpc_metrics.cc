#include "rendezvous/http/rpc_metrics.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

namespace tplaunch {
namespace {

using grpc::experimental::InterceptionHookPoints;

// One per call: created when the call arrives, records once its status is
// about to be sent.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, std::string method)
      : metrics_(metrics),
        method_(std::move(method)),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const std::chrono::duration<double> took =
          std::chrono::steady_clock::now() - start_;
      metrics_->Record(method_,
                       GrpcCodeName(methods->GetSendStatus().error_code()),
                       took.count());
    }
    methods->Proceed();
  }

 private:
  RpcMetrics* const metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    std::string method = info->method() == nullptr ? "" : info->method();
    // "/tplaunch.rendezvous.v1.Rendezvous/Set" -> "Set"; the health service's
    // "/grpc.health.v1.Health/Check" -> "Health/Check".
    if (method.rfind("/tplaunch.rendezvous.v1.Rendezvous/", 0) == 0) {
      method = method.substr(method.rfind('/') + 1);
    } else if (!method.empty() && method[0] == '/') {
      const size_t slash = method.rfind('/');
      const size_t dot = method.rfind('.', slash);
      method = method.substr(dot == std::string::npos ? 1 : dot + 1);
    }
    return new MetricsInterceptor(metrics_, std::move(method));
  }

 private:
  RpcMetrics* const metrics_;
};

}  // namespace

void RpcMetrics::Record(const std::string& method, const std::string& code,
                        double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++data_.calls[{method, code}];
  RpcLatency& latency = data_.latency[method];
  for (size_t i = 0; i < kRpcLatencyBuckets.size(); ++i) {
    if (seconds <= kRpcLatencyBuckets[i]) ++latency.buckets[i];
  }
  ++latency.count;
  latency.sum_s += seconds;
}

RpcMetricsSnapshot RpcMetrics::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return data_;
}

std::string GrpcCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory(RpcMetrics* metrics) {
  return std::make_unique<MetricsInterceptorFactory>(metrics);
}

}  // namespace tplaunch
