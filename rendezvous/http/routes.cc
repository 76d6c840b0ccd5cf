#include "rendezvous/http/routes.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <algorithm>
#include <optional>

#include "absl/time/clock.h"
#include "rendezvous/http/http_auth.h"
#include "rendezvous/http/job_view.h"
#include "rendezvous/http/page.h"

namespace tplaunch {
namespace {

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  // Zeros and empty lists are shown, so the page never tests for absence.
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options)
           .ok()) {
    return "{}";
  }
  return json;
}

// Wraps `handler` in the token check; a denied request gets 401 and nothing
// else.
httplib::Server::Handler Guarded(const LiveSources& sources,
                                 httplib::Server::Handler handler) {
  return [token = sources.token, handler = std::move(handler)](
             const httplib::Request& req, httplib::Response& res) {
    const HttpAuth auth = CheckHttpAuth(
        token, req.get_header_value("Authorization"),
        req.get_header_value("Cookie"), req.get_param_value("token"));
    if (auth == HttpAuth::kDenied) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer realm=\"tprdzvd\"");
      res.set_content(
          "401: this daemon has a token: send Authorization: Bearer <token>, "
          "or open the page once as /?token=<token>\n",
          "text/plain");
      return;
    }
    if (auth == HttpAuth::kAllowedSetCookie) {
      res.set_header("Set-Cookie", SessionCookie(token));
    }
    res.set_header("Cache-Control", "no-store");
    handler(req, res);
  };
}

// Every job of the table, and those this process runs workers of, with
// their workers.
rendezvous::v1::LiveJobList JobList(const LiveSources& sources) {
  rendezvous::v1::LiveJobList list = BuildJobList(*sources.table, absl::Now());
  if (sources.local_jobs == nullptr) return list;
  for (const std::string& run_id : sources.local_jobs->RunIds()) {
    rendezvous::v1::LiveJob* job = nullptr;
    for (auto& j : *list.mutable_jobs()) {
      if (j.run_id() == run_id) job = &j;
    }
    if (job == nullptr) {
      job = list.add_jobs();
      job->set_run_id(run_id);
    }
    sources.local_jobs->Fill(run_id, *job);
  }
  std::sort(
      list.mutable_jobs()->begin(), list.mutable_jobs()->end(),
      [](const auto& a, const auto& b) { return a.run_id() < b.run_id(); });
  return list;
}

std::optional<rendezvous::v1::LiveJob> Job(const LiveSources& sources,
                                           const std::string& run_id) {
  std::optional<rendezvous::v1::LiveJob> job =
      BuildJob(*sources.table, run_id, absl::Now());
  if (sources.local_jobs == nullptr) return job;
  for (const std::string& local : sources.local_jobs->RunIds()) {
    if (local != run_id) continue;
    if (!job.has_value()) {
      job.emplace();
      job->set_run_id(run_id);
    }
    sources.local_jobs->Fill(run_id, *job);
  }
  return job;
}

}  // namespace

void InstallRoutes(const LiveSources& sources, httplib::Server& server) {
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  auto page = [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kLivePage, "text/html; charset=utf-8");
  };
  server.Get("/", Guarded(sources, page));
  server.Get(R"(/jobs/.+)", Guarded(sources, page));
  server.Get("/api/v1/jobs",
             Guarded(sources, [sources](const httplib::Request&,
                                        httplib::Response& res) {
               rendezvous::v1::LiveJobList list = JobList(sources);
               list.set_incarnation(sources.incarnation);
               list.set_calls(sources.counters().calls);
               res.set_content(ToJson(list), "application/json");
             }));
  server.Get(R"(/api/v1/jobs/(.+))",
             Guarded(sources, [sources](const httplib::Request& req,
                                        httplib::Response& res) {
               const std::string run_id = req.matches[1];
               auto job = Job(sources, run_id);
               if (!job.has_value()) {
                 res.status = 404;
                 res.set_content("{\"error\":\"no such job\"}",
                                 "application/json");
                 return;
               }
               res.set_content(ToJson(*job), "application/json");
             }));
  server.Get("/metrics", Guarded(sources, [sources](const httplib::Request&,
                                                    httplib::Response& res) {
               const RpcMetricsSnapshot rpcs = sources.rpcs == nullptr
                                                   ? RpcMetricsSnapshot{}
                                                   : sources.rpcs->Snapshot();
               res.set_content(
                   RenderMetrics(JobList(sources), sources.counters(), rpcs,
                                 sources.version),
                   "text/plain; version=0.0.4");
             }));
}

}  // namespace tplaunch
