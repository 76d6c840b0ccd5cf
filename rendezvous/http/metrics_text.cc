#include "rendezvous/http/metrics_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace tplaunch {
namespace {

// A label value as the format wants it: backslash, quote and newline escaped.
std::string Label(const std::string& value) {
  return absl::StrReplaceAll(value,
                             {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

void Header(std::string& out, const char* name, const char* type,
            const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                  type, "\n");
}

void Gauge(std::string& out, const char* name, const char* help,
           int64_t value) {
  Header(out, name, "gauge", help);
  absl::StrAppend(&out, name, " ", value, "\n");
}

constexpr const char* kStates[] = {"waiting", "running", "ended_ok",
                                   "ended_failed", "store_only"};

}  // namespace

std::string RenderMetrics(const rendezvous::v1::LiveJobList& jobs,
                          const DaemonCounters& counters,
                          const RpcMetricsSnapshot& rpcs,
                          const std::string& version) {
  std::string out;
  Header(out, "tprdzvd_build_info", "gauge",
         "Always 1; the daemon's version in the label.");
  absl::StrAppend(&out, "tprdzvd_build_info{version=\"", Label(version),
                  "\"} 1\n");
  Gauge(out, "tprdzvd_jobs", "Jobs (run ids) the daemon holds.", counters.jobs);
  Gauge(out, "tprdzvd_keys", "Keys held, all jobs.", counters.keys);
  Gauge(out, "tprdzvd_parked_waiters",
        "Calls parked waiting for keys (gRPC Get/Wait/MultiGet and TCPStore "
        "WAIT).",
        counters.waiters);
  Gauge(out, "tprdzvd_parked_bytes",
        "Estimated bytes the parked gRPC calls hold.", counters.parked_bytes);
  Header(out, "tprdzvd_open_connections", "gauge",
         "Client connections open now, by listener.");
  absl::StrAppend(&out, "tprdzvd_open_connections{listener=\"grpc\"} ",
                  counters.grpc_connections,
                  "\ntprdzvd_open_connections{listener=\"torch_store\"} ",
                  counters.torch_store_connections, "\n");
  Header(out, "tprdzvd_refused_connections_total", "counter",
         "gRPC connections closed at once at --max-connections.");
  absl::StrAppend(&out, "tprdzvd_refused_connections_total ",
                  counters.grpc_refused, "\n");

  int64_t bytes = 0;
  for (const auto& job : jobs.jobs()) bytes += job.bytes();
  Gauge(out, "tprdzvd_bytes", "Bytes of keys and values held, all jobs.",
        bytes);

  Header(out, "tprdzvd_rpcs_total", "counter",
         "gRPC calls finished, by method and status code.");
  for (const auto& [key, calls] : rpcs.calls) {
    absl::StrAppend(&out, "tprdzvd_rpcs_total{method=\"", Label(key.first),
                    "\",code=\"", key.second, "\"} ", calls, "\n");
  }
  Header(out, "tprdzvd_rpc_duration_seconds", "histogram",
         "Time from a gRPC call's arrival to its status, by method (blocking "
         "calls include their wait).");
  for (const auto& [method, latency] : rpcs.latency) {
    const std::string m = Label(method);
    for (size_t i = 0; i < kRpcLatencyBuckets.size(); ++i) {
      absl::StrAppend(&out, "tprdzvd_rpc_duration_seconds_bucket{method=\"", m,
                      "\",le=\"", kRpcLatencyBuckets[i], "\"} ",
                      latency.buckets[i], "\n");
    }
    absl::StrAppend(&out, "tprdzvd_rpc_duration_seconds_bucket{method=\"", m,
                    "\",le=\"+Inf\"} ", latency.count, "\n",
                    "tprdzvd_rpc_duration_seconds_sum{method=\"", m, "\"} ",
                    latency.sum_s, "\n",
                    "tprdzvd_rpc_duration_seconds_count{method=\"", m, "\"} ",
                    latency.count, "\n");
  }

  struct PerRun {
    const char* name;
    const char* help;
    int64_t (*value)(const rendezvous::v1::LiveJob&);
  };
  const PerRun per_run[] = {
      {"tprdzvd_run_nodes_joined",
       "Nodes of the current attempt that joined and still count.",
       [](const rendezvous::v1::LiveJob& j) -> int64_t {
         return j.nodes_joined();
       }},
      {"tprdzvd_run_nodes_expected",
       "Members of the current attempt once its rendezvous closed (0 while "
       "open).",
       [](const rendezvous::v1::LiveJob& j) -> int64_t {
         return j.nodes_expected();
       }},
      {"tprdzvd_run_nodes_alive", "Nodes whose heartbeat is younger than 30 s.",
       [](const rendezvous::v1::LiveJob& j) -> int64_t {
         int64_t alive = 0;
         for (const auto& n : j.nodes()) {
           if (!n.gone() && n.heartbeat_age_s() >= 0 &&
               n.heartbeat_age_s() < 30)
             ++alive;
         }
         return alive;
       }},
      {"tprdzvd_run_attempt", "The run's current attempt.",
       [](const rendezvous::v1::LiveJob& j) -> int64_t { return j.attempt(); }},
      {"tprdzvd_run_restarts", "Attempts of the run that ended in a failure.",
       [](const rendezvous::v1::LiveJob& j) -> int64_t {
         return j.restarts();
       }},
      {"tprdzvd_run_parked_calls", "Calls of the run parked waiting for keys.",
       [](const rendezvous::v1::LiveJob& j) -> int64_t {
         return j.parked_calls();
       }},
  };
  for (const PerRun& metric : per_run) {
    Header(out, metric.name, "gauge", metric.help);
    for (const auto& job : jobs.jobs()) {
      absl::StrAppend(&out, metric.name, "{run_id=\"", Label(job.run_id()),
                      "\"} ", metric.value(job), "\n");
    }
  }
  Header(out, "tprdzvd_run_state", "gauge",
         "1 for the run's state, 0 for the others.");
  for (const auto& job : jobs.jobs()) {
    for (const char* state : kStates) {
      absl::StrAppend(&out, "tprdzvd_run_state{run_id=\"", Label(job.run_id()),
                      "\",state=\"", state, "\"} ",
                      job.state() == state ? 1 : 0, "\n");
    }
  }
  return out;
}

}  // namespace tplaunch
