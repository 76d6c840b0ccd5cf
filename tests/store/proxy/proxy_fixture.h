// Test fixtures for the node-local store proxy: a real in-process tprdzvd
// (port 0, a token), the proxy on a Unix socket in a fresh private
// directory, and GrpcStore clients of either.
#ifndef TPLAUNCH_TESTS_STORE_PROXY_PROXY_FIXTURE_H_
#define TPLAUNCH_TESTS_STORE_PROXY_PROXY_FIXTURE_H_

#include <memory>
#include <string>

#include "rendezvous/server.h"
#include "store/grpc/grpc_store_options.h"
#include "store/proxy/store_proxy.h"
#include "store/store.h"

namespace tplaunch {
namespace proxy_testing {

inline constexpr char kToken[] = "proxy-token";

// A daemon with kToken on 127.0.0.1, port 0. REQUIREs it started.
std::shared_ptr<RendezvousServer> StartDaemon();

// GrpcStore options for `job` on the daemon, with kToken.
GrpcStoreOptions DaemonOptions(const RendezvousServer& daemon,
                               const std::string& job);

// A GrpcStore client; REQUIREs it connected.
std::unique_ptr<Store> Connect(const GrpcStoreOptions& options);

// A fresh directory short enough for a socket path under it (Bazel's
// TEST_TMPDIR may be too long for sockaddr_un: then /tmp), removed with its
// contents when the returned object goes.
class SocketParent {
 public:
  SocketParent();
  ~SocketParent();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Proxy options for `job` with kToken, its socket directory `dir`.
StoreProxyOptions ProxyOptions(const std::string& dir, const std::string& job,
                               const RendezvousServer& daemon);

// Starts a proxy; REQUIREs it started.
std::unique_ptr<StoreProxy> StartProxy(const StoreProxyOptions& options,
                                       std::shared_ptr<Store> upstream);

// GrpcStore options that dial the proxy, with `token`.
GrpcStoreOptions ProxyClientOptions(const StoreProxy& proxy,
                                    const std::string& job,
                                    const std::string& token = kToken);

}  // namespace proxy_testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_STORE_PROXY_PROXY_FIXTURE_H_
