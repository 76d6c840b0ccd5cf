// RendezvousService: the gRPC callback-API handlers of tprdzvd over a KvTable.
//
// Non-blocking RPCs answer inline. Get, Wait and MultiGet either answer inline
// (every key exists) or park a reactor on a KvTable waiter: no thread is held
// while a call waits. A parked call ends when its keys appear, at its gRPC
// deadline (expired by the owner's timer through KvTable::ExpireDeadlines),
// when the client cancels, when its job is deleted or expires, or at shutdown.
#ifndef TPLAUNCH_RENDEZVOUS_RENDEZVOUS_SERVICE_H_
#define TPLAUNCH_RENDEZVOUS_RENDEZVOUS_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/rate_limit.h"
#include "proto/rendezvous.grpc.pb.h"
#include "store/kv_table.h"

namespace tplaunch {

// The response initial-metadata key that carries the daemon's incarnation on
// every call, rejected ones included (docs/protocol.md).
inline constexpr char kIncarnationMetadata[] = "tprdzv-incarnation";
// Bounds on what calls may hold in the daemon (docs/reliability.md).
struct RendezvousServiceLimits {
  // Bytes all parked (waiting) Get/Wait/MultiGet calls may hold together,
  // estimated from their keys (576 B per key of 64 B: a Wait on 131,072 such
  // keys holds ~80 MB of buffers, request, copies and waiter). A call that
  // would go over it fails with RESOURCE_EXHAUSTED instead of parking.
  int64_t max_parked_bytes = int64_t{1} << 30;
  // Longest deadline a blocking call may ask for; later ones fail with
  // INVALID_ARGUMENT. GrpcStore caps its own at 30 days, so a day's slack.
  absl::Duration max_blocking_timeout = absl::Hours(24 * 31);
};

class RendezvousService final
    : public rendezvous::v1::Rendezvous::CallbackService {
 public:
  // `table` must outlive the service. When `token` is non-empty every call must
  // carry `authorization: Bearer <token>`. `on_parked` runs (outside any lock)
  // with the deadline of every newly parked call, so the owner can wake its
  // timer earlier. `incarnation` goes back to the client on every call, in the
  // initial metadata entry kIncarnationMetadata, and in GetStats.
  RendezvousService(KvTable* table, std::string token,
                    std::function<void(absl::Time)> on_parked,
                    std::string incarnation,
                    RendezvousServiceLimits limits = {});

  // Bytes the parked calls hold now (estimated; see max_parked_bytes).
  int64_t parked_bytes() const { return parked_bytes_->load(); }

  // RPCs received so far, every method counted (GetStats.calls).
  int64_t calls() const { return calls_.load(std::memory_order_relaxed); }

  // What GetStats reports about the TCPStore listener, once it listens.
  void SetTorchStore(std::string job, int port);

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
  // Also counts the call (every handler authorizes first).
  grpc::Status Authorize(grpc::CallbackServerContext* ctx,
                         absl::string_view method);
  // Runs a non-blocking body after authorization and finishes the call with its
  // status.
  template <typename Body>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx,
                                  absl::string_view method, Body&& body);
  // Starts a (possibly) blocking wait for `keys`, for `timeout` (the request's
  // timeout_ms) when set and at most until the gRPC deadline; `deliver` copies
  // the values into the response and runs at most once, before the call
  // finishes with OK. A timeout ends with the table's DEADLINE_EXCEEDED message
  // plus " on <the address the client dialled>".
  grpc::ServerUnaryReactor* StartBlocking(
      grpc::CallbackServerContext* ctx, absl::string_view method,
      const std::string& job, absl::Span<const std::string> keys,
      std::optional<absl::Duration> timeout, bool want_values,
      std::function<void(std::vector<std::string>)> deliver);

  // Replaces gRPC's handler of every method by one that answers a request
  // that is not valid protobuf with INVALID_ARGUMENT and a reason (gRPC 1.51
  // answers UNIMPLEMENTED with an empty message).
  void InstallStrictHandlers();
  template <typename Request, typename Response>
  void InstallStrictHandler(
      int index, const char* method,
      grpc::ServerUnaryReactor* (RendezvousService::*handler)(
          grpc::CallbackServerContext*, const Request*, Response*));

  KvTable* const table_;
  const std::string token_;
  std::atomic<int64_t> calls_{0};
  mutable std::mutex torch_store_mu_;
  std::string torch_store_job_;  // Guarded by torch_store_mu_.
  int torch_store_port_ = 0;     // Guarded by torch_store_mu_.
  const std::function<void(absl::Time)> on_parked_;
  const std::string incarnation_;
  const RendezvousServiceLimits limits_;
  // Shared with the parked calls, which may end after a Shutdown.
  const std::shared_ptr<std::atomic<int64_t>> parked_bytes_;
  mutable RateLimiter rejected_log_;
  RateLimiter over_parked_log_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_RENDEZVOUS_SERVICE_H_
