// EtcdClient: one gRPC channel per etcd member and the failover policy every
// EtcdStore call goes through. The one place a gRPC status from etcd becomes an
// absl::Status.
//
// A call runs on the member that answered last. When that member is
// unreachable (UNAVAILABLE: refused, reset, "no leader", "leader changed",
// "request timed out"; UNKNOWN: its quorum-less wait ran out) or does not
// answer within attempt_timeout, the call
// moves on to the next member, and after a full round pauses (backoff) and
// goes round again, until its deadline. Other errors end the call at once.
#ifndef TPLAUNCH_STORE_ETCD_ETCD_CLIENT_H_
#define TPLAUNCH_STORE_ETCD_ETCD_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "store/etcd/etcd_store_options.h"
#include "store/etcd/gen/rpc.grpc.pb.h"

namespace tplaunch {

struct EtcdMember {
  std::string endpoint;  // "host:port"
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
};

// What a call was about, for its error message.
struct EtcdCallInfo {
  absl::string_view op;                 // "Get", "Add", ...
  std::vector<absl::string_view> keys;  // Store keys; empty for run-wide calls.
};

class EtcdClient {
 public:
  // InvalidArgument when there is no endpoint. Channels connect lazily.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(
      const EtcdStoreOptions& options);

  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const EtcdStoreOptions& options() const { return options_; }
  absl::Time QuickDeadline() const {
    return absl::Now() + options_.rpc_timeout;
  }
  // "127.0.0.1:2379, 127.0.0.1:2380".
  std::string EndpointList() const;

  // One try of a call on `member`; the context's deadline is already set.
  using Attempt =
      std::function<grpc::Status(EtcdMember& member, grpc::ClientContext&)>;

  // Runs `attempt` under the failover policy above until it succeeds, fails
  // with an error that is not about reachability, or `deadline` passes.
  // Errors: Unavailable (no member answered in time: names etcd, the call,
  // its keys, the run, the endpoints tried, the time spent and the last
  // error); InvalidArgument (etcd refused the request, e.g. its size limit);
  // other codes as etcd returned them, with the same context.
  absl::Status Call(const EtcdCallInfo& call, absl::Time deadline,
                    const Attempt& attempt);

  // For streams that outlive one attempt (watches): the member to use now,
  // and the report that it failed, so the next pick moves on.
  size_t CurrentMember() const { return current_.load(); }
  EtcdMember& member(size_t index) { return *members_[index]; }
  void MemberFailed(size_t index);

  // "etcd Get of key 'a' in run 'r'", the start of every error message.
  std::string Describe(const EtcdCallInfo& call) const;

  // InvalidArgument naming etcd's request-size limit when `request_bytes` is
  // over it.
  absl::Status CheckRequestSize(const EtcdCallInfo& call,
                                size_t request_bytes) const;

 private:
  explicit EtcdClient(const EtcdStoreOptions& options) : options_(options) {}

  EtcdStoreOptions options_;
  std::vector<std::unique_ptr<EtcdMember>> members_;
  std::atomic<size_t> current_{0};
};

// Whether a failed attempt may be tried again on another member.
bool IsRetryableEtcdError(const grpc::Status& status);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_ETCD_CLIENT_H_
