// The node-local store proxy against a real in-process tprdzvd: coalescing
// (many local Gets of one key, one upstream Get, the value to all), each
// caller's own deadline, upstream loss, the token on the socket, the socket
// directory's mode and the socket's removal.
#include "store/proxy/store_proxy.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/rendezvous_admin.h"
#include "tests/store/proxy/proxy_fixture.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using namespace proxy_testing;
using testing::WaitFor;

constexpr char kJob[] = "run1";
constexpr absl::Duration kLongWait = absl::Seconds(60);
// How long "promptly" may take on a loaded 2-core machine.
constexpr absl::Duration kPromptly = absl::Seconds(10);

RendezvousStats Stats(const RendezvousServer& daemon) {
  absl::StatusOr<RendezvousStats> stats =
      GetRendezvousStats(DaemonOptions(daemon, kJob));
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  return *stats;
}

// `n` local workers, each with its own connection to the proxy.
std::vector<std::unique_ptr<Store>> Workers(const StoreProxy& proxy, int n) {
  std::vector<std::unique_ptr<Store>> workers;
  for (int i = 0; i < n; ++i) {
    workers.push_back(Connect(ProxyClientOptions(proxy, kJob)));
  }
  return workers;
}

StoreProxyOptions Options(const SocketParent& parent,
                          const RendezvousServer& daemon) {
  StoreProxyOptions options =
      ProxyOptions(parent.path() + "/sock", kJob, daemon);
  // One upstream call must cover the whole test, however loaded the machine.
  options.upstream_slice = absl::Minutes(5);
  return options;
}

TEST_CASE("StoreProxy: concurrent Gets of one key make one upstream Get",
          "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  std::unique_ptr<StoreProxy> proxy = StartProxy(
      Options(parent, *daemon), Connect(DaemonOptions(*daemon, kJob)));
  constexpr int kWorkers = 8;
  std::vector<std::unique_ptr<Store>> workers = Workers(*proxy, kWorkers);

  std::vector<absl::StatusOr<std::string>> got(kWorkers, std::string());
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkers; ++i) {
    threads.emplace_back(
        [&, i] { got[i] = workers[i]->Get("nccl/id/0", kLongWait); });
  }
  const bool all_parked =
      WaitFor([&] { return proxy->waiting_callers() == kWorkers; }, kLongWait);
  // The daemon sees one parked call for the node, not eight.
  const RendezvousStats parked = Stats(*daemon);
  Connect(DaemonOptions(*daemon, kJob))
      ->Set("nccl/id/0", "the-id")
      .IgnoreError();
  for (std::thread& thread : threads) thread.join();

  REQUIRE(all_parked);
  CHECK(parked.waiters == 1);
  CHECK(proxy->upstream_blocking_calls() == 1);
  for (int i = 0; i < kWorkers; ++i) {
    INFO("worker " << i << ": " << got[i].status().ToString());
    REQUIRE(got[i].ok());
    CHECK(*got[i] == "the-id");
  }
}

TEST_CASE("StoreProxy: Wait and MultiGet on the same keys coalesce too",
          "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  std::unique_ptr<StoreProxy> proxy = StartProxy(
      Options(parent, *daemon), Connect(DaemonOptions(*daemon, kJob)));
  std::vector<std::unique_ptr<Store>> workers = Workers(*proxy, 4);
  const std::vector<std::string> keys = {"a", "b"};

  absl::Status waited[2];
  absl::StatusOr<std::vector<std::string>> values[2];
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back(
        [&, i] { waited[i] = workers[i]->Wait(keys, kLongWait); });
    threads.emplace_back(
        [&, i] { values[i] = workers[2 + i]->MultiGet(keys, kLongWait); });
  }
  const bool all_parked =
      WaitFor([&] { return proxy->waiting_callers() == 4; }, kLongWait);
  const RendezvousStats parked = Stats(*daemon);
  Connect(DaemonOptions(*daemon, kJob))
      ->MultiSet({{"a", "1"}, {"b", "2"}})
      .IgnoreError();
  for (std::thread& thread : threads) thread.join();

  REQUIRE(all_parked);
  CHECK(parked.waiters == 2);  // One Wait, one MultiGet.
  CHECK(proxy->upstream_blocking_calls() == 2);
  for (int i = 0; i < 2; ++i) {
    CHECK(waited[i].ok());
    REQUIRE(values[i].ok());
    CHECK(*values[i] == std::vector<std::string>{"1", "2"});
  }
}

TEST_CASE("StoreProxy: a caller's own timeout names the key; others go on",
          "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  std::unique_ptr<StoreProxy> proxy = StartProxy(
      Options(parent, *daemon), Connect(DaemonOptions(*daemon, kJob)));
  std::vector<std::unique_ptr<Store>> workers = Workers(*proxy, 2);

  absl::StatusOr<std::string> patient = std::string();
  std::thread waiter(
      [&] { patient = workers[0]->Get("master/record", kLongWait); });
  const bool parked =
      WaitFor([&] { return proxy->waiting_callers() == 1; }, kLongWait);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> hasty =
      workers[1]->Get("master/record", absl::Milliseconds(300));
  const absl::Duration hasty_took = absl::Now() - start;
  const int64_t callers_after = proxy->waiting_callers();
  Connect(DaemonOptions(*daemon, kJob))
      ->Set("master/record", "m")
      .IgnoreError();
  waiter.join();

  REQUIRE(parked);
  INFO(hasty.status().ToString());
  CHECK(absl::IsDeadlineExceeded(hasty.status()));
  CHECK(absl::StrContains(hasty.status().message(), "'master/record'"));
  CHECK(absl::StrContains(hasty.status().message(), "timed out after "));
  CHECK(absl::StrContains(hasty.status().message(), "proxy"));
  CHECK(hasty_took < kPromptly);
  CHECK(callers_after == 1);  // The patient one still waits.
  REQUIRE(patient.ok());
  CHECK(*patient == "m");
  // The hasty caller joined the patient one's upstream call.
  CHECK(proxy->upstream_blocking_calls() == 1);
}

TEST_CASE("StoreProxy: a lost upstream fails every waiter, naming it",
          "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  GrpcStoreOptions upstream_options = DaemonOptions(*daemon, kJob);
  // Fail at once instead of riding a restart, so the loss itself shows.
  upstream_options.wait_for_reconnect = false;
  std::unique_ptr<StoreProxy> proxy =
      StartProxy(Options(parent, *daemon), Connect(upstream_options));
  constexpr int kWorkers = 4;
  std::vector<std::unique_ptr<Store>> workers = Workers(*proxy, kWorkers);

  std::vector<absl::StatusOr<std::string>> got(kWorkers, std::string());
  std::vector<absl::Duration> took(kWorkers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkers; ++i) {
    threads.emplace_back([&, i] {
      const absl::Time start = absl::Now();
      got[i] = workers[i]->Get(absl::StrCat("never/", i % 2), kLongWait);
      took[i] = absl::Now() - start;
    });
  }
  const bool parked =
      WaitFor([&] { return proxy->waiting_callers() == kWorkers; }, kLongWait);
  const std::string address = daemon->address();
  daemon->Shutdown();
  for (std::thread& thread : threads) thread.join();

  REQUIRE(parked);
  for (int i = 0; i < kWorkers; ++i) {
    INFO("worker " << i << ": " << got[i].status().ToString());
    REQUIRE_FALSE(got[i].ok());
    // A daemon that shuts down ends its parked calls UNAVAILABLE, or CANCELLED
    // when gRPC's own shutdown reaches them first; the proxy passes the code
    // on.
    CHECK((absl::IsUnavailable(got[i].status()) ||
           absl::IsCancelled(got[i].status())));
    CHECK(absl::StrContains(got[i].status().message(), address));
    CHECK(absl::StrContains(got[i].status().message(),
                            absl::StrCat("'never/", i % 2, "'")));
    CHECK(took[i] < kPromptly);
  }
}

TEST_CASE("StoreProxy: shutting down releases waiters and removes the socket",
          "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  StoreProxyOptions options = Options(parent, *daemon);
  options.upstream_slice = absl::Milliseconds(500);
  std::unique_ptr<StoreProxy> proxy =
      StartProxy(options, Connect(DaemonOptions(*daemon, kJob)));
  GrpcStoreOptions worker_options = ProxyClientOptions(*proxy, kJob);
  // Not waiting for a proxy that will not come back.
  worker_options.wait_for_reconnect = false;
  std::unique_ptr<Store> worker = Connect(worker_options);
  const std::string socket = proxy->socket_path();

  struct stat dir_stat;
  REQUIRE(lstat(options.socket_dir.c_str(), &dir_stat) == 0);
  CHECK(S_ISDIR(dir_stat.st_mode));
  CHECK((dir_stat.st_mode & 07777) == 0700);
  struct stat sock_stat;
  REQUIRE(lstat(socket.c_str(), &sock_stat) == 0);
  CHECK(S_ISSOCK(sock_stat.st_mode));

  absl::StatusOr<std::string> got = std::string();
  absl::Duration took;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    got = worker->Get("never", kLongWait);
    took = absl::Now() - start;
  });
  const bool parked =
      WaitFor([&] { return proxy->waiting_callers() == 1; }, kLongWait);
  proxy->Shutdown();
  waiter.join();

  REQUIRE(parked);
  CHECK_FALSE(got.ok());
  CHECK(took < kPromptly);
  struct stat gone;
  CHECK(lstat(socket.c_str(), &gone) != 0);
  CHECK(lstat(options.socket_dir.c_str(), &gone) != 0);
}

TEST_CASE("StoreProxy: the token is checked on the socket", "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  std::unique_ptr<StoreProxy> proxy = StartProxy(
      Options(parent, *daemon), Connect(DaemonOptions(*daemon, kJob)));

  for (const char* token : {"wrong-token", ""}) {
    INFO("token '" << token << "'");
    std::unique_ptr<Store> intruder =
        Connect(ProxyClientOptions(*proxy, kJob, token));
    absl::Status set = intruder->Set("k", "v");
    CHECK(absl::IsUnauthenticated(set));
    absl::StatusOr<std::string> get = intruder->Get("k", absl::Seconds(5));
    CHECK(absl::IsUnauthenticated(get.status()));
  }
  // Nothing reached the daemon.
  CHECK(Connect(DaemonOptions(*daemon, kJob))->TryGet("k").status().code() ==
        absl::StatusCode::kNotFound);
  std::unique_ptr<Store> worker = Connect(ProxyClientOptions(*proxy, kJob));
  CHECK(worker->Set("k", "v").ok());
}

TEST_CASE("StoreProxy: another job is refused", "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  std::unique_ptr<StoreProxy> proxy = StartProxy(
      Options(parent, *daemon), Connect(DaemonOptions(*daemon, kJob)));
  std::unique_ptr<Store> other =
      Connect(ProxyClientOptions(*proxy, "someone-else"));
  absl::Status set = other->Set("k", "v");
  INFO(set.ToString());
  CHECK(absl::IsInvalidArgument(set));
  CHECK(absl::StrContains(set.message(), "someone-else"));
}

TEST_CASE("StoreProxy: the socket directory must be private",
          "[store][proxy]") {
  std::shared_ptr<RendezvousServer> daemon = StartDaemon();
  SocketParent parent;
  const std::string dir = parent.path() + "/open";
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  REQUIRE(chmod(dir.c_str(), 0755) == 0);
  absl::StatusOr<std::unique_ptr<StoreProxy>> refused = StartStoreProxy(
      ProxyOptions(dir, kJob, *daemon), Connect(DaemonOptions(*daemon, kJob)));
  INFO(refused.status().ToString());
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK(absl::StrContains(refused.status().message(), "0755"));

  // A private directory kept from a run that was SIGKILLed, with its socket
  // still there: the next proxy takes it over.
  REQUIRE(chmod(dir.c_str(), 0700) == 0);
  const std::string stale = dir + "/store.sock";
  {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    stale.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    close(fd);  // The file stays, as after a SIGKILL.
  }
  std::unique_ptr<StoreProxy> proxy = StartProxy(
      ProxyOptions(dir, kJob, *daemon), Connect(DaemonOptions(*daemon, kJob)));
  CHECK(proxy->socket_path() == stale);
  CHECK(Connect(ProxyClientOptions(*proxy, kJob))->Set("k", "v").ok());
  proxy->Shutdown();
  struct stat gone;
  CHECK(lstat(stale.c_str(), &gone) != 0);
  // Not created by this proxy: the directory stays.
  CHECK(lstat(dir.c_str(), &gone) == 0);
}

}  // namespace
}  // namespace tplaunch
