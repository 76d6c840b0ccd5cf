#include "worker_lib/nccl_group.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker_lib/group_join.h"
#include "worker_lib/logging.h"
#include "worker_lib/nccl_abi.h"
#include "worker_lib/nccl_id_broker.h"
#include "worker_lib/nccl_library.h"

namespace tplaunch {
namespace {

using nccl_abi::cudaError_t;
using nccl_abi::ncclComm_t;
using nccl_abi::ncclResult_t;

// How often a waiting rank looks for failures other ranks published: one
// ListKeys per rank per interval, so it stays well below the daemon's capacity
// at thousands of ranks.
constexpr absl::Duration kFailureCheckInterval = absl::Milliseconds(200);
// Poll back-off while waiting on NCCL or a stream; NCCL offers no blocking wait
// with a timeout, so this is the same polling PyTorch's watchdog does.
constexpr absl::Duration kMinPoll = absl::Microseconds(20);
constexpr absl::Duration kMaxPoll = absl::Milliseconds(2);

nccl_abi::ncclDataType_t ToNccl(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return nccl_abi::ncclFloat32;
    case DataType::kFloat64:
      return nccl_abi::ncclFloat64;
    case DataType::kInt32:
      return nccl_abi::ncclInt32;
    case DataType::kInt64:
      return nccl_abi::ncclInt64;
    case DataType::kBFloat16:
      return nccl_abi::ncclBfloat16;
  }
  return nccl_abi::ncclFloat32;
}

nccl_abi::ncclRedOp_t ToNccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return nccl_abi::ncclSum;
    case ReduceOp::kMax:
      return nccl_abi::ncclMax;
    case ReduceOp::kMin:
      return nccl_abi::ncclMin;
  }
  return nccl_abi::ncclSum;
}

class NcclGroup final : public ProcessGroup {
 public:
  NcclGroup(const NcclLibrary& nccl, const CudaRuntime& cuda, ncclComm_t comm,
            nccl_abi::cudaStream_t stream, NcclGroupOptions options)
      : nccl_(nccl),
        cuda_(cuda),
        comm_(comm),
        stream_(stream),
        options_(std::move(options)) {}

  // No separate ncclCommFinalize: on a communicator that was not finalized,
  // ncclCommDestroy finalizes it itself (flushing pending work) before freeing
  // it, and every collective here has already waited for its stream.
  ~NcclGroup() override {
    if (broken_) {
      nccl_.CommAbort(comm_);
    } else {
      nccl_.CommDestroy(comm_);
    }
    if (scratch_ != nullptr) cuda_.Free(scratch_);
    cuda_.StreamDestroy(stream_);
  }

  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }
  int local_rank() const override { return options_.local_rank; }
  absl::string_view backend() const override { return "nccl"; }
  absl::string_view group_name() const override { return options_.group_name; }
  void* native_handle() override { return comm_; }

  absl::Status Barrier() override {
    // NCCL has no barrier: a one-element allreduce on the device is the usual
    // stand-in.
    int32_t token = 0;
    return AllReduce(&token, 1, DataType::kInt32, ReduceOp::kSum);
  }

  absl::Status AllReduce(void* data, int64_t count, DataType type,
                         ReduceOp op) override {
    RETURN_IF_ERROR(Check("allreduce", data, count));
    if (count == 0) return absl::OkStatus();
    const size_t bytes = count * DataTypeSize(type);
    return Staged("allreduce", data, bytes, data, bytes,
                  [&](const void* in, void* out) {
                    return nccl_.AllReduce(in, out, count, ToNccl(type),
                                           ToNccl(op), comm_, stream_);
                  });
  }

  absl::Status Broadcast(void* data, int64_t count, DataType type,
                         int root) override {
    RETURN_IF_ERROR(Check("broadcast", data, count));
    if (root < 0 || root >= options_.world_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "broadcast: root %d is out of range for world size %d", root,
          options_.world_size));
    }
    if (count == 0) return absl::OkStatus();
    const size_t bytes = count * DataTypeSize(type);
    return Staged("broadcast", data, bytes, data, bytes,
                  [&](const void* in, void* out) {
                    return nccl_.Broadcast(in, out, count, ToNccl(type), root,
                                           comm_, stream_);
                  });
  }

  absl::Status AllGather(const void* input, void* output, int64_t count,
                         DataType type) override {
    RETURN_IF_ERROR(Check("allgather", output, count));
    if (count == 0) return absl::OkStatus();
    const size_t bytes = count * DataTypeSize(type);
    return Staged("allgather", input, bytes, output,
                  bytes * options_.world_size, [&](const void* in, void* out) {
                    return nccl_.AllGather(in, out, count, ToNccl(type), comm_,
                                           stream_);
                  });
  }

 private:
  absl::Status Check(absl::string_view op, const void* data, int64_t count) {
    if (count < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: negative count %d", op, count));
    }
    if (data == nullptr && count > 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: buffer is null", op));
    }
    if (broken_) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: %s was aborted after an earlier error; create a new group", op,
          options_.where));
    }
    return absl::OkStatus();
  }

  bool OnDevice(const void* ptr) const {
    nccl_abi::cudaPointerAttributes attributes{};
    if (cuda_.PointerGetAttributes(&attributes, ptr) != nccl_abi::cudaSuccess) {
      return false;
    }
    return attributes.type == nccl_abi::cudaMemoryTypeDevice ||
           attributes.type == nccl_abi::cudaMemoryTypeManaged;
  }

  absl::Status CudaCheck(absl::string_view what, cudaError_t error) {
    if (error == nccl_abi::cudaSuccess) return absl::OkStatus();
    return absl::InternalError(absl::StrFormat("%s: rank %d: %s failed: %s",
                                               options_.where, options_.rank,
                                               what, cuda_.Describe(error)));
  }

  // Runs `launch` on device buffers, staging host buffers through a device
  // scratch area, then waits for the stream.
  template <typename Launch>
  absl::Status Staged(absl::string_view op, const void* in, size_t in_bytes,
                      void* out, size_t out_bytes, Launch&& launch) {
    const bool device_in = OnDevice(in);
    const bool device_out = OnDevice(out);
    const void* dev_in = in;
    void* dev_out = out;
    if (!device_in || !device_out) {
      const size_t need = in_bytes + out_bytes;
      if (need > scratch_bytes_) {
        if (scratch_ != nullptr) cuda_.Free(scratch_);
        scratch_ = nullptr;
        scratch_bytes_ = 0;
        RETURN_IF_ERROR(CudaCheck("cudaMalloc", cuda_.Malloc(&scratch_, need)));
        scratch_bytes_ = need;
      }
      char* base = static_cast<char*>(scratch_);
      if (!device_in) {
        RETURN_IF_ERROR(CudaCheck(
            "cudaMemcpyAsync",
            cuda_.MemcpyAsync(base, in, in_bytes,
                              nccl_abi::cudaMemcpyHostToDevice, stream_)));
        dev_in = base;
      }
      if (!device_out) dev_out = base + in_bytes;
      if (in == out && !device_in) dev_out = base;
    }
    ncclResult_t r = launch(dev_in, dev_out);
    if (r != nccl_abi::ncclSuccess && r != nccl_abi::ncclInProgress) {
      broken_ = true;
      return absl::InternalError(
          absl::StrFormat("%s: %s on rank %d: %s", options_.where, op,
                          options_.rank, nccl_.Describe(r, comm_)));
    }
    if (!device_out) {
      RETURN_IF_ERROR(CudaCheck(
          "cudaMemcpyAsync",
          cuda_.MemcpyAsync(out, dev_out, out_bytes,
                            nccl_abi::cudaMemcpyDeviceToHost, stream_)));
    }
    return WaitStream(op);
  }

  absl::Status WaitStream(absl::string_view op) {
    const absl::Time start = absl::Now();
    absl::Duration poll = kMinPoll;
    while (true) {
      cudaError_t e = cuda_.StreamQuery(stream_);
      if (e == nccl_abi::cudaSuccess) return absl::OkStatus();
      if (e != nccl_abi::cudaErrorNotReady) {
        broken_ = true;
        return CudaCheck(absl::StrCat(op, ": cudaStreamQuery"), e);
      }
      ncclResult_t async = nccl_abi::ncclSuccess;
      nccl_.CommGetAsyncError(comm_, &async);
      if (async != nccl_abi::ncclSuccess && async != nccl_abi::ncclInProgress) {
        broken_ = true;
        return absl::UnavailableError(absl::StrFormat(
            "%s: %s on rank %d failed after %s (did a rank die?): %s",
            options_.where, op, options_.rank,
            absl::FormatDuration(absl::Now() - start),
            nccl_.Describe(async, comm_)));
      }
      if (absl::Now() - start > options_.timeout) {
        broken_ = true;
        return absl::DeadlineExceededError(absl::StrFormat(
            "%s: %s on rank %d did not complete within %s (a peer did not take "
            "part); the communicator is aborted",
            options_.where, op, options_.rank,
            absl::FormatDuration(options_.timeout)));
      }
      std::this_thread::sleep_for(absl::ToChronoMicroseconds(poll));
      poll = std::min(poll * 2, kMaxPoll);
    }
  }

  const NcclLibrary& nccl_;
  const CudaRuntime& cuda_;
  ncclComm_t comm_;
  nccl_abi::cudaStream_t stream_;
  const NcclGroupOptions options_;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  bool broken_ = false;
};

// Polls a non-blocking init until done; aborts on error, timeout or a peer's
// failure.
absl::Status AwaitInit(const NcclLibrary& nccl, ncclComm_t comm, Store& store,
                       const NcclGroupOptions& options) {
  const absl::Time start = absl::Now();
  absl::Time next_failure_check = start + kFailureCheckInterval;
  absl::Duration poll = kMinPoll;
  while (true) {
    ncclResult_t state = nccl_abi::ncclInProgress;
    ncclResult_t r = nccl.CommGetAsyncError(comm, &state);
    if (r != nccl_abi::ncclSuccess) state = r;
    if (state == nccl_abi::ncclSuccess) return absl::OkStatus();
    if (state != nccl_abi::ncclInProgress) {
      std::string detail = nccl.Describe(state, comm);
      nccl.CommAbort(comm);
      return absl::UnavailableError(absl::StrFormat(
          "%s: rank %d: NCCL communicator init failed after %s: %s",
          options.where, options.rank,
          absl::FormatDuration(absl::Now() - start), detail));
    }
    const absl::Time now = absl::Now();
    if (now - start > options.timeout) {
      nccl.CommAbort(comm);
      return absl::DeadlineExceededError(absl::StrFormat(
          "%s: rank %d: NCCL communicator init did not finish within %s; "
          "aborted",
          options.where, options.rank, absl::FormatDuration(options.timeout)));
    }
    if (now >= next_failure_check) {
      next_failure_check = now + kFailureCheckInterval;
      if (absl::StatusOr<std::string> failure = FindPublishedFailure(store);
          failure.ok()) {
        nccl.CommAbort(comm);
        return absl::AbortedError(absl::StrFormat(
            "%s: rank %d aborted NCCL init because another rank failed: %s",
            options.where, options.rank, *failure));
      }
    }
    std::this_thread::sleep_for(absl::ToChronoMicroseconds(poll));
    poll = std::min(poll * 2, kMaxPoll);
  }
}

absl::StatusOr<std::unique_ptr<ProcessGroup>> CreateNcclGroupImpl(
    Store& store, const NcclGroupOptions& options) {
  ASSIGN_OR_RETURN(const NcclLibrary* nccl, LoadNccl());
  ASSIGN_OR_RETURN(const CudaRuntime* cuda, LoadCudaRuntime());

  ASSIGN_OR_RETURN(
      std::vector<std::string> ids,
      ExchangeNcclIds(store, options.rank, options.world_size, options.timeout,
                      GenerateNcclUniqueId, options.where));
  std::vector<nccl_abi::ncclUniqueId> raw(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    std::memcpy(raw[i].internal, ids[i].data(), nccl_abi::kUniqueIdBytes);
  }

  nccl_abi::ncclConfig_t config = nccl_abi::DefaultConfig();
  config.blocking = 0;
  config.commName = options.group_name.c_str();
  ncclComm_t comm = nullptr;
  ncclResult_t r;
  if (raw.size() == 1) {
    r = nccl->CommInitRankConfig(&comm, options.world_size, raw[0],
                                 options.rank, &config);
  } else {
    if (nccl->CommInitRankScalable == nullptr) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: %d ranks need ncclCommInitRankScalable (NCCL >= 2.23), but %s "
          "is "
          "version %d",
          options.where, options.world_size, nccl->path, nccl->version));
    }
    r = nccl->CommInitRankScalable(&comm, options.world_size, options.rank,
                                   static_cast<int>(raw.size()), raw.data(),
                                   &config);
  }
  if (r != nccl_abi::ncclSuccess && r != nccl_abi::ncclInProgress) {
    std::string detail = nccl->Describe(r, comm);
    if (comm != nullptr) nccl->CommAbort(comm);
    return absl::UnavailableError(
        absl::StrFormat("%s: rank %d: NCCL communicator init failed: %s",
                        options.where, options.rank, detail));
  }
  RETURN_IF_ERROR(AwaitInit(*nccl, comm, store, options));

  nccl_abi::cudaStream_t stream = nullptr;
  if (cudaError_t e = cuda->StreamCreate(&stream); e != nccl_abi::cudaSuccess) {
    nccl->CommDestroy(comm);
    return absl::InternalError(absl::StrCat(
        options.where, ": cudaStreamCreate failed: ", cuda->Describe(e)));
  }
  WorkerLibLogger().debug("{}: rank {} initialized NCCL {} with {} id(s)",
                          options.where, options.rank, nccl->version,
                          raw.size());
  return std::unique_ptr<ProcessGroup>(
      new NcclGroup(*nccl, *cuda, comm, stream, options));
}

}  // namespace

absl::Status NcclPreflight(int local_rank) {
  ASSIGN_OR_RETURN(int devices, CudaDeviceCount());
  ASSIGN_OR_RETURN(const CudaRuntime* cuda, LoadCudaRuntime());
  ASSIGN_OR_RETURN(const NcclLibrary* nccl, LoadNccl());
  (void)nccl;
  if (local_rank >= devices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "LOCAL_RANK %d has no CUDA device: this host has %d (start at most %d "
        "workers per node)",
        local_rank, devices, devices));
  }
  if (cudaError_t e = cuda->SetDevice(local_rank); e != nccl_abi::cudaSuccess) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cudaSetDevice(%d) failed: %s", local_rank, cuda->Describe(e)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GenerateNcclUniqueId() {
  ASSIGN_OR_RETURN(const NcclLibrary* nccl, LoadNccl());
  nccl_abi::ncclUniqueId id;
  if (ncclResult_t r = nccl->GetUniqueId(&id); r != nccl_abi::ncclSuccess) {
    return absl::UnavailableError(
        absl::StrCat("ncclGetUniqueId failed: ", nccl->Describe(r)));
  }
  return std::string(id.internal, nccl_abi::kUniqueIdBytes);
}

absl::StatusOr<std::unique_ptr<ProcessGroup>> CreateNcclGroup(
    Store& store, const NcclGroupOptions& options) {
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group =
      CreateNcclGroupImpl(store, options);
  if (!group.ok()) PublishFailure(store, options.rank, group.status());
  return group;
}

}  // namespace tplaunch
