#include "store/grpc/grpc_store.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "proto/rendezvous.grpc.pb.h"
#include "store/error_text.h"
#include "store/grpc/channel.h"
#include "store/grpc/status.h"

namespace tplaunch {
namespace {

namespace pb = ::tplaunch::rendezvous::v1;

// gRPC treats an infinite deadline as none, which the daemon rejects: cap it
// instead.
constexpr absl::Duration kMaxBlockingTimeout = absl::Hours(24 * 30);

std::vector<absl::string_view> Views(absl::Span<const std::string> keys) {
  return std::vector<absl::string_view>(keys.begin(), keys.end());
}

class GrpcStore final : public Store {
 public:
  explicit GrpcStore(std::unique_ptr<RpcClient> client)
      : client_(std::move(client)) {}

  absl::Status Set(absl::string_view key, absl::string_view value) override {
    pb::SetRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
    request.set_value(std::string(value));
    pb::SetResponse response;
    return client_->Call(&pb::Rendezvous::Stub::Set, request, &response,
                         client_->Quick("Set", {key}));
  }

  absl::StatusOr<std::string> Get(absl::string_view key,
                                  absl::Duration timeout) override {
    const std::string keys[] = {std::string(key)};
    const RpcInfo rpc = Blocking("Get", keys, timeout);
    pb::GetRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
    request.set_timeout_ms(TimeoutMs(rpc));
    pb::GetResponse response;
    RETURN_IF_ERROR(
        client_->Call(&pb::Rendezvous::Stub::Get, request, &response, rpc));
    return std::move(*response.mutable_value());
  }

  absl::StatusOr<std::string> TryGet(absl::string_view key) override {
    pb::TryGetRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
    pb::TryGetResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::TryGet, request,
                                  &response, client_->Quick("TryGet", {key})));
    return std::move(*response.mutable_value());
  }

  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override {
    pb::CheckRequest request;
    request.set_job(client_->job());
    for (const std::string& key : keys) request.add_keys(key);
    pb::CheckResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::Check, request,
                                  &response,
                                  client_->Quick("Check", Views(keys))));
    return response.all_exist();
  }

  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override {
    pb::AddRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
    request.set_delta(delta);
    pb::AddResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::Add, request,
                                  &response, client_->Quick("Add", {key})));
    return response.value();
  }

  absl::StatusOr<std::string> CompareSet(absl::string_view key,
                                         absl::string_view expected,
                                         absl::string_view desired) override {
    pb::CompareSetRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
    request.set_expected(std::string(expected));
    request.set_desired(std::string(desired));
    pb::CompareSetResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::CompareSet, request,
                                  &response,
                                  client_->Quick("CompareSet", {key})));
    return std::move(*response.mutable_value());
  }

  absl::Status Wait(absl::Span<const std::string> keys,
                    absl::Duration timeout) override {
    const RpcInfo rpc = Blocking("Wait", keys, timeout);
    pb::WaitRequest request;
    request.set_job(client_->job());
    for (const std::string& key : keys) request.add_keys(key);
    request.set_timeout_ms(TimeoutMs(rpc));
    pb::WaitResponse response;
    return client_->Call(&pb::Rendezvous::Stub::Wait, request, &response, rpc);
  }

  absl::StatusOr<bool> DeleteKey(absl::string_view key) override {
    pb::DeleteKeyRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
    pb::DeleteKeyResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::DeleteKey, request,
                                  &response,
                                  client_->Quick("DeleteKey", {key})));
    return response.deleted();
  }

  absl::StatusOr<int64_t> NumKeys() override {
    pb::NumKeysRequest request;
    request.set_job(client_->job());
    pb::NumKeysResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::NumKeys, request,
                                  &response, client_->Quick("NumKeys")));
    return response.num_keys();
  }

  absl::Status Append(absl::string_view key, absl::string_view value) override {
    pb::AppendRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
    request.set_value(std::string(value));
    pb::AppendResponse response;
    return client_->Call(&pb::Rendezvous::Stub::Append, request, &response,
                         client_->Quick("Append", {key}));
  }

  absl::StatusOr<std::vector<std::string>> MultiGet(
      absl::Span<const std::string> keys, absl::Duration timeout) override {
    const RpcInfo rpc = Blocking("MultiGet", keys, timeout);
    pb::MultiGetRequest request;
    request.set_job(client_->job());
    for (const std::string& key : keys) request.add_keys(key);
    request.set_timeout_ms(TimeoutMs(rpc));
    pb::MultiGetResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::MultiGet, request,
                                  &response, rpc));
    if (static_cast<size_t>(response.values_size()) != keys.size()) {
      return absl::InternalError(absl::StrCat(
          "MultiGet", InJob(client_->job()), " on ", client_->endpoint(),
          " returned ", response.values_size(), " values for ", keys.size(),
          " keys"));
    }
    return std::vector<std::string>(
        std::make_move_iterator(response.mutable_values()->begin()),
        std::make_move_iterator(response.mutable_values()->end()));
  }

  absl::Status MultiSet(
      absl::Span<const std::pair<std::string, std::string>> entries) override {
    pb::MultiSetRequest request;
    request.set_job(client_->job());
    std::vector<absl::string_view> keys;
    keys.reserve(entries.size());
    for (const auto& [key, value] : entries) {
      request.add_keys(key);
      request.add_values(value);
      keys.push_back(key);
    }
    pb::MultiSetResponse response;
    return client_->Call(&pb::Rendezvous::Stub::MultiSet, request, &response,
                         client_->Quick("MultiSet", std::move(keys)));
  }

  absl::StatusOr<std::vector<std::string>> ListKeys(
      absl::string_view prefix) override {
    pb::ListKeysRequest request;
    request.set_job(client_->job());
    request.set_prefix(std::string(prefix));
    pb::ListKeysResponse response;
    RETURN_IF_ERROR(client_->Call(&pb::Rendezvous::Stub::ListKeys, request,
                                  &response, client_->Quick("ListKeys")));
    return std::vector<std::string>(
        std::make_move_iterator(response.mutable_keys()->begin()),
        std::make_move_iterator(response.mutable_keys()->end()));
  }

 private:
  // The RpcInfo for a blocking call: the daemon waits `timeout` (capped, and
  // a non-positive one means "are the keys there now") and answers a timeout
  // itself; the gRPC deadline allows it rpc_timeout more to do so.
  RpcInfo Blocking(absl::string_view op, absl::Span<const std::string> keys,
                   absl::Duration timeout) const {
    RpcInfo rpc;
    rpc.op = op;
    rpc.keys = Views(keys);
    rpc.blocking = true;
    rpc.timeout =
        std::clamp(timeout, absl::ZeroDuration(), kMaxBlockingTimeout);
    rpc.grace = client_->rpc_timeout();
    return rpc;
  }

  // timeout_ms for the request, rounded up so that a wait never ends early.
  static int64_t TimeoutMs(const RpcInfo& rpc) {
    return absl::ToInt64Milliseconds(
        absl::Ceil(rpc.timeout, absl::Milliseconds(1)));
  }

  const std::unique_ptr<RpcClient> client_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> ConnectGrpcStore(
    const GrpcStoreOptions& options) {
  if (options.job.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GrpcStore for ", options.endpoint.ToString(),
        " needs a job (the run id) to keep its keys in; none was given"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<RpcClient> client, Dial(options));
  return std::unique_ptr<Store>(std::make_unique<GrpcStore>(std::move(client)));
}

}  // namespace tplaunch
