#include "tests/store/proxy/proxy_fixture.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <utility>

#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace proxy_testing {

std::shared_ptr<RendezvousServer> StartDaemon() {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.token = kToken;
  absl::StatusOr<std::unique_ptr<RendezvousServer>> server =
      StartRendezvousServer(options);
  INFO(server.status().ToString());
  REQUIRE(server.ok());
  return std::shared_ptr<RendezvousServer>(std::move(*server));
}

GrpcStoreOptions DaemonOptions(const RendezvousServer& daemon,
                               const std::string& job) {
  GrpcStoreOptions options;
  options.endpoint = ParseEndpoint(daemon.address(), 0).value();
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

SocketParent::SocketParent() {
  std::string base = testing::TestTmpDir();
  // Room for "/tpproxy-XXXXXX/s/store.sock" within sun_path's 107 bytes.
  if (base.size() > 60) base = "/tmp";
  std::string pattern = base + "/tpproxy-XXXXXX";
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  path_ = pattern;
}

SocketParent::~SocketParent() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

StoreProxyOptions ProxyOptions(const std::string& dir, const std::string& job,
                               const RendezvousServer& daemon) {
  StoreProxyOptions options;
  options.socket_dir = dir;
  options.job = job;
  options.token = kToken;
  options.upstream_name = "tprdzvd at " + daemon.address();
  return options;
}

std::unique_ptr<StoreProxy> StartProxy(const StoreProxyOptions& options,
                                       std::shared_ptr<Store> upstream) {
  absl::StatusOr<std::unique_ptr<StoreProxy>> proxy =
      StartStoreProxy(options, std::move(upstream));
  INFO(proxy.status().ToString());
  REQUIRE(proxy.ok());
  return std::move(*proxy);
}

GrpcStoreOptions ProxyClientOptions(const StoreProxy& proxy,
                                    const std::string& job,
                                    const std::string& token) {
  GrpcStoreOptions options;
  options.endpoint.host = proxy.target();  // "unix:/...", no port.
  options.job = job;
  options.token = token;
  options.connect_timeout = absl::Seconds(10);
  return options;
}

}  // namespace proxy_testing
}  // namespace tplaunch
