// ProxyService: the tprdzvd Rendezvous gRPC service (proto/rendezvous.proto)
// as the node-local store proxy serves it, over a Forwarder. The same token
// check as the daemon's; one job. Blocking calls park a reactor on the
// Forwarder's call table and non-blocking ones run on its pool, so no gRPC
// callback thread ever waits for the upstream. DeleteJob and GetStats are
// the daemon's administration and are refused (UNIMPLEMENTED, naming the
// upstream to ask instead).
#ifndef TPLAUNCH_STORE_PROXY_PROXY_SERVICE_H_
#define TPLAUNCH_STORE_PROXY_PROXY_SERVICE_H_

#include <string>

#include "proto/rendezvous.grpc.pb.h"
#include "store/proxy/forwarder.h"
#include "store/proxy/proxy_options.h"

namespace tplaunch {

class ProxyService final : public rendezvous::v1::Rendezvous::CallbackService {
 public:
  // `forwarder` must outlive the service.
  ProxyService(Forwarder* forwarder, const StoreProxyOptions& options);

  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* ctx,
                                const rendezvous::v1::SetRequest* request,
                                rendezvous::v1::SetResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const rendezvous::v1::GetRequest* request,
                                rendezvous::v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* TryGet(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::TryGetRequest* request,
      rendezvous::v1::TryGetResponse* response) override;
  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::CheckRequest* request,
      rendezvous::v1::CheckResponse* response) override;
  grpc::ServerUnaryReactor* Add(grpc::CallbackServerContext* ctx,
                                const rendezvous::v1::AddRequest* request,
                                rendezvous::v1::AddResponse* response) override;
  grpc::ServerUnaryReactor* CompareSet(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::CompareSetRequest* request,
      rendezvous::v1::CompareSetResponse* response) override;
  grpc::ServerUnaryReactor* Wait(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::WaitRequest* request,
      rendezvous::v1::WaitResponse* response) override;
  grpc::ServerUnaryReactor* DeleteKey(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::DeleteKeyRequest* request,
      rendezvous::v1::DeleteKeyResponse* response) override;
  grpc::ServerUnaryReactor* NumKeys(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::NumKeysRequest* request,
      rendezvous::v1::NumKeysResponse* response) override;
  grpc::ServerUnaryReactor* Append(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::AppendRequest* request,
      rendezvous::v1::AppendResponse* response) override;
  grpc::ServerUnaryReactor* MultiGet(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::MultiGetRequest* request,
      rendezvous::v1::MultiGetResponse* response) override;
  grpc::ServerUnaryReactor* MultiSet(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::MultiSetRequest* request,
      rendezvous::v1::MultiSetResponse* response) override;
  grpc::ServerUnaryReactor* ListKeys(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::ListKeysRequest* request,
      rendezvous::v1::ListKeysResponse* response) override;
  grpc::ServerUnaryReactor* DeleteJob(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::DeleteJobRequest* request,
      rendezvous::v1::DeleteJobResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(
      grpc::CallbackServerContext* ctx,
      const rendezvous::v1::GetStatsRequest* request,
      rendezvous::v1::GetStatsResponse* response) override;

 private:
  // The token, then the job; OK or the status to finish the call with.
  grpc::Status Admit(grpc::CallbackServerContext* ctx,
                     const std::string& job) const;
  // Runs `body(upstream)` on the Forwarder's pool and finishes the call with
  // its status (an upstream error names the proxy, the upstream and `op`).
  template <typename Body>
  grpc::ServerUnaryReactor* Quick(grpc::CallbackServerContext* ctx,
                                  const std::string& job, absl::string_view op,
                                  std::vector<std::string> keys, Body body);
  // Parks the call on the Forwarder until its answer; `deliver` fills the
  // response from the values.
  grpc::ServerUnaryReactor* Blocking(
      grpc::CallbackServerContext* ctx, const std::string& job, BlockingOp op,
      std::vector<std::string> keys, std::optional<int64_t> timeout_ms,
      std::function<void(std::vector<std::string>)> deliver);

  Forwarder* const forwarder_;
  const StoreProxyOptions options_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PROXY_PROXY_SERVICE_H_
