#include "store/proxy/store_proxy.h"

#include <errno.h>
#include <grpcpp/grpcpp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "store/proxy/forwarder.h"
#include "store/proxy/proxy_service.h"
#include "store/proxy/socket_dir.h"

namespace tplaunch {
namespace {

// How long Shutdown lets calls still in gRPC's hands finish (the Forwarder
// has answered every parked one by then).
constexpr absl::Duration kServerShutdownGrace = absl::Seconds(2);

// A socket file left by a launcher that was SIGKILLed: bind would fail on it.
absl::Status RemoveStaleSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store proxy socket path ", path, " exists and is not a socket"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot remove stale socket ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

class StoreProxyImpl final : public StoreProxy {
 public:
  StoreProxyImpl(const StoreProxyOptions& options,
                 std::shared_ptr<Store> upstream, std::string socket_path,
                 bool created_dir)
      : options_(options),
        socket_path_(std::move(socket_path)),
        target_(absl::StrCat("unix:", socket_path_)),
        created_dir_(created_dir),
        forwarder_(std::move(upstream), options),
        service_(&forwarder_, options) {}

  // forwarder_'s destructor then waits for the upstream calls.
  ~StoreProxyImpl() override { Shutdown(); }

  absl::Status Listen() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(target_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    builder.SetMaxReceiveMessageSize(-1);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) {
      return absl::UnavailableError(absl::StrCat(
          "the store proxy could not listen on ", target_,
          " (gRPC refused the socket; is another process serving it?)"));
    }
    return absl::OkStatus();
  }

  const std::string& target() const override { return target_; }
  const std::string& socket_path() const override { return socket_path_; }
  int64_t upstream_blocking_calls() const override {
    return forwarder_.upstream_blocking_calls();
  }

  int64_t waiting_callers() override { return forwarder_.waiting_callers(); }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    // The parked calls first, so the server's shutdown has nothing to wait
    // for but calls on their way out.
    forwarder_.Shutdown();
    if (server_ != nullptr) {
      server_->Shutdown(absl::ToChronoTime(absl::Now() + kServerShutdownGrace));
      server_->Wait();
    }
    unlink(socket_path_.c_str());
    if (created_dir_) rmdir(options_.socket_dir.c_str());
  }

 private:
  const StoreProxyOptions options_;
  const std::string socket_path_;
  const std::string target_;
  const bool created_dir_;
  Forwarder forwarder_;
  ProxyService service_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // Guarded by shutdown_mu_.
};

}  // namespace

absl::StatusOr<std::unique_ptr<StoreProxy>> StartStoreProxy(
    const StoreProxyOptions& options, std::shared_ptr<Store> upstream) {
  if (upstream == nullptr) {
    return absl::InvalidArgumentError(
        "the store proxy needs an upstream store");
  }
  if (options.job.empty()) {
    return absl::InvalidArgumentError(
        "the store proxy needs the job (run id) it serves; none was given");
  }
  ASSIGN_OR_RETURN(std::string path,
                   SocketPathIn(options.socket_dir, options.socket_name));
  ASSIGN_OR_RETURN(bool created, PrepareSocketDir(options.socket_dir));
  absl::Status stale = RemoveStaleSocket(path);
  if (!stale.ok()) {
    if (created) rmdir(options.socket_dir.c_str());
    return stale;
  }
  auto proxy = std::make_unique<StoreProxyImpl>(options, std::move(upstream),
                                                std::move(path), created);
  RETURN_IF_ERROR(proxy->Listen());
  return std::unique_ptr<StoreProxy>(std::move(proxy));
}

}  // namespace tplaunch
