// NcclGroup: the GPU backend. NCCL and the CUDA runtime are loaded at run time
// (nccl_library.h), so this header and its target need no CUDA at build time.
#ifndef TPLAUNCH_WORKER_LIB_NCCL_GROUP_H_
#define TPLAUNCH_WORKER_LIB_NCCL_GROUP_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/store.h"
#include "worker_lib/process_group.h"

namespace tplaunch {

struct NcclGroupOptions {
  int rank = 0;
  int world_size = 1;
  // The CUDA device this rank uses (cudaSetDevice(local_rank)).
  int local_rank = 0;
  std::string group_name = "default";
  // Id exchange, communicator init (polled; aborted when it runs out) and
  // collectives.
  absl::Duration timeout = kDefaultProcessGroupTimeout;
  std::string where = "nccl group";
};

// Local checks before any rank talks to another: a CUDA device exists for
// local_rank, NCCL loads, and cudaSetDevice(local_rank) succeeds. Errors:
// FailedPrecondition "no CUDA driver or device found: ..." on CPU hosts;
// FailedPrecondition naming the NCCL library files tried when NCCL is missing;
// InvalidArgument when local_rank has no device.
absl::Status NcclPreflight(int local_rank);

// One fresh ncclUniqueId as 128 bytes (starts NCCL's bootstrap listener in this
// process). Works without a GPU. FailedPrecondition when NCCL is missing.
absl::StatusOr<std::string> GenerateNcclUniqueId();

// Exchanges ids through `store` (the group's prefixed store) and initializes
// the communicator without blocking, polling it against the timeout and
// aborting it on timeout or when another rank published a failure (it then
// publishes its own). Call NcclPreflight first.
absl::StatusOr<std::unique_ptr<ProcessGroup>> CreateNcclGroup(
    Store& store, const NcclGroupOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_NCCL_GROUP_H_
