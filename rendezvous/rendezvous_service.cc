#include "rendezvous/rendezvous_service.h"

#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/support/message_allocator.h>
#include <malloc.h>

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

// The client's `x-tplaunch-caller` ("rank 3"), for the live view's parked
// calls; "" when absent, longer than 64 bytes or not printable ASCII (it is
// shown on a page, and a client may send anything).
std::string CallerLabel(grpc::CallbackServerContext* ctx) {
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("x-tplaunch-caller");
  if (it == metadata.end() || it->second.size() > 64) return "";
  const absl::string_view label(it->second.data(), it->second.size());
  for (char c : label) {
    if (c < 0x20 || c > 0x7e) return "";
  }
  return std::string(label);
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

// Estimated bytes one key of a parked call holds besides its own bytes: gRPC's
// receive buffers, the parsed request's std::string, the copy the service
// passes on, the waiter's copy and its index entry (measured: a Wait on
// 131,072 keys of 64 B raised tprdzvd's RSS by ~80 MB while parked).
constexpr int64_t kParkedBytesPerKey = 512;
// A parked call at least this big hands its memory back to the OS when it
// ends (malloc_trim): glibc keeps freed small blocks otherwise, and 30 such
// calls left 1.13 GB resident after they were cancelled.
constexpr int64_t kTrimAfterBytes = 1 << 20;

// An unknown field the strict handlers put into a request that failed to
// parse, so the method body (which gRPC calls with the request object) knows.
// A client that sends this field itself is told its request is malformed.
constexpr int kMalformedMarkerField = 536870911;  // 2^29 - 1, the highest.

int64_t ParkedCost(absl::Span<const std::string> keys) {
  int64_t bytes = 0;
  for (const std::string& key : keys) {
    bytes += kParkedBytesPerKey + static_cast<int64_t>(key.size());
  }
  return bytes;
}

bool IsMarkedMalformed(const google::protobuf::Message& request) {
  const google::protobuf::UnknownFieldSet& unknown =
      request.GetReflection()->GetUnknownFields(request);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (unknown.field(i).number() == kMalformedMarkerField) return true;
  }
  return false;
}

// gRPC's callback handler for one unary method, except that a request that
// does not parse reaches the method body marked (see kMalformedMarkerField)
// instead of being answered UNIMPLEMENTED by gRPC itself.
template <typename Request, typename Response>
class StrictUnaryHandler final : public grpc::internal::MethodHandler {
 public:
  using Body = std::function<grpc::ServerUnaryReactor*(
      grpc::CallbackServerContext*, const Request*, Response*)>;
  explicit StrictUnaryHandler(Body body) : inner_(std::move(body)) {}

  void RunHandler(const HandlerParameter& param) override {
    inner_.RunHandler(param);
  }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* req,
                    grpc::Status* status, void** handler_data) override {
    void* request = inner_.Deserialize(call, req, status, handler_data);
    if (status->ok()) return request;
    auto* holder =
        static_cast<grpc::MessageHolder<Request, Response>*>(*handler_data);
    Request* parsed = holder->request();
    parsed->Clear();
    parsed->GetReflection()->MutableUnknownFields(parsed)->AddVarint(
        kMalformedMarkerField, 1);
    *status = grpc::Status::OK;
    return parsed;
  }

 private:
  grpc::internal::CallbackUnaryHandler<Request, Response> inner_;
};

// A blocking request's own timeout_ms, when it sets one.
template <typename Request>
std::optional<absl::Duration> RequestedTimeout(const Request& request) {
  if (!request.has_timeout_ms()) return std::nullopt;
  return absl::Milliseconds(request.timeout_ms());
}

// A Get, Wait or MultiGet that may wait: finished by the KvTable waiter's
// callback, or inline when every key already exists. Deletes itself when gRPC
// is done with it, and only then gives back its share of max_parked_bytes
// (gRPC holds the request until then).
class ParkedCall final : public grpc::ServerUnaryReactor {
 public:
  ParkedCall(KvTable* table, std::shared_ptr<std::atomic<int64_t>> parked,
             int64_t bytes)
      : table_(table), parked_(std::move(parked)), bytes_(bytes) {}

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

  void OnDone() override {
    const int64_t bytes = bytes_;
    std::shared_ptr<std::atomic<int64_t>> parked = std::move(parked_);
    delete this;
    if (bytes > 0) parked->fetch_sub(bytes);
    if (bytes >= kTrimAfterBytes) malloc_trim(0);
  }

 private:
  KvTable* const table_;
  std::shared_ptr<std::atomic<int64_t>> parked_;
  const int64_t bytes_;
  std::mutex mu_;
  WaiterId id_ = 0;
  bool cancelled_ = false;
};

}  // namespace

RendezvousService::RendezvousService(KvTable* table, std::string token,
                                     std::function<void(absl::Time)> on_parked,
                                     std::string incarnation,
                                     RendezvousServiceLimits limits)
    : table_(table),
      token_(std::move(token)),
      on_parked_(std::move(on_parked)),
      incarnation_(std::move(incarnation)),
      limits_(limits),
      parked_bytes_(std::make_shared<std::atomic<int64_t>>(0)) {
  InstallStrictHandlers();
}

template <typename Request, typename Response>
void RendezvousService::InstallStrictHandler(
    int index, const char* method,
    grpc::ServerUnaryReactor* (RendezvousService::*handler)(
        grpc::CallbackServerContext*, const Request*, Response*)) {
  // The generated base registered a handler of exactly these types at this
  // index; a mismatch means the .proto changed order under this table.
  if (dynamic_cast<grpc::internal::CallbackUnaryHandler<Request, Response>*>(
          GetHandler(index)) == nullptr) {
    RendezvousLogger().error(
        "internal: method {} is not at index {}; malformed {} requests get "
        "gRPC's UNIMPLEMENTED",
        method, index, method);
    return;
  }
  MarkMethodCallback(
      index, new StrictUnaryHandler<Request, Response>(
                 [this, method, handler](
                     grpc::CallbackServerContext* ctx, const Request* request,
                     Response* response) -> grpc::ServerUnaryReactor* {
                   if (IsMarkedMalformed(*request)) {
                     grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
                     reactor->Finish(grpc::Status(
                         grpc::StatusCode::INVALID_ARGUMENT,
                         absl::StrCat(method, ": the request is not a valid ",
                                      Request::descriptor()->full_name(),
                                      " protobuf message")));
                     return reactor;
                   }
                   return (this->*handler)(ctx, request, response);
                 }));
}

void RendezvousService::InstallStrictHandlers() {
  // The order of the rpcs in proto/rendezvous.proto.
  InstallStrictHandler(0, "Set", &RendezvousService::Set);
  InstallStrictHandler(1, "Get", &RendezvousService::Get);
  InstallStrictHandler(2, "TryGet", &RendezvousService::TryGet);
  InstallStrictHandler(3, "Check", &RendezvousService::Check);
  InstallStrictHandler(4, "Add", &RendezvousService::Add);
  InstallStrictHandler(5, "CompareSet", &RendezvousService::CompareSet);
  InstallStrictHandler(6, "Wait", &RendezvousService::Wait);
  InstallStrictHandler(7, "DeleteKey", &RendezvousService::DeleteKey);
  InstallStrictHandler(8, "NumKeys", &RendezvousService::NumKeys);
  InstallStrictHandler(9, "Append", &RendezvousService::Append);
  InstallStrictHandler(10, "MultiGet", &RendezvousService::MultiGet);
  InstallStrictHandler(11, "MultiSet", &RendezvousService::MultiSet);
  InstallStrictHandler(12, "ListKeys", &RendezvousService::ListKeys);
  InstallStrictHandler(13, "DeleteJob", &RendezvousService::DeleteJob);
  InstallStrictHandler(14, "GetStats", &RendezvousService::GetStats);
}

void RendezvousService::SetTorchStore(std::string job, int port) {
  std::lock_guard<std::mutex> lock(torch_store_mu_);
  torch_store_job_ = std::move(job);
  torch_store_port_ = port;
}

grpc::Status RendezvousService::Authorize(grpc::CallbackServerContext* ctx,
                                          absl::string_view method) {
  // Every handler starts here, so this counts every call.
  calls_.fetch_add(1, std::memory_order_relaxed);
  // So every reply carries the incarnation. Also as trailing metadata: an
  // error reply without a message is sent as trailers only, and gRPC drops its
  // initial metadata.
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
    // The message never contains a token (see CheckBearerToken). Rate-limited:
    // a misconfigured fleet retries thousands of times a second.
    if (RateLimiter::Verdict v = rejected_log_.Allow()) {
      RendezvousLogger().warn("rejected {} from {}: {}{}", std::string(method),
                              ctx->peer(), std::string(status.message()),
                              v.Suffix(rejected_log_.every()));
    }
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
  if (until - started > limits_.max_blocking_timeout) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat(method, ": the call's deadline is ",
                     absl::FormatDuration(until - started),
                     " away, over the daemon's limit of ",
                     absl::FormatDuration(limits_.max_blocking_timeout),
                     " (--max-blocking-timeout)")));
    return reactor;
  }

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

  // Charged before parking and given back when gRPC is done with the call.
  const int64_t cost = ParkedCost(keys);
  const int64_t parked_before = parked_bytes_->fetch_add(cost);
  if (parked_before + cost > limits_.max_parked_bytes) {
    parked_bytes_->fetch_sub(cost);
    const std::string message =
        absl::StrCat(method, " on ", keys.size(), " key(s) would hold ~", cost,
                     " bytes while it waits; parked calls hold ~",
                     parked_before, " bytes and the daemon's limit is ",
                     limits_.max_parked_bytes, " (--max-parked-bytes)");
    if (RateLimiter::Verdict v = over_parked_log_.Allow()) {
      RendezvousLogger().warn("refused {} from {}: {}{}", std::string(method),
                              ctx->peer(), message,
                              v.Suffix(over_parked_log_.every()));
    }
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message));
    return reactor;
  }
  auto* call = new ParkedCall(table_, parked_bytes_, cost);
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
    if (std::string caller = CallerLabel(ctx); !caller.empty()) {
      table_->LabelWaiter(start->id, std::move(caller));
    }
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
    response->set_calls(calls());
    response->set_incarnation(incarnation_);
    std::lock_guard<std::mutex> lock(torch_store_mu_);
    response->set_torch_store_job(torch_store_job_);
    response->set_torch_store_port(torch_store_port_);
    return absl::OkStatus();
  });
}

}  // namespace tplaunch
