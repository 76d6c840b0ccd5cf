#include "rendezvous/rendezvous_service.h"

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
#include "rendezvous/logger.h"

namespace tplaunch {
namespace {

namespace pb = rendezvous::v1;

// absl and gRPC share the canonical status code numbering.
grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// How a blocking call's timeout message names the daemon: the address the
// client dialled (gRPC's :authority), which is the one its user knows; a
// daemon bound to 0.0.0.0 has no better name for itself.
std::string OnAuthority(grpc::CallbackServerContext* ctx) {
  const grpc::string_ref authority = ctx->ExperimentalGetAuthority();
  if (authority.empty()) return "";
  return absl::StrCat(" on ", absl::CHexEscape(absl::string_view(
                                  authority.data(), authority.size())));
}

// The KvTable's DeadlineExceeded names keys, job and time; the daemon adds
// where it was waited for. Other outcomes pass unchanged.
absl::Status WithAddress(absl::Status status, absl::string_view where) {
  if (!absl::IsDeadlineExceeded(status) || where.empty()) return status;
  return absl::DeadlineExceededError(absl::StrCat(status.message(), where));
}

std::vector<std::string> ToVector(
    const google::protobuf::RepeatedPtrField<std::string>& field) {
  return std::vector<std::string>(field.begin(), field.end());
}

// A blocking request's own timeout_ms, when it sets one.
template <typename Request>
std::optional<absl::Duration> RequestedTimeout(const Request& request) {
  if (!request.has_timeout_ms()) return std::nullopt;
  return absl::Milliseconds(request.timeout_ms());
}

// A Get, Wait or MultiGet that may wait: finished by the KvTable waiter's
// callback, or inline when every key already exists. Deletes itself when gRPC
// is done with it.
class ParkedCall final : public grpc::ServerUnaryReactor {
 public:
  explicit ParkedCall(KvTable* table) : table_(table) {}

  // Records the waiter to cancel if the client goes away; cancels at once when
  // it already went away while the waiter was being registered.
  void Park(WaiterId id) {
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id_ = id;
      cancelled = cancelled_;
    }
    if (cancelled) table_->CancelWaiter(id);
  }

  void OnCancel() override {
    WaiterId id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      id = id_;
    }
    // Completes the waiter with CANCELLED (and so Finish) unless it already
    // completed.
    if (id != 0) table_->CancelWaiter(id);
  }

  void OnDone() override { delete this; }

 private:
  KvTable* const table_;
  std::mutex mu_;
  WaiterId id_ = 0;
  bool cancelled_ = false;
};

}  // namespace

RendezvousService::RendezvousService(KvTable* table, std::string token,
                                     std::function<void(absl::Time)> on_parked,
                                     std::string incarnation)
    : table_(table),
      token_(std::move(token)),
      on_parked_(std::move(on_parked)),
      incarnation_(std::move(incarnation)) {}

void RendezvousService::SetTorchStore(std::string job, int port) {
  std::lock_guard<std::mutex> lock(torch_store_mu_);
  torch_store_job_ = std::move(job);
  torch_store_port_ = port;
}

grpc::Status RendezvousService::Authorize(grpc::CallbackServerContext* ctx,
                                          absl::string_view method) {
  // Every handler starts here, so this counts every call.
  calls_.fetch_add(1, std::memory_order_relaxed);
  // So every reply carries the incarnation. Also
  // as trailing metadata: an error reply without a message is sent as
  // trailers only, and gRPC drops its initial metadata.
  ctx->AddInitialMetadata(kIncarnationMetadata, incarnation_);
  ctx->AddTrailingMetadata(kIncarnationMetadata, incarnation_);
  if (token_.empty()) return grpc::Status::OK;
  std::optional<absl::string_view> authorization;
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  absl::Status status = CheckBearerToken(authorization, token_);
  if (!status.ok()) {
    // The message never contains a token (see CheckBearerToken).
    RendezvousLogger().warn("rejected {} from {}: {}", std::string(method),
                            ctx->peer(), std::string(status.message()));
  }
  return ToGrpc(status);
}

template <typename Body>
grpc::ServerUnaryReactor* RendezvousService::Unary(
    grpc::CallbackServerContext* ctx, absl::string_view method, Body&& body) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  grpc::Status status = Authorize(ctx, method);
  if (status.ok()) status = ToGrpc(body());
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* RendezvousService::StartBlocking(
    grpc::CallbackServerContext* ctx, absl::string_view method,
    const std::string& job, absl::Span<const std::string> keys,
    std::optional<absl::Duration> timeout, bool want_values,
    std::function<void(std::vector<std::string>)> deliver) {
  grpc::Status auth = Authorize(ctx, method);
  if (!auth.ok()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(auth);
    return reactor;
  }
  const auto deadline = ctx->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat(method,
                     " blocks until its keys exist and needs a gRPC deadline; "
                     "the call had none")));
    return reactor;
  }
  const absl::Time grpc_until = absl::FromChrono(deadline);
  // Read before the table's clock, so the hint to the owner's timer is never
  // later than the waiter's real deadline.
  const absl::Time started = absl::Now();
  const absl::Time until = timeout.has_value()
                               ? std::min(grpc_until, started + *timeout)
                               : grpc_until;

  // Fast path: when every key exists, answer with the default reactor (cheaper
  // than a custom one, which gRPC finishes through its backlog).
  absl::StatusOr<std::optional<std::vector<std::string>>> now =
      table_->TryGetAll(job, keys, want_values);
  if (!now.ok() || now->has_value()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (now.ok()) deliver(std::move(**now));
    reactor->Finish(ToGrpc(now.status()));
    return reactor;
  }

  auto* call = new ParkedCall(table_);
  WaiterCallback done = [call, deliver, where = OnAuthority(ctx)](
                            absl::StatusOr<std::vector<std::string>> result) {
    if (!result.ok()) {
      call->Finish(ToGrpc(WithAddress(result.status(), where)));
      return;
    }
    deliver(std::move(*result));
    call->Finish(grpc::Status::OK);
  };
  // With the client's own timeout the table's message names it exactly (and
  // the call ends before the client's later gRPC deadline, so that message is
  // what the client reads); otherwise the gRPC deadline is all there is.
  absl::StatusOr<KvTable::WaitStart> start =
      until == grpc_until
          ? table_->StartWait(job, keys, until, want_values, std::move(done))
          : table_->StartWait(job, keys, *timeout, want_values,
                              std::move(done));
  if (!start.ok()) {
    call->Finish(ToGrpc(start.status()));
  } else if (start->ready) {
    deliver(std::move(start->values));
    call->Finish(grpc::Status::OK);
  } else {
    // gRPC does not run OnDone (which deletes `call`) before this handler
    // returns, so `call` is valid here even if the waiter already completed on
    // another thread.
    call->Park(start->id);
    if (on_parked_) on_parked_(until);
  }
  return call;
}

grpc::ServerUnaryReactor* RendezvousService::Set(
    grpc::CallbackServerContext* ctx, const pb::SetRequest* request,
    pb::SetResponse*) {
  return Unary(ctx, "Set", [&] {
    return table_->Set(request->job(), request->key(), request->value());
  });
}

grpc::ServerUnaryReactor* RendezvousService::Get(
    grpc::CallbackServerContext* ctx, const pb::GetRequest* request,
    pb::GetResponse* response) {
  return StartBlocking(ctx, "Get", request->job(),
                       absl::MakeConstSpan(&request->key(), 1),
                       RequestedTimeout(*request), /*want_values=*/true,
                       [response](std::vector<std::string> values) {
                         response->set_value(std::move(values.front()));
                       });
}

grpc::ServerUnaryReactor* RendezvousService::TryGet(
    grpc::CallbackServerContext* ctx, const pb::TryGetRequest* request,
    pb::TryGetResponse* response) {
  return Unary(ctx, "TryGet", [&]() -> absl::Status {
    absl::StatusOr<std::string> value =
        table_->TryGet(request->job(), request->key());
    if (!value.ok()) return value.status();
    response->set_value(std::move(*value));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::Check(
    grpc::CallbackServerContext* ctx, const pb::CheckRequest* request,
    pb::CheckResponse* response) {
  return Unary(ctx, "Check", [&]() -> absl::Status {
    absl::StatusOr<bool> all =
        table_->Check(request->job(), ToVector(request->keys()));
    if (!all.ok()) return all.status();
    response->set_all_exist(*all);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::Add(
    grpc::CallbackServerContext* ctx, const pb::AddRequest* request,
    pb::AddResponse* response) {
  return Unary(ctx, "Add", [&]() -> absl::Status {
    absl::StatusOr<int64_t> value =
        table_->Add(request->job(), request->key(), request->delta());
    if (!value.ok()) return value.status();
    response->set_value(*value);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::CompareSet(
    grpc::CallbackServerContext* ctx, const pb::CompareSetRequest* request,
    pb::CompareSetResponse* response) {
  return Unary(ctx, "CompareSet", [&]() -> absl::Status {
    absl::StatusOr<std::string> value =
        table_->CompareSet(request->job(), request->key(), request->expected(),
                           request->desired());
    if (!value.ok()) return value.status();
    response->set_value(std::move(*value));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::Wait(
    grpc::CallbackServerContext* ctx, const pb::WaitRequest* request,
    pb::WaitResponse*) {
  return StartBlocking(ctx, "Wait", request->job(), ToVector(request->keys()),
                       RequestedTimeout(*request), /*want_values=*/false,
                       [](std::vector<std::string>) {});
}

grpc::ServerUnaryReactor* RendezvousService::DeleteKey(
    grpc::CallbackServerContext* ctx, const pb::DeleteKeyRequest* request,
    pb::DeleteKeyResponse* response) {
  return Unary(ctx, "DeleteKey", [&]() -> absl::Status {
    absl::StatusOr<bool> deleted =
        table_->DeleteKey(request->job(), request->key());
    if (!deleted.ok()) return deleted.status();
    response->set_deleted(*deleted);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::NumKeys(
    grpc::CallbackServerContext* ctx, const pb::NumKeysRequest* request,
    pb::NumKeysResponse* response) {
  return Unary(ctx, "NumKeys", [&]() -> absl::Status {
    absl::StatusOr<int64_t> n = table_->NumKeys(request->job());
    if (!n.ok()) return n.status();
    response->set_num_keys(*n);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::Append(
    grpc::CallbackServerContext* ctx, const pb::AppendRequest* request,
    pb::AppendResponse*) {
  return Unary(ctx, "Append", [&] {
    return table_->Append(request->job(), request->key(), request->value());
  });
}

grpc::ServerUnaryReactor* RendezvousService::MultiGet(
    grpc::CallbackServerContext* ctx, const pb::MultiGetRequest* request,
    pb::MultiGetResponse* response) {
  return StartBlocking(ctx, "MultiGet", request->job(),
                       ToVector(request->keys()), RequestedTimeout(*request),
                       /*want_values=*/true,
                       [response](std::vector<std::string> values) {
                         for (std::string& value : values) {
                           response->add_values(std::move(value));
                         }
                       });
}

grpc::ServerUnaryReactor* RendezvousService::MultiSet(
    grpc::CallbackServerContext* ctx, const pb::MultiSetRequest* request,
    pb::MultiSetResponse*) {
  return Unary(ctx, "MultiSet", [&]() -> absl::Status {
    if (request->keys_size() != request->values_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("MultiSet has ", request->keys_size(), " keys but ",
                       request->values_size(), " values"));
    }
    std::vector<std::pair<std::string, std::string>> entries;
    entries.reserve(request->keys_size());
    for (int i = 0; i < request->keys_size(); ++i) {
      entries.emplace_back(request->keys(i), request->values(i));
    }
    return table_->MultiSet(request->job(), entries);
  });
}

grpc::ServerUnaryReactor* RendezvousService::ListKeys(
    grpc::CallbackServerContext* ctx, const pb::ListKeysRequest* request,
    pb::ListKeysResponse* response) {
  return Unary(ctx, "ListKeys", [&]() -> absl::Status {
    absl::StatusOr<std::vector<std::string>> keys =
        table_->ListKeys(request->job(), request->prefix());
    if (!keys.ok()) return keys.status();
    for (std::string& key : *keys) response->add_keys(std::move(key));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::DeleteJob(
    grpc::CallbackServerContext* ctx, const pb::DeleteJobRequest* request,
    pb::DeleteJobResponse* response) {
  return Unary(ctx, "DeleteJob", [&]() -> absl::Status {
    absl::StatusOr<int64_t> deleted = table_->DeleteJob(request->job());
    if (!deleted.ok()) return deleted.status();
    RendezvousLogger().info("deleted job \"{}\" ({} keys)", request->job(),
                            *deleted);
    response->set_deleted_keys(*deleted);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RendezvousService::GetStats(
    grpc::CallbackServerContext* ctx, const pb::GetStatsRequest*,
    pb::GetStatsResponse* response) {
  return Unary(ctx, "GetStats", [&] {
    const KvTableStats stats = table_->Stats();
    response->set_jobs(stats.jobs);
    response->set_keys(stats.keys);
    response->set_waiters(stats.waiters);
    response->set_incarnation(incarnation_);
    response->set_calls(calls());
    std::lock_guard<std::mutex> lock(torch_store_mu_);
    response->set_torch_store_job(torch_store_job_);
    response->set_torch_store_port(torch_store_port_);
    return absl::OkStatus();
  });
}

}  // namespace tplaunch
