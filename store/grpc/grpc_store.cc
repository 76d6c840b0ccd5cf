#include "store/grpc/grpc_store.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "proto/rendezvous.grpc.pb.h"
#include "store/grpc/incarnation.h"
#include "store/grpc/rendezvous_admin.h"

namespace tplaunch {
namespace {

namespace pb = ::tplaunch::rendezvous::v1;

// torchrun's c10d default, so `--rdzv-endpoint host` means the same thing in
// both.
constexpr int kDefaultPort = 29400;
// gRPC treats an infinite deadline as none, which the daemon rejects: cap it
// instead.
constexpr absl::Duration kMaxBlockingTimeout = absl::Hours(24 * 30);
// Error messages list at most this many keys, each shown up to kMaxKeyShown
// bytes.
constexpr size_t kMaxKeysNamed = 8;
constexpr size_t kMaxKeyShown = 96;
// A timed-out multi-key wait looks up which of its first this-many keys are
// missing.
constexpr size_t kMaxKeysChecked = 64;

// ---- Endpoints ----

absl::Status BadEndpoint(absl::string_view endpoint, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad rendezvous endpoint '", absl::CHexEscape(endpoint), "': ", why,
      "; expected HOST:PORT, [IPV6]:PORT or HOST (port ", kDefaultPort, ")"));
}

// Returns the gRPC target "host:port" ("[v6]:port" for IPv6 literals).
absl::StatusOr<std::string> ParseEndpoint(absl::string_view endpoint) {
  if (endpoint.empty()) return BadEndpoint(endpoint, "it is empty");
  for (char c : endpoint) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '/') {
      return BadEndpoint(endpoint, "it contains whitespace or '/'");
    }
  }
  absl::string_view host;
  absl::string_view port_text;
  bool has_port = false;
  if (endpoint.front() == '[') {
    const size_t close = endpoint.find(']');
    if (close == absl::string_view::npos) {
      return BadEndpoint(endpoint, "missing ']' after the IPv6 address");
    }
    host = endpoint.substr(0, close + 1);
    if (host.size() == 2) return BadEndpoint(endpoint, "the host is empty");
    absl::string_view rest = endpoint.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return BadEndpoint(endpoint, "expected ':' after ']'");
      }
      has_port = true;
      port_text = rest.substr(1);
    }
  } else {
    const size_t colons = std::count(endpoint.begin(), endpoint.end(), ':');
    if (colons > 1) {
      return BadEndpoint(endpoint,
                         "IPv6 addresses need brackets, e.g. [::1]:29400");
    }
    const size_t colon = endpoint.find(':');
    host = endpoint.substr(0, colon);
    if (colon != absl::string_view::npos) {
      has_port = true;
      port_text = endpoint.substr(colon + 1);
    }
    if (host.empty()) return BadEndpoint(endpoint, "the host is empty");
  }
  int port = kDefaultPort;
  if (has_port) {
    if (!absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535 ||
        !absl::ascii_isdigit(static_cast<unsigned char>(port_text.front()))) {
      return BadEndpoint(endpoint,
                         absl::StrCat("port '", absl::CHexEscape(port_text),
                                      "' is not in 1..65535"));
    }
  }
  return absl::StrCat(host, ":", port);
}

// ---- Messages ----

std::string FormatWaited(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

std::string QuoteKey(absl::string_view key) {
  if (key.size() <= kMaxKeyShown) {
    return absl::StrCat("'", absl::CHexEscape(key), "'");
  }
  return absl::StrCat("'", absl::CHexEscape(key.substr(0, kMaxKeyShown)),
                      "'... (", key.size(), " bytes)");
}

// "'a', 'b'" (bounded).
std::string QuoteKeys(absl::Span<const absl::string_view> keys) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < keys.size() && i < kMaxKeysNamed; ++i) {
    shown.push_back(QuoteKey(keys[i]));
  }
  std::string more;
  if (keys.size() > kMaxKeysNamed) {
    more = absl::StrCat(" and ", keys.size() - kMaxKeysNamed, " more");
  }
  return absl::StrCat(absl::StrJoin(shown, ", "), more);
}

// "key 'a'" or "3 keys 'a', 'b', 'c'".
std::string DescribeKeys(absl::Span<const absl::string_view> keys) {
  if (keys.size() == 1) return absl::StrCat("key ", QuoteKey(keys[0]));
  return absl::StrCat(keys.size(), " keys ", QuoteKeys(keys));
}

std::string InJob(absl::string_view job) {
  if (job.empty()) return "";
  return absl::StrCat(" in job '", absl::CHexEscape(job), "'");
}

// What one RPC was about, for its error message.
struct RpcInfo {
  absl::string_view op;                 // "Get", "Set", ...
  std::vector<absl::string_view> keys;  // Empty for job- or daemon-wide calls.
  bool blocking = false;                // Get, Wait, MultiGet.
  absl::Duration timeout;               // The deadline the call was given.
};

// `missing` lists the keys still absent of the `total` waited for; `exact`
// says whether every key was looked at or only the first kMaxKeysChecked.
std::string TimeoutMessage(absl::Duration timeout,
                           absl::Span<const absl::string_view> missing,
                           size_t total, bool exact, absl::string_view job,
                           absl::string_view endpoint) {
  std::string what;
  if (missing.size() == total) {
    what = DescribeKeys(missing);
  } else if (exact) {
    what = absl::StrCat(missing.size(), " of ", total, " keys (missing ",
                        QuoteKeys(missing), ")");
  } else {
    what = absl::StrCat(total, " keys (at least ", missing.size(),
                        " missing: ", QuoteKeys(missing), ")");
  }
  return absl::StrCat("timed out after ", FormatWaited(timeout),
                      " waiting for ", what, InJob(job), " on ", endpoint);
}

// The one place a gRPC status becomes an absl::Status. The codes are the same
// canonical codes; the message gains the operation, keys, job, endpoint and
// time.
absl::Status FromGrpcStatus(const grpc::Status& status, const RpcInfo& rpc,
                            absl::string_view job, absl::string_view endpoint,
                            absl::Duration elapsed) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string detail = status.error_message();
  // gRPC's own text for a client-side deadline adds nothing to ours. A blocked
  // call's deadline fires on both ends at once and either side's status may
  // arrive first; our message says the same as the daemon's, so both read
  // alike.
  if (code == absl::StatusCode::kDeadlineExceeded &&
      (rpc.blocking || detail == "Deadline Exceeded")) {
    detail.clear();
  }

  std::string subject(rpc.op);
  if (!rpc.keys.empty()) {
    absl::StrAppend(&subject, " of ", DescribeKeys(rpc.keys));
  }
  absl::StrAppend(&subject, InJob(job));

  std::string message;
  switch (code) {
    case absl::StatusCode::kDeadlineExceeded:
      message =
          rpc.blocking && !rpc.keys.empty()
              ? TimeoutMessage(rpc.timeout, rpc.keys, rpc.keys.size(),
                               /*exact=*/true, job, endpoint)
              : absl::StrCat(subject, " on ", endpoint, ": no reply within ",
                             FormatWaited(rpc.timeout));
      break;
    case absl::StatusCode::kUnavailable:
      message =
          absl::StrCat(subject, ": tprdzvd at ", endpoint, " is unavailable");
      if (rpc.blocking) {
        absl::StrAppend(&message, " after waiting ", FormatWaited(elapsed));
      }
      break;
    default:
      message = absl::StrCat(subject, " on ", endpoint, " failed");
      if (rpc.blocking) {
        absl::StrAppend(&message, " after ", FormatWaited(elapsed));
      }
      break;
  }
  if (!detail.empty()) absl::StrAppend(&message, ": ", detail);
  return absl::Status(code, message);
}

// ---- Channel ----

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(
    const GrpcStoreOptions& options) {
  const bool has_cert = !options.tls_client_cert_pem.empty();
  const bool has_key = !options.tls_client_key_pem.empty();
  if (has_cert != has_key) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs its key and vice versa; only one was "
        "given");
  }
  if (options.tls_root_certs_pem.empty()) {
    if (has_cert) {
      return absl::InvalidArgumentError(
          "a TLS client certificate was given without root certificates "
          "(tls_root_certs_pem) to verify the daemon");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.tls_root_certs_pem;
  ssl.pem_cert_chain = options.tls_client_cert_pem;
  ssl.pem_private_key = options.tls_client_key_pem;
  return grpc::SslCredentials(ssl);
}

grpc::ChannelArguments MakeChannelArguments(const GrpcStoreOptions& options) {
  grpc::ChannelArguments args;
  // Values may be 8 MiB and MultiGet returns several: never refuse a reply for
  // size.
  args.SetMaxReceiveMessageSize(-1);
  // gRPC's defaults (1 s growing to 120 s) would sleep far past a short connect
  // timeout and leave a restarted daemon unreached for minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // A Get can stay parked for minutes without a byte on the wire; pings notice
  // a daemon host that vanished without closing the connection. tprdzvd accepts
  // pings every 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10 * 1000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Each store gets its own connection rather than gRPC's process-wide shared
  // one, so one store's traffic never queues behind another's.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return args;
}

const char* StateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "UNKNOWN";
}

// A connected channel plus what every call needs: the stub, the endpoint for
// messages and the authorization header.
class RpcClient final {
 public:
  RpcClient(std::string endpoint, std::shared_ptr<grpc::Channel> channel,
            const GrpcStoreOptions& options)
      : endpoint_(std::move(endpoint)),
        job_(options.job),
        rpc_timeout_(options.rpc_timeout),
        incarnation_(options.incarnation),
        channel_(std::move(channel)),
        stub_(pb::Rendezvous::NewStub(channel_)) {
    if (!options.token.empty()) {
      authorization_ = absl::StrCat("Bearer ", options.token);
    }
  }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& job() const { return job_; }
  absl::Duration rpc_timeout() const { return rpc_timeout_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  void PrepareContext(grpc::ClientContext* context, absl::Time deadline) const {
    context->set_deadline(absl::ToChronoTime(deadline));
    if (!authorization_.empty()) {
      context->AddMetadata("authorization", authorization_);
    }
  }

  // Runs one unary RPC with the deadline rpc.timeout from now.
  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (pb::Rendezvous::Stub::*method)(
                        grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response,
                    const RpcInfo& rpc) const {
    grpc::ClientContext context;
    const absl::Time start = absl::Now();
    PrepareContext(&context, start + rpc.timeout);
    const grpc::Status status =
        (stub_.get()->*method)(&context, request, response);
    ObserveIncarnation(context);
    if (status.ok()) return absl::OkStatus();
    return FromGrpcStatus(status, rpc, job_, endpoint_, absl::Now() - start);
  }

  // A non-blocking call about `keys`, bounded by rpc_timeout.
  RpcInfo Quick(absl::string_view op,
                std::vector<absl::string_view> keys = {}) const {
    RpcInfo rpc;
    rpc.op = op;
    rpc.keys = std::move(keys);
    rpc.timeout = rpc_timeout_;
    return rpc;
  }

 private:
  const std::string endpoint_;
  const std::string job_;
  // Every reply from the daemon, errors included, names its incarnation (an
  // error without a message only in the trailing metadata); a call that never
  // reached it has none and tells nothing.
  void ObserveIncarnation(const grpc::ClientContext& context) const {
    if (incarnation_ == nullptr) return;
    for (const auto* metadata : {&context.GetServerInitialMetadata(),
                                 &context.GetServerTrailingMetadata()}) {
      auto it = metadata->find(kIncarnationMetadataKey);
      if (it != metadata->end()) {
        incarnation_->Observe(
            absl::string_view(it->second.data(), it->second.size()));
        return;
      }
    }
  }

  const absl::Duration rpc_timeout_;
  const std::shared_ptr<IncarnationTracker> incarnation_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<pb::Rendezvous::Stub> stub_;
  std::string authorization_;
};

// Creates the channel and waits until it is READY or connect_timeout passes.
// gRPC itself retries with the backoff set in MakeChannelArguments.
absl::StatusOr<std::unique_ptr<RpcClient>> Dial(
    const GrpcStoreOptions& options) {
  ASSIGN_OR_RETURN(std::string endpoint, ParseEndpoint(options.endpoint));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   MakeCredentials(options));
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      endpoint, credentials, MakeChannelArguments(options));
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.connect_timeout;
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (!channel->WaitForStateChange(state, absl::ToChronoTime(deadline))) {
      break;
    }
    state = channel->GetState(/*try_to_connect=*/true);
  }
  auto client = std::make_unique<RpcClient>(endpoint, channel, options);
  if (state == GRPC_CHANNEL_READY) return client;

  // A call on a failing channel fails at once with the last connection error
  // ("Connection refused", a TLS handshake failure, ...), which the state
  // lacks.
  std::string last_error;
  pb::GetStatsRequest request;
  pb::GetStatsResponse response;
  grpc::ClientContext context;
  client->PrepareContext(&context, absl::Now() + absl::Milliseconds(200));
  const grpc::Status probe =
      pb::Rendezvous::NewStub(channel)->GetStats(&context, request, &response);
  // Any answer from the daemon itself (even "wrong token") means it came up
  // just now: the store is usable and its calls report their own errors.
  if (probe.error_code() != grpc::StatusCode::UNAVAILABLE &&
      probe.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
    return client;
  }
  if (probe.error_code() == grpc::StatusCode::UNAVAILABLE) {
    last_error = absl::StrCat("; last error: ", probe.error_message());
  }
  return absl::UnavailableError(absl::StrCat(
      "cannot reach tprdzvd at ", endpoint, " after trying for ",
      FormatWaited(absl::Now() - start), " (connect timeout ",
      FormatWaited(options.connect_timeout), ", channel ", StateName(state),
      options.tls_root_certs_pem.empty() ? ", plaintext" : ", TLS", ")",
      last_error));
}

std::vector<absl::string_view> Views(absl::Span<const std::string> keys) {
  return std::vector<absl::string_view>(keys.begin(), keys.end());
}

// ---- The store ----

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
    ASSIGN_OR_RETURN(const RpcInfo rpc, Blocking("Get", keys, timeout));
    pb::GetRequest request;
    request.set_job(client_->job());
    request.set_key(std::string(key));
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
    ASSIGN_OR_RETURN(const RpcInfo rpc, Blocking("Wait", keys, timeout));
    pb::WaitRequest request;
    request.set_job(client_->job());
    for (const std::string& key : keys) request.add_keys(key);
    pb::WaitResponse response;
    return NameMissingOnTimeout(
        client_->Call(&pb::Rendezvous::Stub::Wait, request, &response, rpc),
        keys, rpc.timeout);
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
    ASSIGN_OR_RETURN(const RpcInfo rpc, Blocking("MultiGet", keys, timeout));
    pb::MultiGetRequest request;
    request.set_job(client_->job());
    for (const std::string& key : keys) request.add_keys(key);
    pb::MultiGetResponse response;
    RETURN_IF_ERROR(NameMissingOnTimeout(
        client_->Call(&pb::Rendezvous::Stub::MultiGet, request, &response, rpc),
        keys, rpc.timeout));
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
  // The RpcInfo for a blocking call. gRPC fails a call whose deadline has
  // passed before sending it, so a zero or negative timeout becomes "are the
  // keys there now": DeadlineExceeded if not, else the call runs with
  // rpc_timeout and returns at once.
  absl::StatusOr<RpcInfo> Blocking(absl::string_view op,
                                   absl::Span<const std::string> keys,
                                   absl::Duration timeout) {
    RpcInfo rpc;
    rpc.op = op;
    rpc.keys = Views(keys);
    rpc.blocking = true;
    rpc.timeout = std::min(timeout, kMaxBlockingTimeout);
    if (timeout > absl::ZeroDuration()) return rpc;
    ASSIGN_OR_RETURN(const bool all_exist, Check(keys));
    if (!all_exist) {
      return NameMissingOnTimeout(
          absl::DeadlineExceededError(TimeoutMessage(
              absl::ZeroDuration(), rpc.keys, keys.size(),
              /*exact=*/true, client_->job(), client_->endpoint())),
          keys, absl::ZeroDuration());
    }
    rpc.timeout = client_->rpc_timeout();
    return rpc;
  }

  // A timed-out wait on several keys is most useful when it says which are
  // missing ("who has not arrived"). The daemon's reply may lose the race
  // against the client's own deadline, so ask again key by key: only on this
  // error path, and for at most kMaxKeysChecked keys.
  absl::Status NameMissingOnTimeout(absl::Status status,
                                    absl::Span<const std::string> keys,
                                    absl::Duration timeout) {
    if (status.code() != absl::StatusCode::kDeadlineExceeded ||
        keys.size() < 2) {
      return status;
    }
    std::vector<absl::string_view> missing;
    size_t checked = 0;
    for (; checked < keys.size() && checked < kMaxKeysChecked; ++checked) {
      absl::StatusOr<bool> exists =
          Check(absl::MakeConstSpan(&keys[checked], 1));
      if (!exists.ok()) return status;
      if (!*exists) missing.push_back(keys[checked]);
    }
    if (missing.empty()) return status;  // All arrived after the deadline.
    return absl::DeadlineExceededError(TimeoutMessage(
        timeout, missing, keys.size(), /*exact=*/checked == keys.size(),
        client_->job(), client_->endpoint()));
  }

  const std::unique_ptr<RpcClient> client_;
};

// grpc.health.v1.HealthCheckResponse.status is field 1, a varint enum; SERVING
// = 1. Decoded by hand: the health messages are not part of our generated
// protocol.
bool HealthResponseIsServing(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  constexpr char kStatusTag = 0x08;  // Field 1, wire type varint.
  constexpr char kServing = 0x01;
  return bytes.size() == 2 && bytes[0] == kStatusTag && bytes[1] == kServing;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> ConnectGrpcStore(
    const GrpcStoreOptions& options) {
  if (options.job.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GrpcStore for ", options.endpoint,
        " needs a job (the run id) to keep its keys in; none was given"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<RpcClient> client, Dial(options));
  return std::unique_ptr<Store>(std::make_unique<GrpcStore>(std::move(client)));
}

absl::StatusOr<std::string> ParseRendezvousEndpoint(
    absl::string_view endpoint) {
  return ParseEndpoint(endpoint);
}

absl::StatusOr<int64_t> DeleteRendezvousJob(const GrpcStoreOptions& options) {
  if (options.job.empty()) {
    return absl::InvalidArgumentError(
        "DeleteJob needs a job name; none was given");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<RpcClient> client, Dial(options));
  pb::DeleteJobRequest request;
  request.set_job(options.job);
  pb::DeleteJobResponse response;
  RETURN_IF_ERROR(client->Call(&pb::Rendezvous::Stub::DeleteJob, request,
                               &response, client->Quick("DeleteJob")));
  return response.deleted_keys();
}

absl::StatusOr<RendezvousStats> GetRendezvousStats(
    const GrpcStoreOptions& options) {
  GrpcStoreOptions daemon_wide = options;
  daemon_wide.job.clear();
  ASSIGN_OR_RETURN(std::unique_ptr<RpcClient> client, Dial(daemon_wide));
  pb::GetStatsRequest request;
  pb::GetStatsResponse response;
  RETURN_IF_ERROR(client->Call(&pb::Rendezvous::Stub::GetStats, request,
                               &response, client->Quick("GetStats")));
  RendezvousStats stats;
  stats.jobs = response.jobs();
  stats.keys = response.keys();
  stats.waiters = response.waiters();
  stats.incarnation = response.incarnation();
  return stats;
}

absl::Status CheckRendezvousHealth(const GrpcStoreOptions& options) {
  GrpcStoreOptions daemon_wide = options;
  daemon_wide.job.clear();
  ASSIGN_OR_RETURN(std::unique_ptr<RpcClient> client, Dial(daemon_wide));

  grpc::TemplatedGenericStub<grpc::ByteBuffer, grpc::ByteBuffer> stub(
      client->channel());
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  client->PrepareContext(&context, start + client->rpc_timeout());
  // An empty HealthCheckRequest asks about the server as a whole.
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);
  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::ByteBuffer>> call =
      stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request,
                            &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  int done_tag = 0;
  call->Finish(&response, &status, &done_tag);
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }

  RpcInfo rpc = client->Quick("Health check");
  RETURN_IF_ERROR(
      FromGrpcStatus(status, rpc, "", client->endpoint(), absl::Now() - start));
  if (!HealthResponseIsServing(response)) {
    return absl::UnavailableError(absl::StrCat(
        "tprdzvd at ", client->endpoint(), " answers but is not SERVING"));
  }
  return absl::OkStatus();
}

}  // namespace tplaunch
