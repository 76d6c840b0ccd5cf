#include "worker_lib/gloo_group.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "gloo/allgather.h"
#include "gloo/allreduce.h"
#include "gloo/barrier.h"
#include "gloo/broadcast.h"
#include "gloo/common/error.h"
#include "gloo/math.h"
#include "gloo/rendezvous/context.h"
#include "gloo/transport/tcp/device.h"
#include "worker_lib/gloo_store_adapter.h"
#include "worker_lib/logging.h"

namespace tplaunch {
namespace {

using ReduceFunc = void (*)(void*, const void*, const void*, size_t);

template <typename T>
ReduceFunc TypedReduce(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return &gloo::sum<T>;
    case ReduceOp::kMax:
      return &gloo::max<T>;
    case ReduceOp::kMin:
      return &gloo::min<T>;
  }
  return nullptr;
}

// Gloo has no bfloat16 type: reduce in float and round back, as PyTorch does.
template <ReduceOp kOp>
void BFloat16Reduce(void* c, const void* a, const void* b, size_t n) {
  auto* out = static_cast<uint16_t*>(c);
  const auto* x = static_cast<const uint16_t*>(a);
  const auto* y = static_cast<const uint16_t*>(b);
  for (size_t i = 0; i < n; ++i) {
    const float fx = BFloat16ToFloat(x[i]);
    const float fy = BFloat16ToFloat(y[i]);
    float r;
    if (kOp == ReduceOp::kSum) {
      r = fx + fy;
    } else if (kOp == ReduceOp::kMax) {
      r = std::max(fx, fy);
    } else {
      r = std::min(fx, fy);
    }
    out[i] = FloatToBFloat16(r);
  }
}

ReduceFunc ReduceFor(DataType type, ReduceOp op) {
  switch (type) {
    case DataType::kFloat32:
      return TypedReduce<float>(op);
    case DataType::kFloat64:
      return TypedReduce<double>(op);
    case DataType::kInt32:
      return TypedReduce<int32_t>(op);
    case DataType::kInt64:
      return TypedReduce<int64_t>(op);
    case DataType::kBFloat16:
      switch (op) {
        case ReduceOp::kSum:
          return &BFloat16Reduce<ReduceOp::kSum>;
        case ReduceOp::kMax:
          return &BFloat16Reduce<ReduceOp::kMax>;
        case ReduceOp::kMin:
          return &BFloat16Reduce<ReduceOp::kMin>;
      }
  }
  return nullptr;
}

class GlooGroup final : public ProcessGroup {
 public:
  GlooGroup(std::shared_ptr<gloo::rendezvous::Context> context,
            GlooGroupOptions options)
      : context_(std::move(context)), options_(std::move(options)) {}

  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }
  int local_rank() const override { return options_.local_rank; }
  absl::string_view backend() const override { return "gloo"; }
  absl::string_view group_name() const override { return options_.group_name; }
  void* native_handle() override { return context_.get(); }

  absl::Status Barrier() override {
    return Run("barrier", [&] {
      gloo::BarrierOptions opts(context_);
      gloo::barrier(opts);
    });
  }

  absl::Status AllReduce(void* data, int64_t count, DataType type,
                         ReduceOp op) override {
    if (absl::Status s = CheckBuffer("allreduce", data, count); !s.ok()) return s;
    if (count == 0) return absl::OkStatus();
    ReduceFunc reduce = ReduceFor(type, op);
    return Run("allreduce", [&] {
      gloo::AllreduceOptions opts(context_);
      SetOutput(opts, data, count, type);
      opts.setReduceFunction(reduce);
      gloo::allreduce(opts);
    });
  }

  absl::Status Broadcast(void* data, int64_t count, DataType type,
                         int root) override {
    if (absl::Status s = CheckBuffer("broadcast", data, count); !s.ok()) return s;
    if (root < 0 || root >= options_.world_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "broadcast: root %d is out of range for world size %d", root,
          options_.world_size));
    }
    if (count == 0) return absl::OkStatus();
    return Run("broadcast", [&] {
      gloo::BroadcastOptions opts(context_);
      SetOutput(opts, data, count, type);
      opts.setRoot(root);
      gloo::broadcast(opts);
    });
  }

  absl::Status AllGather(const void* input, void* output, int64_t count,
                         DataType type) override {
    if (absl::Status s = CheckBuffer("allgather", output, count); !s.ok()) return s;
    if (input == nullptr && count > 0) {
      return absl::InvalidArgumentError("allgather: input is null");
    }
    if (count == 0) return absl::OkStatus();
    return Run("allgather", [&] {
      gloo::AllgatherOptions opts(context_);
      // Gloo's typed setters need a non-const pointer; the input is only read.
      // Moved as bytes: allgather never interprets elements.
      char* in = static_cast<char*>(const_cast<void*>(input));
      const size_t bytes = count * DataTypeSize(type);
      opts.setInput<char>(in, bytes);
      opts.setOutput<char>(static_cast<char*>(output),
                           bytes * static_cast<size_t>(options_.world_size));
      gloo::allgather(opts);
    });
  }

 private:
  template <typename Opts>
  static void SetOutput(Opts& opts, void* data, int64_t count, DataType type) {
    switch (type) {
      case DataType::kFloat32:
        opts.template setOutput<float>(static_cast<float*>(data), count);
        break;
      case DataType::kFloat64:
        opts.template setOutput<double>(static_cast<double*>(data), count);
        break;
      case DataType::kInt32:
        opts.template setOutput<int32_t>(static_cast<int32_t*>(data), count);
        break;
      case DataType::kInt64:
        opts.template setOutput<int64_t>(static_cast<int64_t*>(data), count);
        break;
      case DataType::kBFloat16:
        opts.template setOutput<uint16_t>(static_cast<uint16_t*>(data), count);
        break;
    }
  }

  absl::Status CheckBuffer(absl::string_view op, const void* data,
                           int64_t count) const {
    if (count < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: negative count %d", op, count));
    }
    if (data == nullptr && count > 0) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: buffer is null", op));
    }
    if (closed_) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: %s is broken by an earlier error (%s); create a new group", op,
          options_.where, first_error_.message()));
    }
    return absl::OkStatus();
  }

  // Runs one Gloo collective, turning its exceptions into a Status.
  template <typename Fn>
  absl::Status Run(absl::string_view op, Fn&& fn) {
    const absl::Time start = absl::Now();
    try {
      fn();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      const absl::Duration waited = absl::Now() - start;
      const std::string what = e.what();
      const bool timed_out = absl::StrContains(what, "imed out") ||
                             absl::StrContains(what, "timeout");
      absl::Status status(
          timed_out ? absl::StatusCode::kDeadlineExceeded
                    : absl::StatusCode::kUnavailable,
          absl::StrFormat("%s: %s on rank %d of %d failed after %s (%s): %s",
                          options_.where, op, options_.rank, options_.world_size,
                          absl::FormatDuration(waited),
                          timed_out ? "a peer did not take part in time"
                                    : "a peer connection broke; did a rank die?",
                          what));
      // A Gloo context is unusable after a failed collective (pairs may be half
      // way through a message), so later calls fail fast instead of hanging.
      closed_ = true;
      first_error_ = status;
      return status;
    }
  }

  std::shared_ptr<gloo::rendezvous::Context> context_;
  const GlooGroupOptions options_;
  bool closed_ = false;
  absl::Status first_error_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ProcessGroup>> CreateGlooGroup(
    Store& store, const GlooGroupOptions& options, GlooConnectStats* stats) {
  const absl::Time start = absl::Now();
  std::shared_ptr<gloo::transport::Device> device;
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = options.local_addr;
    device = gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrFormat(
        "%s: rank %d cannot create a Gloo TCP device on address '%s' (set "
        "TPLAUNCH_LOCAL_ADDR / --local-addr to an address of this host): %s",
        options.where, options.rank, options.local_addr, e.what()));
  }

  auto context = std::make_shared<gloo::rendezvous::Context>(options.rank,
                                                             options.world_size);
  context->setTimeout(std::chrono::duration_cast<std::chrono::milliseconds>(
      absl::ToChronoMilliseconds(options.timeout)));

  GlooStoreAdapterOptions adapter_options;
  adapter_options.rank = options.rank;
  adapter_options.world_size = options.world_size;
  adapter_options.timeout = options.timeout;
  adapter_options.where = options.where;
  adapter_options.prefetch = options.prefetch;
  GlooStoreAdapter adapter(&store, adapter_options);
  try {
    context->connectFullMesh(adapter, device);
  } catch (const std::exception& e) {
    if (!adapter.error().ok()) return adapter.error();
    const std::string what = e.what();
    const bool timed_out = absl::StrContains(what, "imed out") ||
                           absl::StrContains(what, "timeout");
    return absl::Status(
        timed_out ? absl::StatusCode::kDeadlineExceeded
                  : absl::StatusCode::kUnavailable,
        absl::StrFormat("%s: rank %d of %d failed to connect Gloo pairs after %s "
                        "(local address %s): %s",
                        options.where, options.rank, options.world_size,
                        absl::FormatDuration(absl::Now() - start),
                        options.local_addr, what));
  }
  GlooConnectStats local;
  local.total = absl::Now() - start;
  local.store = adapter.store_time();
  local.store_calls = adapter.store_calls();
  WorkerLibLogger().debug(
      "{}: rank {} connected {} Gloo pairs in {} ({} in {} store calls)",
      options.where, options.rank, options.world_size - 1,
      absl::FormatDuration(local.total), absl::FormatDuration(local.store),
      local.store_calls);
  if (stats != nullptr) *stats = local;
  return std::unique_ptr<ProcessGroup>(new GlooGroup(std::move(context), options));
}

gloo::Context* GlooContextOf(ProcessGroup& group) {
  if (group.backend() != "gloo") return nullptr;
  return static_cast<gloo::Context*>(group.native_handle());
}

}  // namespace tplaunch
