#include "store/etcd/etcd_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/error_text.h"

namespace tplaunch {
namespace {

constexpr absl::Duration kMaxBackoff = absl::Milliseconds(500);

std::shared_ptr<grpc::Channel> Dial(const std::string& endpoint) {
  grpc::ChannelArguments args;
  // HTTP/2 pings on connections with calls in flight: a member that is
  // stopped or cut off keeps its TCP connection but stops answering pings,
  // and a watch parked on it fails (and moves on) instead of waiting out its
  // whole timeout. etcd refuses pings more often than every 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // A member that comes back is reconnected within a second, not gRPC's
  // default of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A MultiGet's reply may carry many values; etcd bounds requests, not
  // replies.
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(),
                                   args);
}

std::string GrpcCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

bool IsRetryableEtcdError(const grpc::Status& status) {
  // etcd answers UNAVAILABLE for "no leader", "leader changed", "request timed
  // out" and a stopping server; gRPC for a refused or reset connection.
  // DEADLINE_EXCEEDED here is one attempt's limit, not the call's. UNKNOWN is
  // what a member without quorum answers when the request's own deadline
  // expires inside it ("context deadline exceeded"): the outcome is unknown,
  // which every EtcdStore write is safe to retry (store/etcd/txn.h).
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::UNKNOWN;
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(
    const EtcdStoreOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("the etcd store needs an endpoint");
  }
  std::unique_ptr<EtcdClient> client(new EtcdClient(options));
  for (const Endpoint& endpoint : options.endpoints) {
    auto member = std::make_unique<EtcdMember>();
    member->endpoint = endpoint.ToString();
    member->channel = Dial(member->endpoint);
    member->kv = etcdserverpb::KV::NewStub(member->channel);
    member->watch = etcdserverpb::Watch::NewStub(member->channel);
    member->lease = etcdserverpb::Lease::NewStub(member->channel);
    member->maintenance = etcdserverpb::Maintenance::NewStub(member->channel);
    client->members_.push_back(std::move(member));
  }
  return client;
}

std::string EtcdClient::EndpointList() const {
  std::vector<std::string> names;
  for (const auto& member : members_) names.push_back(member->endpoint);
  return absl::StrJoin(names, ", ");
}

void EtcdClient::MemberFailed(size_t index) {
  size_t expected = index;
  current_.compare_exchange_strong(expected, (index + 1) % members_.size());
}

std::string EtcdClient::Describe(const EtcdCallInfo& call) const {
  std::string what = absl::StrCat("etcd ", call.op);
  if (!call.keys.empty())
    absl::StrAppend(&what, " of ", DescribeKeys(call.keys));
  absl::StrAppend(&what, " in run '", absl::CHexEscape(options_.run_id), "'");
  return what;
}

absl::Status EtcdClient::CheckRequestSize(const EtcdCallInfo& call,
                                          size_t request_bytes) const {
  if (static_cast<int64_t>(request_bytes) <= options_.max_request_bytes) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      Describe(call), ": the request is ", request_bytes,
      " bytes, over etcd's request-size limit of ", options_.max_request_bytes,
      " bytes (etcd --max-request-bytes, 1.5 MiB by default)"));
}

absl::Status EtcdClient::Call(const EtcdCallInfo& call, absl::Time deadline,
                              const Attempt& attempt) {
  const absl::Time start = absl::Now();
  std::vector<std::string> tried;
  grpc::Status last;
  std::string last_endpoint;
  absl::Duration backoff = options_.initial_backoff;
  size_t failures = 0;
  do {
    const size_t index = current_.load();
    EtcdMember& member = *members_[index];
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(
        std::min(deadline, absl::Now() + options_.attempt_timeout)));
    const grpc::Status status = attempt(member, context);
    if (status.ok()) return absl::OkStatus();
    if (!IsRetryableEtcdError(status)) {
      // ResourceExhausted is gRPC's own message-size check on the member,
      // which etcd sets just above its request-size limit.
      const bool refused =
          status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
          status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
      const absl::StatusCode code =
          refused ? absl::StatusCode::kInvalidArgument
                  : static_cast<absl::StatusCode>(status.error_code());
      return absl::Status(
          code,
          absl::StrCat(Describe(call), " failed at ", member.endpoint, ": ",
                       status.error_message(),
                       refused
                           ? " (etcd's limits: --max-request-bytes, 1.5 MiB by "
                             "default; --max-txn-ops, 128 by default)"
                           : ""));
    }
    if (std::find(tried.begin(), tried.end(), member.endpoint) == tried.end()) {
      tried.push_back(member.endpoint);
    }
    last = status;
    last_endpoint = member.endpoint;
    MemberFailed(index);
    if (++failures % members_.size() == 0) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      std::this_thread::sleep_for(
          absl::ToChronoMilliseconds(std::min(backoff, left)));
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  } while (absl::Now() < deadline);
  return absl::UnavailableError(absl::StrCat(
      Describe(call), ": no etcd member answered within ",
      FormatWaited(absl::Now() - start), " (tried ", absl::StrJoin(tried, ", "),
      " of ", EndpointList(), "; last error from ", last_endpoint, ": ",
      GrpcCodeName(last.error_code()), ": ", last.error_message(), ")"));
}

}  // namespace tplaunch
