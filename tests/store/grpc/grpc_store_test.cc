// GrpcStore against a real in-process tprdzvd server (port 0): the Store
// contract, then what only a networked store has (endpoints, connecting,
// tokens, jobs, TLS, a daemon that goes away, a client that gives up).
#include "store/grpc/grpc_store.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/rendezvous.grpc.pb.h"
#include "rendezvous/server.h"
#include "store/endpoint.h"
#include "store/grpc/rendezvous_admin.h"
#include "tests/store/store_contract.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::SharedTestPki;
using testing::TestPki;
using testing::WaitFor;

constexpr char kToken[] = "contract-token";
constexpr absl::Duration kLongWait = absl::Seconds(30);
// How long "promptly" may take on a loaded 2-core machine.
constexpr absl::Duration kPromptly = absl::Seconds(5);

std::shared_ptr<RendezvousServer> StartServer(ServerOptions options) {
  options.port = 0;
  absl::StatusOr<std::unique_ptr<RendezvousServer>> server =
      StartRendezvousServer(options);
  INFO(server.status().ToString());
  REQUIRE(server.ok());
  return std::shared_ptr<RendezvousServer>(std::move(*server));
}

std::shared_ptr<RendezvousServer> StartServer() {
  ServerOptions options;
  options.token = kToken;
  return StartServer(options);
}

GrpcStoreOptions ClientOptions(const RendezvousServer& server,
                               const std::string& job) {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(server.address(), 0).value();
  options.job = job;
  options.token = kToken;
  options.connect_timeout = absl::Seconds(10);
  return options;
}

std::unique_ptr<Store> Connect(const GrpcStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectGrpcStore(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

// One server per test case, authenticated; each store is a new job, and a
// neighbour job holding the same key names is filled beside it, so every
// contract check also checks that jobs do not leak into each other.
store_contract::StoreFactory GrpcStores() {
  std::shared_ptr<RendezvousServer> server = StartServer();
  auto next = std::make_shared<int>(0);
  return [server, next]() -> std::unique_ptr<Store> {
    const int n = (*next)++;
    absl::StatusOr<std::unique_ptr<Store>> neighbour =
        ConnectGrpcStore(ClientOptions(*server, absl::StrCat("neighbour_", n)));
    if (!neighbour.ok()) return nullptr;
    for (const char* key : {"a", "k", "n", "rank_0", "counter", "go"}) {
      if (!(*neighbour)->Set(key, "neighbour").ok()) return nullptr;
    }
    absl::StatusOr<std::unique_ptr<Store>> store =
        ConnectGrpcStore(ClientOptions(*server, absl::StrCat("job_", n)));
    if (!store.ok()) return nullptr;
    return std::move(*store);
  };
}

TPLAUNCH_STORE_CONTRACT_TESTS("GrpcStore", GrpcStores)

// ---- Endpoints and connecting ----

TEST_CASE("GrpcStore: endpoints are parsed and bad ones rejected",
          "[store][grpc]") {
  // GrpcStore takes an Endpoint that its caller parsed with the one parser.
  auto parse = [](const char* text) {
    return ParseEndpoint(text, kDefaultRendezvousPort);
  };
  CHECK(parse("node1:1234").value().ToString() == "node1:1234");
  CHECK(parse("node1").value().ToString() == "node1:29400");
  CHECK(parse("[::1]:5").value().ToString() == "[::1]:5");
  CHECK(parse("[fe80::1]").value().ToString() == "[fe80::1]:29400");
  CHECK(parse("127.0.0.1:65535").value().ToString() == "127.0.0.1:65535");
  // A bare IPv6 literal cannot carry a port, so it is the whole host (as
  // tplaunch's CLI always read it).
  CHECK(parse("::1").value().ToString() == "[::1]:29400");

  for (const char* bad : {"", ":80", "host:", "host:0", "host:65536", "host:-1",
                          "host:http", "host:80x", "[::1", "[::1]80", "[]:80",
                          "a b:80", "http://host:80", "host:+80"}) {
    INFO("endpoint '" << bad << "'");
    const absl::StatusOr<Endpoint> parsed = parse(bad);
    REQUIRE(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  }

  // An endpoint nobody parsed is refused before dialling.
  for (const Endpoint& unset :
       {Endpoint{}, Endpoint{"host", 0}, Endpoint{"", 80}}) {
    GrpcStoreOptions options;
    options.endpoint = unset;
    options.job = "j";
    options.connect_timeout = absl::Milliseconds(100);
    const absl::StatusOr<std::unique_ptr<Store>> store =
        ConnectGrpcStore(options);
    REQUIRE(store.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("GrpcStore: a job and a whole client certificate are required",
          "[store][grpc]") {
  GrpcStoreOptions options;
  options.endpoint = Endpoint{"127.0.0.1", 1};
  options.connect_timeout = absl::Milliseconds(100);
  const absl::StatusOr<std::unique_ptr<Store>> no_job =
      ConnectGrpcStore(options);
  REQUIRE(no_job.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(no_job.status().message(), "job"));

  options.job = "j";
  options.tls_root_certs_pem = "root";
  options.tls_client_cert_pem = "cert without key";
  REQUIRE(ConnectGrpcStore(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
}

TEST_CASE(
    "GrpcStore: connecting to a closed port gives Unavailable at the timeout",
    "[store][grpc]") {
  // A bound but not listening socket: connections are refused, and no other
  // process can take the port while the test runs.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
          0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const std::string endpoint =
      absl::StrCat("127.0.0.1:", ntohs(address.sin_port));

  GrpcStoreOptions options;
  options.endpoint = Endpoint{"127.0.0.1", ntohs(address.sin_port)};
  options.job = "j";
  options.connect_timeout = absl::Milliseconds(700);
  const absl::Time start = absl::Now();
  const absl::StatusOr<std::unique_ptr<Store>> store =
      ConnectGrpcStore(options);
  const absl::Duration elapsed = absl::Now() - start;
  close(fd);

  INFO(store.status().ToString());
  REQUIRE(store.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(store.status().message(), endpoint));
  CHECK(absl::StrContains(store.status().message(), "700ms"));
  CHECK(elapsed >= absl::Milliseconds(700));
  CHECK(elapsed < absl::Milliseconds(700) + kPromptly);
}

TEST_CASE("GrpcStore: connects over IPv6", "[store][grpc]") {
  ServerOptions server_options;
  server_options.host = "::1";
  std::shared_ptr<RendezvousServer> server = StartServer(server_options);
  REQUIRE(absl::StartsWith(server->address(), "[::1]:"));
  GrpcStoreOptions options = ClientOptions(*server, "v6");
  options.token.clear();
  std::unique_ptr<Store> store = Connect(options);
  REQUIRE(store->Set("k", "v").ok());
  REQUIRE(store->Get("k", kLongWait).value() == "v");
}

// ---- Tokens and jobs ----

TEST_CASE("GrpcStore: a wrong or missing token is Unauthenticated",
          "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  for (const std::string token : {"wrong", ""}) {
    INFO("token '" << token << "'");
    GrpcStoreOptions options = ClientOptions(*server, "j");
    options.token = token;
    std::unique_ptr<Store> intruder = Connect(options);
    const absl::Status set = intruder->Set("k", "v");
    INFO(set.ToString());
    REQUIRE(set.code() == absl::StatusCode::kUnauthenticated);
    CHECK(absl::StrContains(set.message(), "'k'"));
    CHECK(absl::StrContains(set.message(), server->address()));
    REQUIRE(intruder->TryGet("k").status().code() ==
            absl::StatusCode::kUnauthenticated);
    REQUIRE(intruder->Get("k", absl::Seconds(1)).status().code() ==
            absl::StatusCode::kUnauthenticated);
    REQUIRE(intruder->Add("n", 1).status().code() ==
            absl::StatusCode::kUnauthenticated);
    REQUIRE(GetRendezvousStats(options).status().code() ==
            absl::StatusCode::kUnauthenticated);
  }
  // Nothing was written.
  REQUIRE(Connect(ClientOptions(*server, "j"))->NumKeys().value() == 0);
  REQUIRE(server->stats().keys == 0);
}

TEST_CASE("GrpcStore: jobs are isolated", "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> a = Connect(ClientOptions(*server, "job_a"));
  std::unique_ptr<Store> b = Connect(ClientOptions(*server, "job_b"));
  REQUIRE(a->Set("k", "from a").ok());
  REQUIRE(a->Add("n", 7).ok());
  REQUIRE(b->TryGet("k").status().code() == absl::StatusCode::kNotFound);
  REQUIRE(b->NumKeys().value() == 0);
  REQUIRE(b->ListKeys("").value().empty());
  REQUIRE(b->Add("n", 1).value() == 1);
  const absl::Status timed_out = b->Wait({"k"}, absl::Milliseconds(50));
  REQUIRE(timed_out.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(absl::StrContains(timed_out.message(), "job 'job_b'"));

  // Deleting one job leaves the other alone.
  REQUIRE(DeleteRendezvousJob(ClientOptions(*server, "job_a")).value() == 2);
  REQUIRE(a->NumKeys().value() == 0);
  REQUIRE(b->TryGet("n").value() == "1");
}

TEST_CASE("GrpcStore: DeleteJob cancels the job's waiters", "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> store = Connect(ClientOptions(*server, "doomed"));
  absl::StatusOr<std::string> got = absl::UnknownError("not run");
  std::thread getter([&] { got = store->Get("never", kLongWait); });
  REQUIRE(WaitFor([&] { return server->stats().waiters == 1; }, kLongWait));
  REQUIRE(DeleteRendezvousJob(ClientOptions(*server, "doomed")).ok());
  getter.join();
  INFO(got.status().ToString());
  REQUIRE(got.status().code() == absl::StatusCode::kCancelled);
  CHECK(absl::StrContains(got.status().message(), "'never'"));
}

// ---- Blocking ----

TEST_CASE("GrpcStore: a timeout names the key, job, endpoint and time",
          "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> store = Connect(ClientOptions(*server, "j1"));
  const absl::StatusOr<std::string> got =
      store->Get("rank_3", absl::Milliseconds(300));
  REQUIRE(got.status().code() == absl::StatusCode::kDeadlineExceeded);
  REQUIRE(got.status().message() ==
          absl::StrCat(
              "timed out after 300ms waiting for key 'rank_3' in job 'j1' on ",
              server->address()));

  // A multi-key wait names only the keys still missing.
  REQUIRE(store->Set("rank_0", "here").ok());
  const absl::Status waited =
      store->Wait({"rank_0", "rank_1", "rank_2"}, absl::Milliseconds(100));
  REQUIRE(waited.code() == absl::StatusCode::kDeadlineExceeded);
  INFO(waited.ToString());
  CHECK(absl::StrContains(waited.message(), "2 of 3 keys"));
  CHECK(absl::StrContains(waited.message(), "'rank_1', 'rank_2'"));
  CHECK_FALSE(absl::StrContains(waited.message(), "rank_0"));

  // Past 64 keys the client stops looking and says so.
  std::vector<std::string> many;
  for (int i = 0; i < 70; ++i) many.push_back(absl::StrCat("r", i));
  const absl::Status many_missing = store->Wait(many, absl::Milliseconds(50));
  REQUIRE(many_missing.code() == absl::StatusCode::kDeadlineExceeded);
  INFO(many_missing.ToString());
  CHECK(absl::StrContains(many_missing.message(),
                          "70 keys (at least 64 missing: 'r0', 'r1'"));
  CHECK(absl::StrContains(many_missing.message(), "and 56 more)"));
}

TEST_CASE(
    "GrpcStore: a timed-out Get or Wait is one RPC, explained by the "
    "daemon",
    "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> store = Connect(ClientOptions(*server, "j2"));
  REQUIRE(store->Set("rank_0", "here").ok());
  std::vector<std::string> many;
  for (int i = 0; i < 70; ++i) many.push_back(absl::StrCat("r", i));

  struct Case {
    const char* name;
    std::function<absl::Status()> call;
    std::string message;
  };
  const std::string on = absl::StrCat(" in job 'j2' on ", server->address());
  const std::vector<Case> cases = {
      {"Get",
       [&] { return store->Get("rank_3", absl::Milliseconds(50)).status(); },
       absl::StrCat("timed out after 50ms waiting for key 'rank_3'", on)},
      {"Get at once",
       [&] { return store->Get("rank_3", absl::ZeroDuration()).status(); },
       absl::StrCat("timed out after 0 waiting for key 'rank_3'", on)},
      {"Wait",
       [&] {
         return store->Wait({"rank_0", "rank_1", "rank_2"},
                            absl::Milliseconds(50));
       },
       absl::StrCat("timed out after 50ms waiting for 2 of 3 keys (missing "
                    "'rank_1', 'rank_2')",
                    on)},
      {"Wait at once",
       [&] {
         return store->Wait({"rank_0", "rank_1"}, absl::ZeroDuration());
       },
       absl::StrCat("timed out after 0 waiting for 1 of 2 keys (missing "
                    "'rank_1')",
                    on)},
      {"Wait on 70 keys",
       [&] { return store->Wait(many, absl::Milliseconds(50)); },
       absl::StrCat("timed out after 50ms waiting for 70 keys (at least 64 "
                    "missing: 'r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7' "
                    "and 56 more)",
                    on)},
      {"MultiGet",
       [&] {
         return store->MultiGet({"rank_0", "rank_9"}, absl::Milliseconds(50))
             .status();
       },
       absl::StrCat("timed out after 50ms waiting for 1 of 2 keys (missing "
                    "'rank_9')",
                    on)},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const int64_t before = server->stats().calls;
    const absl::Status status = c.call();
    CHECK(server->stats().calls - before == 1);
    REQUIRE(status.code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(status.message() == c.message);
  }
  // GetStats reports the same counter.
  const int64_t calls = server->stats().calls;
  REQUIRE(GetRendezvousStats(ClientOptions(*server, "j2")).value().calls ==
          calls + 1);
}

TEST_CASE(
    "GrpcStore: the daemon parks every blocked Get and one Set releases them",
    "[store][grpc]") {
  constexpr int kGetters = 32;
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> store = Connect(ClientOptions(*server, "j"));
  std::vector<absl::StatusOr<std::string>> got(kGetters,
                                               absl::UnknownError("not run"));
  std::vector<std::thread> getters;
  for (int i = 0; i < kGetters; ++i) {
    getters.emplace_back([&, i] { got[i] = store->Get("go", kLongWait); });
  }
  REQUIRE(
      WaitFor([&] { return server->stats().waiters == kGetters; }, kLongWait));
  REQUIRE(store->Set("go", "now").ok());
  for (std::thread& getter : getters) getter.join();
  for (const auto& value : got) REQUIRE(value.value() == "now");
  REQUIRE(server->stats().waiters == 0);
}

TEST_CASE("GrpcStore: timeouts beyond 30 days are capped, not refused",
          "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> store = Connect(ClientOptions(*server, "j"));
  absl::StatusOr<std::string> got = absl::UnknownError("not run");
  std::thread getter([&] { got = store->Get("k", absl::InfiniteDuration()); });
  REQUIRE(WaitFor([&] { return server->stats().waiters == 1; }, kLongWait));
  REQUIRE(store->Set("k", "v").ok());
  getter.join();
  INFO(got.status().ToString());
  REQUIRE(got.value() == "v");
  REQUIRE(store->Wait({"k"}, absl::InfiniteDuration()).ok());
}

TEST_CASE("GrpcStore: a daemon shut down under a blocked Get fails it promptly",
          "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> store = Connect(ClientOptions(*server, "j"));
  absl::StatusOr<std::string> got = absl::UnknownError("not run");
  absl::Time returned_at;
  std::thread getter([&] {
    got = store->Get("never", kLongWait);
    returned_at = absl::Now();
  });
  REQUIRE(WaitFor([&] { return server->stats().waiters == 1; }, kLongWait));
  const absl::Time shutdown_at = absl::Now();
  server->Shutdown();
  getter.join();
  INFO(got.status().ToString());
  REQUIRE((got.status().code() == absl::StatusCode::kUnavailable ||
           got.status().code() == absl::StatusCode::kCancelled));
  CHECK(absl::StrContains(got.status().message(), "'never'"));
  CHECK(returned_at - shutdown_at < kPromptly);

  // Later calls fail fast too, naming the endpoint, instead of waiting for a
  // reconnect.
  const absl::Time start = absl::Now();
  const absl::Status set = store->Set("k", "v");
  REQUIRE(set.code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(set.message(), server->address()));
  CHECK(absl::Now() - start < kPromptly);
}

TEST_CASE("GrpcStore: a client that gives up leaves no waiter behind",
          "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  // The generated stub, because a Store call cannot be cancelled from outside.
  auto stub = rendezvous::v1::Rendezvous::NewStub(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kLongWait));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  rendezvous::v1::GetRequest request;
  request.set_job("j");
  request.set_key("never");
  rendezvous::v1::GetResponse response;
  grpc::Status status;
  std::thread getter([&] { status = stub->Get(&context, request, &response); });
  REQUIRE(WaitFor([&] { return server->stats().waiters == 1; }, kLongWait));
  context.TryCancel();
  getter.join();
  REQUIRE(status.error_code() == grpc::StatusCode::CANCELLED);
  REQUIRE(WaitFor([&] { return server->stats().waiters == 0; }, kLongWait));
}

// ---- Sizes and limits ----

TEST_CASE("GrpcStore: values over gRPC's default 4 MiB message size pass",
          "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  std::unique_ptr<Store> store = Connect(ClientOptions(*server, "j"));
  const std::string big(6 << 20, 'x');
  REQUIRE(store->Set("big", big).ok());
  REQUIRE(store->Get("big", kLongWait).value() == big);
  REQUIRE(store->MultiGet({"big"}, kLongWait).value().front().size() ==
          big.size());
}

TEST_CASE("GrpcStore: the daemon's limits come back as InvalidArgument",
          "[store][grpc]") {
  ServerOptions server_options;
  server_options.max_value_bytes = 1024;
  server_options.max_keys_per_job = 2;
  std::shared_ptr<RendezvousServer> server = StartServer(server_options);
  GrpcStoreOptions options = ClientOptions(*server, "j");
  options.token.clear();
  std::unique_ptr<Store> store = Connect(options);
  const absl::Status too_big = store->Set("k", std::string(2000, 'v'));
  INFO(too_big.ToString());
  REQUIRE(too_big.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(too_big.message(), "2000"));
  CHECK(absl::StrContains(too_big.message(), "'k'"));
  REQUIRE(store->Set("a", "1").ok());
  REQUIRE(store->Set("b", "1").ok());
  REQUIRE(store->Set("c", "1").code() == absl::StatusCode::kResourceExhausted);
}

// ---- Admin ----

TEST_CASE("GrpcStore: stats and health", "[store][grpc]") {
  std::shared_ptr<RendezvousServer> server = StartServer();
  GrpcStoreOptions options = ClientOptions(*server, "j");
  REQUIRE(Connect(options)->Set("k", "v").ok());
  const absl::StatusOr<RendezvousStats> stats = GetRendezvousStats(options);
  REQUIRE(stats.ok());
  CHECK(stats->jobs == 1);
  CHECK(stats->keys == 1);
  CHECK(stats->waiters == 0);
  REQUIRE(CheckRendezvousHealth(options).ok());

  server->Shutdown();
  options.connect_timeout = absl::Milliseconds(300);
  const absl::Status health = CheckRendezvousHealth(options);
  INFO(health.ToString());
  REQUIRE(health.code() == absl::StatusCode::kUnavailable);
}

// ---- TLS ----

TEST_CASE("GrpcStore: TLS", "[store][grpc][tls]") {
  const TestPki& pki = SharedTestPki();
  REQUIRE_FALSE(pki.client_key.empty());
  ServerOptions server_options;
  server_options.tls_cert_pem = pki.server_cert;
  server_options.tls_key_pem = pki.server_key;
  std::shared_ptr<RendezvousServer> server = StartServer(server_options);

  GrpcStoreOptions options = ClientOptions(*server, "j");
  options.token.clear();
  options.tls_root_certs_pem = pki.ca;
  std::unique_ptr<Store> store = Connect(options);
  REQUIRE(store->Set("k", "v").ok());
  REQUIRE(store->Get("k", kLongWait).value() == "v");

  // The certificate names 127.0.0.1 and localhost; the override checks another
  // name.
  GrpcStoreOptions by_name = options;
  by_name.endpoint = Endpoint{"localhost", server->port()};
  REQUIRE(Connect(by_name)->TryGet("k").value() == "v");

  GrpcStoreOptions wrong_name = options;
  wrong_name.tls_server_name = "not-the-server.example";
  wrong_name.connect_timeout = absl::Milliseconds(500);
  REQUIRE(ConnectGrpcStore(wrong_name).status().code() ==
          absl::StatusCode::kUnavailable);

  GrpcStoreOptions wrong_ca = options;
  wrong_ca.tls_root_certs_pem = pki.other_ca;
  wrong_ca.connect_timeout = absl::Milliseconds(500);
  const absl::StatusOr<std::unique_ptr<Store>> untrusted =
      ConnectGrpcStore(wrong_ca);
  INFO(untrusted.status().ToString());
  REQUIRE(untrusted.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(untrusted.status().message(), "TLS"));

  GrpcStoreOptions plaintext = options;
  plaintext.tls_root_certs_pem.clear();
  plaintext.connect_timeout = absl::Milliseconds(500);
  REQUIRE(ConnectGrpcStore(plaintext).status().code() ==
          absl::StatusCode::kUnavailable);
}

TEST_CASE("GrpcStore: TLS with client certificates", "[store][grpc][tls]") {
  const TestPki& pki = SharedTestPki();
  REQUIRE_FALSE(pki.client_key.empty());
  ServerOptions server_options;
  server_options.tls_cert_pem = pki.server_cert;
  server_options.tls_key_pem = pki.server_key;
  server_options.tls_client_ca_pem = pki.ca;
  std::shared_ptr<RendezvousServer> server = StartServer(server_options);

  GrpcStoreOptions options = ClientOptions(*server, "j");
  options.tls_root_certs_pem = pki.ca;
  options.tls_client_cert_pem = pki.client_cert;
  options.tls_client_key_pem = pki.client_key;
  REQUIRE(Connect(options)->Set("k", "v").ok());

  GrpcStoreOptions anonymous = options;
  anonymous.tls_client_cert_pem.clear();
  anonymous.tls_client_key_pem.clear();
  anonymous.connect_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectGrpcStore(anonymous);
  // Depending on the TLS version the refusal comes at the handshake or at the
  // first call; either way nothing is read.
  if (store.ok()) {
    REQUIRE((*store)->TryGet("k").status().code() ==
            absl::StatusCode::kUnavailable);
  } else {
    REQUIRE(store.status().code() == absl::StatusCode::kUnavailable);
  }
}

}  // namespace
}  // namespace tplaunch
