#include "store/grpc/channel.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "common/status_macros.h"
#include "store/error_text.h"

namespace tplaunch {
namespace {

namespace pb = ::tplaunch::rendezvous::v1;

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

// The first call after the daemon died goes out on the dead connection and
// fails with UNAVAILABLE ("Connection reset by peer") before the channel knows
// it is gone; gRPC retries it (and a call parked on a daemon that went away)
// within its deadline, waiting for the reconnect. Only calls that are safe to
// send twice: a repeated CompareSet finds its own value and returns it, as the
// first would have; Add, Append and DeleteKey are not retried (a second Add
// would count twice) and fail with Unavailable instead.
constexpr char kRetryConfig[] = R"json({
  "methodConfig": [{
    "name": [
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "Set"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "Get"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "TryGet"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "Check"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "CompareSet"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "Wait"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "NumKeys"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "MultiGet"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "MultiSet"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "ListKeys"},
      {"service": "tplaunch.rendezvous.v1.Rendezvous", "method": "GetStats"}
    ],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.05s",
      "maxBackoff": "0.2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})json";

grpc::ChannelArguments MakeChannelArguments(const GrpcStoreOptions& options) {
  grpc::ChannelArguments args;
  // Values may be 8 MiB and MultiGet returns several: never refuse a reply for
  // size.
  args.SetMaxReceiveMessageSize(-1);
  // gRPC's defaults (1 s growing to 120 s) would sleep far past a short connect
  // timeout and leave a restarted daemon unreached for minutes. Capped at
  // 200 ms so a daemon back after an outage of any length is reached within
  // ~200 ms (+-20% jitter); a refused connect costs the daemon host nothing.
  // (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is gRPC 1.51's minimum *connect*
  // timeout, 20 s, which only matters for a host that drops SYNs: kept.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
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
  if (options.wait_for_reconnect) args.SetServiceConfigJSON(kRetryConfig);
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

}  // namespace

grpc::Status RpcClient::NeverConnected(const grpc::Status& status,
                                       absl::Duration elapsed) const {
  const grpc_connectivity_state state =
      channel_->GetState(/*try_to_connect=*/false);
  if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED ||
      state == GRPC_CHANNEL_READY) {
    return status;
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("no connection for ", FormatWaited(elapsed),
                                   " (channel ", StateName(state), ")"));
}

absl::StatusOr<std::unique_ptr<RpcClient>> Dial(
    const GrpcStoreOptions& options) {
  // A node-local store proxy (store/proxy/) is dialled as host "unix:/path"
  // and no port: the gRPC target itself.
  const bool unix_socket = absl::StartsWith(options.endpoint.host, "unix:");
  if (!unix_socket &&
      (options.endpoint.host.empty() || options.endpoint.port < 1 ||
       options.endpoint.port > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("no tprdzvd endpoint to dial (host '",
                     absl::CHexEscape(options.endpoint.host), "', port ",
                     options.endpoint.port, "); parse one with ParseEndpoint"));
  }
  const std::string endpoint = options.endpoint.ToString();
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

}  // namespace tplaunch
