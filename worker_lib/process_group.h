// ProcessGroup: torch.distributed.init_process_group for C++.
//
// InitProcessGroup turns the launcher's environment (or explicit options) and
// the rendezvous store into an initialized communicator: Gloo over TCP on CPU
// hosts, NCCL on CUDA hosts. See docs/worker_lib.md for the environment
// contract, the backend map, the key layout and the errors.
//
//   tplaunch::ProcessGroupOptions options;  // backend "auto", init_method
//   "env://" ASSIGN_OR_RETURN(auto group, tplaunch::InitProcessGroup(options));
//   RETURN_IF_ERROR(group->AllReduce(absl::MakeSpan(grads),
//   tplaunch::ReduceOp::kSum));
#ifndef TPLAUNCH_WORKER_LIB_PROCESS_GROUP_H_
#define TPLAUNCH_WORKER_LIB_PROCESS_GROUP_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "store/store.h"
#include "worker_lib/types.h"

namespace tplaunch {

// One default for every blocking step of a group: each store call during init,
// the communicator's own connect/init, and every collective. Ten minutes is
// torchrun's join timeout and PyTorch's NCCL default: long enough for a rank
// that loads a large model before it joins, while a crashed rank is normally
// noticed within seconds because tplaunch tears the whole job down on the first
// worker failure.
inline constexpr absl::Duration kDefaultProcessGroupTimeout = absl::Minutes(10);

struct ProcessGroupOptions {
  // "auto" (nccl when a CUDA device is usable, else gloo), "gloo" or "nccl".
  // "ccl", "xccl" and "hccl" are recognised and return Unimplemented.
  std::string backend = "auto";
  // "env://" reads the launcher's variables (docs/worker_lib.md);
  // "tprdzv://host:port/job" names a rendezvous daemon and job explicitly.
  // Ignored when `store` is set.
  std::string init_method = "env://";
  // Applied to every store call during init, to communicator init and to
  // collectives.
  absl::Duration timeout = kDefaultProcessGroupTimeout;
  // -1: read WORLD_SIZE / RANK / LOCAL_RANK from the environment.
  int world_size = -1;
  int rank = -1;
  int local_rank = -1;
  // -1: TPLAUNCH_ATTEMPT from the environment (0 when unset and init_method is
  // not env://). Part of every key, so a restarted attempt never reads stale
  // keys.
  int attempt = -1;
  // A caller's store (e.g. one already connected); the group keeps it alive.
  // Keys go under "a<attempt>/w/<group_name>/" in it.
  std::shared_ptr<Store> store;
  // Several groups may coexist (e.g. "tp" and "dp"); each has its own keys.
  std::string group_name = "default";
  // Address Gloo binds and advertises. Empty: TPLAUNCH_LOCAL_ADDR, else
  // 127.0.0.1.
  std::string local_addr;
};

// An initialized communicator. Buffers are host memory for gloo; for nccl they
// may be device memory (used in place) or host memory (staged through the
// device). Every collective must be called by every rank of the group in the
// same order. Errors from collectives: DeadlineExceeded (a peer did not take
// part within the timeout), Unavailable (a peer's connection broke, e.g. it
// died), InvalidArgument (bad arguments, named). Not thread-safe: one thread
// drives a group at a time.
// Where the time of InitProcessGroup went (for logs and benchmarks).
struct ProcessGroupInitStats {
  absl::Duration total;  // The whole InitProcessGroup call.
  absl::Duration join;   // Join step: publish this rank, wait for all (store).
  absl::Duration connect;  // Backend connect (Gloo pairs / NCCL init).
  // Part of `connect` spent in store calls (Gloo's address exchange).
  absl::Duration connect_store;
  int connect_store_calls = 0;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;
  // "gloo" or "nccl".
  virtual absl::string_view backend() const = 0;
  virtual absl::string_view group_name() const = 0;

  virtual absl::Status Barrier() = 0;

  // In place: `data` holds `count` elements of `type` on entry and the
  // reduction over all ranks on return.
  virtual absl::Status AllReduce(void* data, int64_t count, DataType type,
                                 ReduceOp op) = 0;

  // In place: root's `count` elements are copied into every rank's `data`.
  virtual absl::Status Broadcast(void* data, int64_t count, DataType type,
                                 int root) = 0;

  // `input` holds `count` elements; `output` receives world_size() * count
  // elements, rank i's block at offset i * count.
  virtual absl::Status AllGather(const void* input, void* output, int64_t count,
                                 DataType type) = 0;

  // The backend's own handle: gloo::Context* (see worker_lib/gloo_group.h) or
  // ncclComm_t (see worker_lib/nccl_group.h).
  virtual void* native_handle() = 0;

  // Timings of this group's InitProcessGroup (zero for groups made otherwise).
  virtual ProcessGroupInitStats init_stats() const { return {}; }

  // Typed helpers.
  template <typename T>
  absl::Status AllReduce(absl::Span<T> data, ReduceOp op) {
    return AllReduce(data.data(), static_cast<int64_t>(data.size()),
                     DataTypeOf<T>::value, op);
  }
  template <typename T>
  absl::Status Broadcast(absl::Span<T> data, int root) {
    return Broadcast(data.data(), static_cast<int64_t>(data.size()),
                     DataTypeOf<T>::value, root);
  }
  template <typename T>
  absl::Status AllGather(absl::Span<const T> input, absl::Span<T> output) {
    if (output.size() != input.size() * static_cast<size_t>(world_size())) {
      return absl::InvalidArgumentError(
          "AllGather: output must hold world_size() * input.size() elements");
    }
    return AllGather(input.data(), output.data(),
                     static_cast<int64_t>(input.size()), DataTypeOf<T>::value);
  }
};

// Initializes this process's membership of `options.group_name`.
//
// Rule for a second init: while a group object for (group_name, rank) is alive
// in this process, another InitProcessGroup for the same pair returns
// AlreadyExists; the name is free again once that object is destroyed.
// Different group names (or, in tests, different ranks as threads of one
// process) coexist.
//
// Errors: InvalidArgument (bad option, or an environment variable missing or
// garbled: the message names it and its value), Unimplemented (ccl/xccl/hccl),
// FailedPrecondition (nccl without a CUDA driver or device, NCCL library
// missing, ranks disagreeing on backend or world size), AlreadyExists (see
// above), DeadlineExceeded (ranks missing after the timeout: the message names
// them), Unavailable (store unreachable, or a peer connection failed).
absl::StatusOr<std::unique_ptr<ProcessGroup>> InitProcessGroup(
    const ProcessGroupOptions& options);

// Whether a group named `group_name` is alive in this process.
bool IsInitialized(absl::string_view group_name = "default");

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_PROCESS_GROUP_H_
