// FromGrpcStatus, the one place a gRPC status becomes an absl::Status: the
// daemon's timeout message passes unchanged, gRPC's own bare "Deadline
// Exceeded" is replaced by a message of ours, and other errors gain the
// operation, keys, job and endpoint.
#include "store/grpc/status.h"

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"

namespace tplaunch {
namespace {

RpcInfo BlockingWait() {
  RpcInfo rpc;
  rpc.op = "Wait";
  rpc.keys = {"a", "b"};
  rpc.blocking = true;
  rpc.timeout = absl::Milliseconds(300);
  rpc.grace = absl::Seconds(30);
  return rpc;
}

TEST_CASE("status: the daemon's timeout message reaches the caller intact",
          "[store][grpc]") {
  const std::string daemon =
      "timed out after 300ms waiting for 1 of 2 keys (missing 'b') in job 'j' "
      "on h:1";
  const absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, daemon),
                     BlockingWait(), "j", "h:1", absl::Milliseconds(301));
  CHECK(status.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(status.message() == daemon);
}

TEST_CASE("status: a daemon silent past the grace gets our own timeout text",
          "[store][grpc]") {
  const absl::Status status = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
      BlockingWait(), "j", "h:1", absl::Seconds(31));
  CHECK(status.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(status.message() ==
        "timed out after 300ms waiting for 2 keys 'a', 'b' in job 'j' on h:1 "
        "(tprdzvd sent no answer within 30s after that)");
}

TEST_CASE("status: other errors name the call, keys, job and endpoint",
          "[store][grpc]") {
  RpcInfo set;
  set.op = "Set";
  set.keys = {"k"};
  set.timeout = absl::Seconds(30);
  absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no"), set,
                     "j", "h:1", absl::Milliseconds(1));
  CHECK(status.code() == absl::StatusCode::kUnauthenticated);
  CHECK(status.message() == "Set of key 'k' in job 'j' on h:1 failed: no");

  status = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
      set, "j", "h:1", absl::Seconds(30));
  CHECK(status.message() ==
        "Set of key 'k' in job 'j' on h:1: no reply within 30s");

  status = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset"),
      BlockingWait(), "j", "h:1", absl::Milliseconds(12));
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK(status.message() ==
        "Wait of 2 keys 'a', 'b' in job 'j': tprdzvd at h:1 is unavailable "
        "after waiting 12ms: connection reset");
  CHECK(FromGrpcStatus(grpc::Status::OK, set, "j", "h:1", absl::ZeroDuration())
            .ok());
}

}  // namespace
}  // namespace tplaunch
