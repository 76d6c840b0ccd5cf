// RpcClient: one connected gRPC channel to tprdzvd with what every call needs
// (stub, credentials, authorization header, deadlines, status mapping).
// Dial creates it from GrpcStoreOptions; GrpcStore and the admin calls share
// it.
#ifndef TPLAUNCH_STORE_GRPC_CHANNEL_H_
#define TPLAUNCH_STORE_GRPC_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/rendezvous.grpc.pb.h"
#include "store/grpc/grpc_store_options.h"
#include "store/grpc/incarnation.h"
#include "store/grpc/status.h"

namespace tplaunch {

// A connected channel plus what every call needs: the stub, the endpoint for
// messages and the authorization header.
class RpcClient final {
 public:
  RpcClient(std::string endpoint, std::shared_ptr<grpc::Channel> channel,
            const GrpcStoreOptions& options)
      : endpoint_(std::move(endpoint)),
        job_(options.job),
        rpc_timeout_(options.rpc_timeout),
        wait_for_reconnect_(options.wait_for_reconnect),
        incarnation_(options.incarnation),
        channel_(std::move(channel)),
        stub_(rendezvous::v1::Rendezvous::NewStub(channel_)) {
    if (!options.token.empty()) {
      authorization_ = absl::StrCat("Bearer ", options.token);
    }
    caller_label_ = options.caller_label;
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
    if (!caller_label_.empty()) {
      context->AddMetadata("x-tplaunch-caller", caller_label_);
    }
  }

  // Runs one unary RPC with the deadline rpc.timeout + rpc.grace from now.
  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (rendezvous::v1::Rendezvous::Stub::*method)(
                        grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response,
                    const RpcInfo& rpc) const {
    grpc::ClientContext context;
    const absl::Time start = absl::Now();
    PrepareContext(&context, start + rpc.timeout + rpc.grace);
    // A waiting call also makes this thread poll the channel's sockets: without
    // one, gRPC 1.51 notices a finished reconnect only on its 5 s backup
    // poller, so a daemon back after 1 s stayed unreached for 5-10 s.
    context.set_wait_for_ready(wait_for_reconnect_);
    const grpc::Status status =
        (stub_.get()->*method)(&context, request, response);
    ObserveIncarnation(context);
    if (status.ok()) return absl::OkStatus();
    const absl::Duration elapsed = absl::Now() - start;
    return FromGrpcStatus(NeverConnected(status, elapsed), rpc, job_, endpoint_,
                          elapsed);
  }

  // A waiting call whose deadline passed while the channel had no connection
  // never reached the daemon: that is Unavailable (the daemon is gone), not
  // DeadlineExceeded (a key did not appear, a frozen daemon did not answer).
  grpc::Status NeverConnected(const grpc::Status& status,
                              absl::Duration elapsed) const;

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
  const bool wait_for_reconnect_;
  const std::shared_ptr<IncarnationTracker> incarnation_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<rendezvous::v1::Rendezvous::Stub> stub_;
  std::string authorization_;
  std::string caller_label_;
};

// Creates the channel and waits until it is READY or connect_timeout passes;
// gRPC itself retries with a short backoff. Errors: InvalidArgument (no
// endpoint, half a client certificate), Unavailable (not reachable in time; the
// message names the endpoint, how long was tried and the last connection
// error).
absl::StatusOr<std::unique_ptr<RpcClient>> Dial(
    const GrpcStoreOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_CHANNEL_H_
