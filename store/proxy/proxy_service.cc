#include "store/proxy/proxy_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rendezvous/auth.h"

namespace tplaunch {
namespace {

namespace pb = rendezvous::v1;

// absl and gRPC share the canonical status code numbering.
grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

std::vector<std::string> ToVector(
    const google::protobuf::RepeatedPtrField<std::string>& field) {
  return std::vector<std::string>(field.begin(), field.end());
}

template <typename Request>
std::optional<int64_t> TimeoutMs(const Request& request) {
  if (!request.has_timeout_ms()) return std::nullopt;
  return request.timeout_ms();
}

// One parked blocking call. Exactly one of "the Forwarder answered" and "the
// client cancelled and Forwarder::Cancel took it out" finishes it.
class BlockingCall final : public grpc::ServerUnaryReactor {
 public:
  explicit BlockingCall(Forwarder* forwarder) : forwarder_(forwarder) {}

  void Start(BlockingOp op, std::vector<std::string> keys, absl::Time deadline,
             std::function<void(std::vector<std::string>)> deliver) {
    Forwarder::Ticket ticket = forwarder_->StartBlocking(
        op, std::move(keys), deadline,
        [this, deliver = std::move(deliver)](CallResult result) {
          if (result.ok()) deliver(std::move(*result));
          Finish(ToGrpc(result.status()));
        });
    bool cancelled = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ticket_ = std::move(ticket);
      started_ = true;
      cancelled = cancelled_;
    }
    if (cancelled) OnCancel();
  }

  void OnCancel() override {
    Forwarder::Ticket ticket;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!started_) {
        cancelled_ = true;  // Start sees it and cancels.
        return;
      }
      ticket = ticket_;
    }
    if (forwarder_->Cancel(ticket)) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                          "the call was cancelled by its client"));
    }
  }

  void OnDone() override { delete this; }

 private:
  Forwarder* const forwarder_;
  std::mutex mu_;
  Forwarder::Ticket ticket_;  // Guarded by mu_.
  bool started_ = false;      // Guarded by mu_.
  bool cancelled_ = false;    // Guarded by mu_.
};

}  // namespace

ProxyService::ProxyService(Forwarder* forwarder,
                           const StoreProxyOptions& options)
    : forwarder_(forwarder), options_(options) {}

grpc::Status ProxyService::Admit(grpc::CallbackServerContext* ctx,
                                 const std::string& job) const {
  if (!options_.token.empty()) {
    std::optional<absl::string_view> authorization;
    const auto& metadata = ctx->client_metadata();
    auto it = metadata.find("authorization");
    if (it != metadata.end()) {
      authorization = absl::string_view(it->second.data(), it->second.size());
    }
    absl::Status status = CheckBearerToken(authorization, options_.token);
    if (!status.ok()) {
      return grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("node-local store proxy: ", status.message()));
    }
  }
  if (job != options_.job) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("this node-local store proxy serves job '",
                                     absl::CHexEscape(options_.job),
                                     "' only; the call named job '",
                                     absl::CHexEscape(job), "'"));
  }
  return grpc::Status::OK;
}

template <typename Body>
grpc::ServerUnaryReactor* ProxyService::Quick(grpc::CallbackServerContext* ctx,
                                              const std::string& job,
                                              absl::string_view op,
                                              std::vector<std::string> keys,
                                              Body body) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const grpc::Status admitted = Admit(ctx, job);
  if (!admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  const absl::Time start = absl::Now();
  const bool queued = forwarder_->RunQuick(
      [forwarder = forwarder_, reactor, op, keys = std::move(keys), start,
       body = std::move(body)](Store& upstream) mutable {
        const absl::Status status = body(upstream);
        reactor->Finish(ToGrpc(
            forwarder->FromUpstream(status, op, keys, absl::Now() - start)));
      });
  if (!queued) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("node-local store proxy for ", options_.upstream_name,
                     " is shutting down; ", op, " was not forwarded")));
  }
  return reactor;
}

grpc::ServerUnaryReactor* ProxyService::Blocking(
    grpc::CallbackServerContext* ctx, const std::string& job, BlockingOp op,
    std::vector<std::string> keys, std::optional<int64_t> timeout_ms,
    std::function<void(std::vector<std::string>)> deliver) {
  grpc::Status admitted = Admit(ctx, job);
  const auto grpc_deadline = ctx->deadline();
  if (admitted.ok() &&
      grpc_deadline == std::chrono::system_clock::time_point::max()) {
    admitted = grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat(BlockingOpName(op),
                     " blocks until its keys exist and needs a gRPC deadline; "
                     "the call had none"));
  }
  if (!admitted.ok()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(admitted);
    return reactor;
  }
  absl::Time deadline = absl::FromChrono(grpc_deadline);
  if (timeout_ms.has_value()) {
    deadline = std::min(
        deadline,
        absl::Now() + absl::Milliseconds(std::max<int64_t>(*timeout_ms, 0)));
  }
  auto* call = new BlockingCall(forwarder_);
  call->Start(op, std::move(keys), deadline, std::move(deliver));
  return call;
}

grpc::ServerUnaryReactor* ProxyService::Set(grpc::CallbackServerContext* ctx,
                                            const pb::SetRequest* request,
                                            pb::SetResponse*) {
  return Quick(ctx, request->job(), "Set", {request->key()},
               [request](Store& up) {
                 return up.Set(request->key(), request->value());
               });
}

grpc::ServerUnaryReactor* ProxyService::Get(grpc::CallbackServerContext* ctx,
                                            const pb::GetRequest* request,
                                            pb::GetResponse* response) {
  return Blocking(ctx, request->job(), BlockingOp::kGet, {request->key()},
                  TimeoutMs(*request),
                  [response](std::vector<std::string> values) {
                    response->set_value(std::move(values.front()));
                  });
}

grpc::ServerUnaryReactor* ProxyService::TryGet(grpc::CallbackServerContext* ctx,
                                               const pb::TryGetRequest* request,
                                               pb::TryGetResponse* response) {
  return Quick(ctx, request->job(), "TryGet", {request->key()},
               [request, response](Store& up) -> absl::Status {
                 absl::StatusOr<std::string> value = up.TryGet(request->key());
                 if (!value.ok()) return value.status();
                 response->set_value(std::move(*value));
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ProxyService::Check(grpc::CallbackServerContext* ctx,
                                              const pb::CheckRequest* request,
                                              pb::CheckResponse* response) {
  return Quick(ctx, request->job(), "Check", ToVector(request->keys()),
               [request, response](Store& up) -> absl::Status {
                 absl::StatusOr<bool> all = up.Check(ToVector(request->keys()));
                 if (!all.ok()) return all.status();
                 response->set_all_exist(*all);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ProxyService::Add(grpc::CallbackServerContext* ctx,
                                            const pb::AddRequest* request,
                                            pb::AddResponse* response) {
  return Quick(ctx, request->job(), "Add", {request->key()},
               [request, response](Store& up) -> absl::Status {
                 absl::StatusOr<int64_t> value =
                     up.Add(request->key(), request->delta());
                 if (!value.ok()) return value.status();
                 response->set_value(*value);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ProxyService::CompareSet(
    grpc::CallbackServerContext* ctx, const pb::CompareSetRequest* request,
    pb::CompareSetResponse* response) {
  return Quick(ctx, request->job(), "CompareSet", {request->key()},
               [request, response](Store& up) -> absl::Status {
                 absl::StatusOr<std::string> value = up.CompareSet(
                     request->key(), request->expected(), request->desired());
                 if (!value.ok()) return value.status();
                 response->set_value(std::move(*value));
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ProxyService::Wait(grpc::CallbackServerContext* ctx,
                                             const pb::WaitRequest* request,
                                             pb::WaitResponse*) {
  return Blocking(ctx, request->job(), BlockingOp::kWait,
                  ToVector(request->keys()), TimeoutMs(*request),
                  [](std::vector<std::string>) {});
}

grpc::ServerUnaryReactor* ProxyService::DeleteKey(
    grpc::CallbackServerContext* ctx, const pb::DeleteKeyRequest* request,
    pb::DeleteKeyResponse* response) {
  return Quick(ctx, request->job(), "DeleteKey", {request->key()},
               [request, response](Store& up) -> absl::Status {
                 absl::StatusOr<bool> deleted = up.DeleteKey(request->key());
                 if (!deleted.ok()) return deleted.status();
                 response->set_deleted(*deleted);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ProxyService::NumKeys(
    grpc::CallbackServerContext* ctx, const pb::NumKeysRequest* request,
    pb::NumKeysResponse* response) {
  return Quick(ctx, request->job(), "NumKeys", {},
               [response](Store& up) -> absl::Status {
                 absl::StatusOr<int64_t> n = up.NumKeys();
                 if (!n.ok()) return n.status();
                 response->set_num_keys(*n);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ProxyService::Append(grpc::CallbackServerContext* ctx,
                                               const pb::AppendRequest* request,
                                               pb::AppendResponse*) {
  return Quick(ctx, request->job(), "Append", {request->key()},
               [request](Store& up) {
                 return up.Append(request->key(), request->value());
               });
}

grpc::ServerUnaryReactor* ProxyService::MultiGet(
    grpc::CallbackServerContext* ctx, const pb::MultiGetRequest* request,
    pb::MultiGetResponse* response) {
  return Blocking(ctx, request->job(), BlockingOp::kMultiGet,
                  ToVector(request->keys()), TimeoutMs(*request),
                  [response](std::vector<std::string> values) {
                    for (std::string& value : values) {
                      response->add_values(std::move(value));
                    }
                  });
}

grpc::ServerUnaryReactor* ProxyService::MultiSet(
    grpc::CallbackServerContext* ctx, const pb::MultiSetRequest* request,
    pb::MultiSetResponse*) {
  if (request->keys_size() != request->values_size()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("MultiSet has ", request->keys_size(), " keys but ",
                     request->values_size(), " values")));
    return reactor;
  }
  return Quick(ctx, request->job(), "MultiSet", ToVector(request->keys()),
               [request](Store& up) {
                 std::vector<std::pair<std::string, std::string>> entries;
                 entries.reserve(request->keys_size());
                 for (int i = 0; i < request->keys_size(); ++i) {
                   entries.emplace_back(request->keys(i), request->values(i));
                 }
                 return up.MultiSet(entries);
               });
}

grpc::ServerUnaryReactor* ProxyService::ListKeys(
    grpc::CallbackServerContext* ctx, const pb::ListKeysRequest* request,
    pb::ListKeysResponse* response) {
  return Quick(ctx, request->job(), "ListKeys", {},
               [request, response](Store& up) -> absl::Status {
                 absl::StatusOr<std::vector<std::string>> keys =
                     up.ListKeys(request->prefix());
                 if (!keys.ok()) return keys.status();
                 for (std::string& key : *keys) {
                   response->add_keys(std::move(key));
                 }
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ProxyService::DeleteJob(
    grpc::CallbackServerContext* ctx, const pb::DeleteJobRequest* request,
    pb::DeleteJobResponse*) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  grpc::Status status = Admit(ctx, request->job());
  if (status.ok()) {
    status = grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED,
        absl::StrCat("the node-local store proxy does not delete jobs; ask ",
                     options_.upstream_name, " itself"));
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* ProxyService::GetStats(
    grpc::CallbackServerContext* ctx, const pb::GetStatsRequest*,
    pb::GetStatsResponse*) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  grpc::Status status = Admit(ctx, options_.job);
  if (status.ok()) {
    status = grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED,
        absl::StrCat("the node-local store proxy keeps no daemon statistics; "
                     "ask ",
                     options_.upstream_name, " itself"));
  }
  reactor->Finish(status);
  return reactor;
}

}  // namespace tplaunch
