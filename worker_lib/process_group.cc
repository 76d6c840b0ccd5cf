#include "worker_lib/process_group.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "store/etcd/etcd_store.h"
#include "store/grpc/grpc_store.h"
#include "store/prefix_store.h"
#include "worker_lib/backend.h"
#include "worker_lib/gloo_group.h"
#include "worker_lib/group_join.h"
#include "worker_lib/group_registry.h"
#include "worker_lib/init_config.h"
#include "worker_lib/logging.h"
#include "worker_lib/nccl_group.h"
#include "worker_lib/nccl_host.h"

namespace tplaunch {
namespace {

// Deadline for store calls that never block; the group timeout bounds it.
constexpr absl::Duration kMaxRpcTimeout = absl::Seconds(30);

// The group handed to callers: forwards to the backend's group, keeps the store
// alive and releases the (group_name, rank) claim when destroyed.
class RegisteredGroup final : public ProcessGroup {
 public:
  ProcessGroupInitStats stats;

  RegisteredGroup(std::unique_ptr<ProcessGroup> inner,
                  std::shared_ptr<Store> store)
      : inner_(std::move(inner)), store_(std::move(store)) {}
  ~RegisteredGroup() override {
    const std::string name(inner_->group_name());
    const int rank = inner_->rank();
    inner_.reset();
    ReleaseGroupMembership(name, rank);
  }

  int rank() const override { return inner_->rank(); }
  int world_size() const override { return inner_->world_size(); }
  int local_rank() const override { return inner_->local_rank(); }
  absl::string_view backend() const override { return inner_->backend(); }
  absl::string_view group_name() const override { return inner_->group_name(); }
  absl::Status Barrier() override { return inner_->Barrier(); }
  absl::Status AllReduce(void* data, int64_t count, DataType type,
                         ReduceOp op) override {
    return inner_->AllReduce(data, count, type, op);
  }
  absl::Status Broadcast(void* data, int64_t count, DataType type,
                         int root) override {
    return inner_->Broadcast(data, count, type, root);
  }
  absl::Status AllGather(const void* input, void* output, int64_t count,
                         DataType type) override {
    return inner_->AllGather(input, output, count, type);
  }
  void* native_handle() override { return inner_->native_handle(); }
  ProcessGroupInitStats init_stats() const override { return stats; }

 private:
  std::unique_ptr<ProcessGroup> inner_;
  std::shared_ptr<Store> store_;
};

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "?";
  return name;
}

absl::StatusOr<std::unique_ptr<ProcessGroup>> InitClaimed(
    const ProcessGroupOptions& options, const InitConfig& config,
    Backend backend, std::shared_ptr<Store>* store_out,
    ProcessGroupInitStats* stats) {
  const absl::Time start = absl::Now();
  const std::string where =
      absl::StrFormat("group '%s' (attempt %d, %s)", options.group_name,
                      config.attempt, BackendName(backend));
  if (backend == Backend::kNccl) {
    // Local checks first: a CPU host fails here at once, before touching the
    // store.
    RETURN_IF_ERROR(NcclPreflight(config.local_rank));
  }

  std::shared_ptr<Store> base = options.store;
  if (base == nullptr && !config.etcd_endpoints.empty()) {
    // The launcher rendezvoused in etcd (--rdzv-backend etcd-v3): the ranks
    // exchange their addresses and NCCL ids in the same run there.
    EtcdStoreOptions etcd;
    etcd.endpoints = config.etcd_endpoints;
    etcd.run_id = config.run_id;
    etcd.rpc_timeout = std::min(options.timeout, kMaxRpcTimeout);
    ASSIGN_OR_RETURN(std::unique_ptr<Store> connected, ConnectEtcdStore(etcd));
    base = std::move(connected);
  }
  if (base == nullptr) {
    GrpcStoreOptions grpc;
    grpc.endpoint = *config.rdzv_endpoint;
    grpc.job = config.run_id;
    grpc.token = config.token;
    grpc.caller_label = absl::StrCat("rank ", config.rank);
    grpc.connect_timeout = options.timeout;
    grpc.rpc_timeout = std::min(options.timeout, kMaxRpcTimeout);
    ASSIGN_OR_RETURN(std::unique_ptr<Store> connected, ConnectGrpcStore(grpc));
    base = std::move(connected);
  }
  *store_out = base;
  std::shared_ptr<Store> store = NewPrefixStore(config.key_prefix, base);

  MemberRecord self;
  self.rank = config.rank;
  self.world_size = config.world_size;
  self.backend = std::string(BackendName(backend));
  self.host = HostName();
  self.pid = static_cast<int>(getpid());
  absl::StatusOr<std::vector<MemberRecord>> members =
      JoinGroup(*store, self, options.timeout, where);
  if (!members.ok()) {
    PublishFailure(*store, config.rank, members.status());
    return members.status();
  }
  const absl::Time joined = absl::Now();

  absl::StatusOr<std::unique_ptr<ProcessGroup>> group;
  if (backend == Backend::kGloo) {
    GlooGroupOptions gloo;
    gloo.rank = config.rank;
    gloo.world_size = config.world_size;
    gloo.local_rank = config.local_rank;
    gloo.group_name = options.group_name;
    gloo.local_addr = config.local_addr;
    gloo.timeout = options.timeout;
    gloo.where = where;
    for (const MemberRecord& member : *members) {
      gloo.host_names.push_back(member.host);
    }
    GlooConnectStats connect;
    group = CreateGlooGroup(store, gloo, &connect);
    stats->connect_store = connect.store;
    stats->connect_store_calls = connect.store_calls;
    if (!group.ok()) PublishFailure(*store, config.rank, group.status());
  } else {
    NcclGroupOptions nccl;
    nccl.rank = config.rank;
    nccl.world_size = config.world_size;
    nccl.local_rank = config.local_rank;
    nccl.group_name = options.group_name;
    nccl.timeout = options.timeout;
    nccl.where = where;
    group = CreateNcclGroup(*store, nccl);
  }
  stats->join = joined - start;
  stats->connect = absl::Now() - joined;
  stats->total = absl::Now() - start;
  if (group.ok()) {
    WorkerLibLogger().debug("{}: rank {}/{} ready in {} (join {}, connect {})",
                            where, config.rank, config.world_size,
                            absl::FormatDuration(absl::Now() - start),
                            absl::FormatDuration(joined - start),
                            absl::FormatDuration(absl::Now() - joined));
  }
  return group;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProcessGroup>> InitProcessGroup(
    const ProcessGroupOptions& options) {
  ASSIGN_OR_RETURN(InitConfig config,
                   ResolveInitConfig(options, ProcessEnvironment()));
  ASSIGN_OR_RETURN(Backend backend,
                   ResolveBackend(options.backend, CudaDeviceUsable));
  ASSIGN_OR_RETURN(const int generation,
                   ClaimGroupMembership(options.group_name, config.rank));
  if (generation > 0) absl::StrAppend(&config.key_prefix, "/g", generation);
  std::shared_ptr<Store> store;
  ProcessGroupInitStats stats;
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group =
      InitClaimed(options, config, backend, &store, &stats);
  if (!group.ok()) {
    ReleaseGroupMembership(options.group_name, config.rank);
    return group.status();
  }
  auto registered = std::make_unique<RegisteredGroup>(std::move(group).value(),
                                                      std::move(store));
  registered->stats = stats;
  return std::unique_ptr<ProcessGroup>(std::move(registered));
}

bool IsInitialized(absl::string_view group_name) {
  return IsGroupClaimed(group_name);
}

}  // namespace tplaunch
