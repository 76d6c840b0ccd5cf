// The NCCL backend on real GPUs: one rank per CUDA device (ranks as threads),
// InitProcessGroup with backend "nccl", then allreduce, broadcast and allgather
// on host buffers (staged through the device) and a barrier. Tagged "gpu": on a
// host without a usable CUDA device it prints SKIPPED with the reason and
// passes, so `bazel test //...` stays green on CPU; run it on a GPU host with
// `bazel test --test_tag_filters=gpu //tests/...`.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "store/memory_store.h"
#include "tests/worker_lib/rank_threads.h"
#include "worker_lib/nccl_host.h"
#include "worker_lib/process_group.h"

namespace tplaunch {
namespace {

absl::Status Expect(bool ok, int rank, const std::string& what) {
  if (ok) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("rank ", rank, ": ", what));
}

absl::Status Collectives(ProcessGroup& group) {
  const int rank = group.rank();
  const int n = group.world_size();
  std::vector<float> sum(4, static_cast<float>(rank + 1));
  if (auto s = group.AllReduce(absl::MakeSpan(sum), ReduceOp::kSum); !s.ok())
    return s;
  for (float x : sum) {
    if (auto s = Expect(x == n * (n + 1) / 2.0f, rank,
                        absl::StrCat("allreduce sum ", x));
        !s.ok())
      return s;
  }
  std::vector<int64_t> value = {rank == 0 ? 42 : -1};
  if (auto s = group.Broadcast(value.data(), 1, DataType::kInt64, 0); !s.ok())
    return s;
  if (auto s = Expect(value[0] == 42, rank, "broadcast"); !s.ok()) return s;
  const int32_t mine = 100 + rank;
  std::vector<int32_t> all(n, -1);
  if (auto s = group.AllGather(&mine, all.data(), 1, DataType::kInt32); !s.ok())
    return s;
  for (int r = 0; r < n; ++r) {
    if (auto s = Expect(all[r] == 100 + r, rank, "allgather"); !s.ok())
      return s;
  }
  return group.Barrier();
}

TEST_CASE("nccl on GPUs: one rank per device runs the collectives", "[gpu]") {
  const absl::StatusOr<int> devices = CudaDeviceCount();
  if (!devices.ok()) {
    WARN("SKIPPED: needs a usable CUDA GPU (this test is tagged gpu): "
         << devices.status().ToString());
    return;
  }
  const int n = std::min(*devices, 8);
  std::shared_ptr<Store> store(NewMemoryStore());
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        ProcessGroupOptions options;
        options.backend = "nccl";
        options.store = store;
        options.rank = rank;
        options.world_size = n;
        options.local_rank = rank;
        options.group_name = "gpu";
        options.timeout = absl::Seconds(120);
        auto group = InitProcessGroup(options);
        if (!group.ok()) return group.status();
        if ((*group)->backend() != "nccl") {
          return absl::InternalError("backend is not nccl");
        }
        return Collectives(**group);
      });
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << ": " << statuses[r].ToString());
    CHECK(statuses[r].ok());
  }
}

}  // namespace
}  // namespace tplaunch
