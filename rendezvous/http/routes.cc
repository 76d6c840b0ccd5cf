#include "rendezvous/http/routes.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

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
               rendezvous::v1::LiveJobList list =
                   BuildJobList(*sources.table, absl::Now());
               list.set_incarnation(sources.incarnation);
               list.set_calls(sources.counters().calls);
               res.set_content(ToJson(list), "application/json");
             }));
  server.Get(R"(/api/v1/jobs/(.+))",
             Guarded(sources, [sources](const httplib::Request& req,
                                        httplib::Response& res) {
               const std::string run_id = req.matches[1];
               auto job = BuildJob(*sources.table, run_id, absl::Now());
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
                   RenderMetrics(BuildJobList(*sources.table, absl::Now()),
                                 sources.counters(), rpcs, sources.version),
                   "text/plain; version=0.0.4");
             }));
}

}  // namespace tplaunch
