// End to end: the real tprdzvd with --http-port 0 and a token, driven over
// gRPC (GrpcStore) and HTTP (cpp-httplib's client): auth, the JSON API's
// who-is-stuck view, /metrics through Debian's promtool, and a slow HTTP
// client that must not stall the gRPC port.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "tests/rendezvous/http/live_daemon.h"
#include "tests/testing/test_pki.h"

namespace tplaunch {
namespace {

using testing::LiveDaemon;

constexpr char kToken[] = "tok-5a7c1e";
constexpr char kSecretValue[] = "VALUE-never-shown-3f9d";

std::unique_ptr<Store> Connect(const LiveDaemon& daemon, const std::string& job,
                               const std::string& caller_label = "") {
  GrpcStoreOptions options;
  options.caller_label = caller_label;
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(daemon.endpoint(), 0);
  REQUIRE(endpoint.ok());
  options.endpoint = *endpoint;
  options.job = job;
  options.token = kToken;
  options.connect_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectGrpcStore(options);
  REQUIRE(store.ok());
  return *std::move(store);
}

std::vector<std::string> TokenFlags() {
  const std::string path = testing::MakeTempDir() + "/token";
  testing::WriteFile(path, kToken);
  return {"--token-file", path};
}

const httplib::Headers kBearer = {
    {"Authorization", std::string("Bearer ") + kToken}};

// The value of `name{labels}` in a Prometheus text body; -1 when absent.
double Sample(const std::string& body, const std::string& series) {
  const size_t at = body.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  const size_t start = at + series.size() + 2;
  double value = -1;
  if (!absl::SimpleAtod(body.substr(start, body.find('\n', start) - start),
                        &value)) {
    return -1;
  }
  return value;
}

TEST_CASE("every page and API needs the token, but /healthz") {
  LiveDaemon daemon(TokenFlags());
  CHECK(daemon.Get("/healthz").status == 200);
  for (const char* path :
       {"/", "/jobs/x", "/api/v1/jobs", "/api/v1/jobs/x", "/metrics"}) {
    INFO(path);
    CHECK(daemon.Get(path).status == 401);
    CHECK(daemon.Get(path, {{"Authorization", "Bearer wrong"}}).status == 401);
    CHECK(daemon.Get(path, {{"Cookie", "tprdzv_token=wrong"}}).status == 401);
    CHECK(daemon.Get(absl::StrCat(path, "?token=wrong")).status == 401);
  }
  CHECK(daemon.Get("/api/v1/jobs", kBearer).status == 200);

  // The browser flow: ?token= once sets the cookie, which alone lets in.
  LiveDaemon::Reply first = daemon.Get(absl::StrCat("/?token=", kToken));
  CHECK(first.status == 200);
  CHECK(first.body.find("<title>tprdzvd live view</title>") !=
        std::string::npos);
  CHECK(first.set_cookie.find(absl::StrCat("tprdzv_token=", kToken)) == 0);
  CHECK(first.set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(first.set_cookie.find("SameSite=Strict") != std::string::npos);
  const std::string cookie =
      first.set_cookie.substr(0, first.set_cookie.find(';'));
  LiveDaemon::Reply later = daemon.Get("/api/v1/jobs", {{"Cookie", cookie}});
  CHECK(later.status == 200);
  CHECK(later.set_cookie.empty());
  CHECK(daemon.Get("/api/v1/jobs/none", kBearer).status == 404);
}

TEST_CASE("the API shows who waits on which key, never a value") {
  LiveDaemon daemon(TokenFlags());
  std::unique_ptr<Store> store = Connect(daemon, "run-stuck");
  REQUIRE(store->Set("nccl/id/0-other", kSecretValue).ok());
  // Two ranks parked on a key nobody set yet.
  std::atomic<int> finished{0};
  std::vector<std::thread> ranks;
  std::vector<absl::Status> results(2);
  // Connected here: Catch2 assertions (Connect's) only on the main thread.
  std::vector<std::unique_ptr<Store>> mine;
  // Labelled as worker_lib labels its ranks' connections.
  for (int r = 0; r < 2; ++r) {
    mine.push_back(Connect(daemon, "run-stuck", absl::StrCat("rank ", 3 + r)));
  }
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      results[r] = mine[r]->Get("nccl/id/0", absl::Seconds(60)).status();
      ++finished;
    });
  }
  std::string body;
  const bool parked = testing::WaitFor(
      [&] {
        body = daemon.Get("/api/v1/jobs/run-stuck", kBearer).body;
        // A waiter's label is recorded just after it parks (LabelWaiter):
        // wait for both labels, not only both waiters.
        return body.find("\"waiters\":\"2\"") != std::string::npos &&
               body.find("\"labelled\":\"2\"") != std::string::npos;
      },
      absl::Seconds(30));
  INFO(body);
  CHECK(parked);
  CHECK(body.find("\"key\":\"nccl/id/0\"") != std::string::npos);
  CHECK(body.find("\"parkedCalls\":\"2\"") != std::string::npos);
  CHECK(body.find("\"who\":\"ranks 3-4\"") != std::string::npos);
  CHECK(body.find("\"labelled\":\"2\"") != std::string::npos);
  CHECK(body.find("\"runId\":\"run-stuck\"") != std::string::npos);
  for (const char* path :
       {"/api/v1/jobs", "/api/v1/jobs/run-stuck", "/metrics", "/"}) {
    INFO(path);
    CHECK(daemon.Get(path, kBearer).body.find(kSecretValue) ==
          std::string::npos);
  }
  REQUIRE(store->Set("nccl/id/0", kSecretValue).ok());
  for (std::thread& t : ranks) t.join();
  CHECK(finished == 2);
  CHECK(results[0].ok());
  CHECK(results[1].ok());
  CHECK(daemon.Get("/api/v1/jobs/run-stuck", kBearer)
            .body.find("\"parked\":[]") != std::string::npos);
}

TEST_CASE("/metrics passes promtool and its counters move with RPCs") {
  LiveDaemon daemon(TokenFlags());
  std::unique_ptr<Store> store = Connect(daemon, "run-m");
  REQUIRE(store->Set("a", "1").ok());
  const std::string before = daemon.Get("/metrics", kBearer).body;
  const std::string set_ok = "tprdzvd_rpcs_total{method=\"Set\",code=\"OK\"}";
  const double sets = Sample(before, set_ok);
  CHECK(sets >= 1);
  REQUIRE(store->Set("b", "2").ok());
  REQUIRE(store->Set("c", "3").ok());
  CHECK_FALSE(store->TryGet("missing").ok());
  const std::string after = daemon.Get("/metrics", kBearer).body;
  INFO(after);
  CHECK(Sample(after, set_ok) == sets + 2);
  CHECK(Sample(after,
               "tprdzvd_rpcs_total{method=\"TryGet\",code=\"NOT_FOUND\"}") ==
        1);
  CHECK(Sample(after, "tprdzvd_rpc_duration_seconds_count{method=\"Set\"}") ==
        sets + 2);
  CHECK(Sample(after, "tprdzvd_keys") == 3);
  CHECK(Sample(after,
               "tprdzvd_run_state{run_id=\"run-m\",state=\"store_only\"}") ==
        1);
  CHECK(Sample(after, "tprdzvd_open_connections{listener=\"grpc\"}") >= 1);

  testing::SubprocessOptions options;
  options.stdin_bytes = after;
  testing::Subprocess promtool({"/usr/bin/promtool", "check", "metrics"},
                               options);
  const std::optional<int> status = promtool.Wait(absl::Seconds(60));
  INFO("promtool: " << promtool.out() << promtool.err());
  CHECK(status == 0);
}

TEST_CASE("HTTP clients that send nothing do not stall the gRPC port") {
  LiveDaemon daemon(TokenFlags());
  // More silent connections than the HTTP side has threads.
  std::vector<int> silent;
  for (int i = 0; i < 16; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(daemon.http_port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    silent.push_back(fd);
  }
  std::unique_ptr<Store> store = Connect(daemon, "run-slow");
  const absl::Time start = absl::Now();
  for (int i = 0; i < 20; ++i) REQUIRE(store->Set("k", "v").ok());
  // gRPC answered while every HTTP thread sat on a silent client.
  CHECK(absl::Now() - start < absl::Seconds(4));
  // The read timeout frees the threads again: the view answers.
  CHECK(daemon.Get("/healthz").status == 200);
  for (int fd : silent) close(fd);
}

TEST_CASE("with --tls-cert the view serves HTTPS with the same certificate") {
  const testing::TestPki& pki = testing::SharedTestPki();
  REQUIRE_FALSE(pki.server_cert.empty());
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/cert.pem", pki.server_cert);
  testing::WriteFile(dir + "/key.pem", pki.server_key);
  testing::WriteFile(dir + "/ca.pem", pki.ca);
  std::vector<std::string> flags = TokenFlags();
  flags.insert(flags.end(), {"--tls-cert", dir + "/cert.pem", "--tls-key",
                             dir + "/key.pem"});
  LiveDaemon daemon(flags);
  httplib::SSLClient client("127.0.0.1", daemon.http_port());
  client.set_ca_cert_path((dir + "/ca.pem").c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  auto healthz = client.Get("/healthz");
  REQUIRE(healthz);
  CHECK(healthz->status == 200);
  auto denied = client.Get("/api/v1/jobs");
  REQUIRE(denied);
  CHECK(denied->status == 401);
  auto jobs = client.Get("/api/v1/jobs", kBearer);
  REQUIRE(jobs);
  CHECK(jobs->status == 200);
  // Plain HTTP gets no answer from the HTTPS port.
  CHECK(daemon.Get("/healthz").status != 200);
}

}  // namespace
}  // namespace tplaunch
