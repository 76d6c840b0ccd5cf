#include "store/grpc/rendezvous_admin.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "proto/rendezvous.grpc.pb.h"
#include "store/grpc/channel.h"
#include "store/grpc/status.h"

namespace tplaunch {
namespace {

namespace pb = ::tplaunch::rendezvous::v1;

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
  stats.calls = response.calls();
  stats.torch_store_job = response.torch_store_job();
  stats.torch_store_port = response.torch_store_port();
  stats.incarnation = response.incarnation();
  return stats;
}

absl::StatusOr<int64_t> ClearTorchStoreJob(const GrpcStoreOptions& options,
                                           int listener_port) {
  ASSIGN_OR_RETURN(const RendezvousStats stats, GetRendezvousStats(options));
  if (stats.torch_store_port == 0 || stats.torch_store_job.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tprdzvd at ", options.endpoint.ToString(),
        " serves no TCPStore listener (start it with --torch-store-port)"));
  }
  if (listener_port != 0 && listener_port != stats.torch_store_port) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the TCPStore listener on port ", listener_port,
        " is not the one of tprdzvd at ", options.endpoint.ToString(),
        ", whose listener is on port ", stats.torch_store_port));
  }
  GrpcStoreOptions job = options;
  job.job = stats.torch_store_job;
  return DeleteRendezvousJob(job);
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
