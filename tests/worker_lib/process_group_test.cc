// InitProcessGroup with ranks as threads: over a caller's MemoryStore, over a
// real rendezvous server (tprdzv:// URL), coexisting groups, the second-init
// rule, and the backend errors.
#include "worker_lib/process_group.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rendezvous/server.h"
#include "store/memory_store.h"
#include "tests/worker_lib/rank_threads.h"
#include "worker_lib/nccl_host.h"

namespace tplaunch {
namespace {

ProcessGroupOptions Options(std::shared_ptr<Store> store, int rank, int n,
                            const std::string& name = "default") {
  ProcessGroupOptions options;
  options.backend = "gloo";
  options.store = std::move(store);
  options.rank = rank;
  options.world_size = n;
  options.group_name = name;
  options.timeout = absl::Seconds(20);
  return options;
}

absl::Status SumCheck(ProcessGroup& group) {
  std::vector<int64_t> x = {group.rank() + 1};
  if (auto s = group.AllReduce(absl::MakeSpan(x), ReduceOp::kSum); !s.ok())
    return s;
  const int64_t n = group.world_size();
  return x[0] == n * (n + 1) / 2
             ? absl::OkStatus()
             : absl::InternalError(absl::StrCat("sum ", x[0]));
}

TEST_CASE("tensor- and data-parallel groups coexist") {
  // 4 ranks: "dp" spans all of them, "tp0"/"tp1" pair ranks {0,1} and {2,3}.
  std::shared_ptr<Store> store(NewMemoryStore());
  std::vector<absl::Status> statuses =
      RunRanks(4, [&](int rank) -> absl::Status {
        auto dp = InitProcessGroup(Options(store, rank, 4, "dp"));
        if (!dp.ok()) return dp.status();
        auto tp = InitProcessGroup(
            Options(store, rank % 2, 2, absl::StrCat("tp", rank / 2)));
        if (!tp.ok()) return tp.status();
        if (auto s = SumCheck(**dp); !s.ok()) return s;
        if (auto s = SumCheck(**tp); !s.ok()) return s;
        return (*dp)->Barrier();
      });
  for (int r = 0; r < 4; ++r) {
    INFO(statuses[r].ToString());
    CHECK(statuses[r].ok());
  }
  CHECK_FALSE(IsInitialized("dp"));
}

TEST_CASE("a second init of a live group fails; after destroy it works again") {
  std::shared_ptr<Store> store(NewMemoryStore());
  std::vector<absl::Status> statuses =
      RunRanks(2, [&](int rank) -> absl::Status {
        auto first = InitProcessGroup(Options(store, rank, 2, "again"));
        if (!first.ok()) return first.status();
        if (!IsInitialized("again"))
          return absl::InternalError("not initialized");
        auto second = InitProcessGroup(Options(store, rank, 2, "again"));
        if (!absl::IsAlreadyExists(second.status())) {
          return absl::InternalError("second init: " +
                                     second.status().ToString());
        }
        if (auto s = SumCheck(**first); !s.ok()) return s;
        first->reset();
        // Re-init after destroy: a new generation of keys, so no stale
        // addresses.
        auto third = InitProcessGroup(Options(store, rank, 2, "again"));
        if (!third.ok()) return third.status();
        return SumCheck(**third);
      });
  for (const absl::Status& s : statuses) {
    INFO(s.ToString());
    CHECK(s.ok());
  }
  CHECK_FALSE(IsInitialized("again"));
}

TEST_CASE("tprdzv:// connects to a real rendezvous server") {
  ServerOptions server_options;
  server_options.port = 0;
  auto server = StartRendezvousServer(server_options);
  REQUIRE(server.ok());
  const std::string url =
      absl::StrCat("tprdzv://", (*server)->address(), "/job7");
  std::vector<absl::Status> statuses =
      RunRanks(3, [&](int rank) -> absl::Status {
        ProcessGroupOptions options;
        options.backend = "gloo";
        options.init_method = url;
        options.rank = rank;
        options.world_size = 3;
        options.group_name = "url";
        options.timeout = absl::Seconds(20);
        auto group = InitProcessGroup(options);
        if (!group.ok()) return group.status();
        return SumCheck(**group);
      });
  for (const absl::Status& s : statuses) {
    INFO(s.ToString());
    CHECK(s.ok());
  }
}

TEST_CASE("nccl on a CPU host fails at once and frees the group name") {
  if (CudaDeviceUsable()) {
    WARN("SKIPPED: this host has a usable CUDA device");
    return;
  }
  ProcessGroupOptions options =
      Options(std::shared_ptr<Store>(NewMemoryStore()), 0, 2, "gpu");
  options.backend = "nccl";
  const absl::Time start = absl::Now();
  auto group = InitProcessGroup(options);
  CHECK(absl::Now() - start < absl::Seconds(5));
  REQUIRE(absl::IsFailedPrecondition(group.status()));
  CHECK_THAT(std::string(group.status().message()),
             Catch::Contains("no CUDA driver or device found"));
  CHECK_FALSE(IsInitialized("gpu"));
}

TEST_CASE("auto picks gloo on a CPU host") {
  if (CudaDeviceUsable()) {
    WARN("SKIPPED: this host has a usable CUDA device");
    return;
  }
  ProcessGroupOptions options =
      Options(std::shared_ptr<Store>(NewMemoryStore()), 0, 1, "solo");
  options.backend = "auto";
  auto group = InitProcessGroup(options);
  REQUIRE(group.ok());
  CHECK((*group)->backend() == "gloo");
  CHECK(SumCheck(**group).ok());
}

TEST_CASE("ccl, xccl and hccl are Unimplemented") {
  for (const char* name : {"ccl", "xccl", "hccl"}) {
    ProcessGroupOptions options =
        Options(std::shared_ptr<Store>(NewMemoryStore()), 0, 1, "x");
    options.backend = name;
    auto group = InitProcessGroup(options);
    INFO(name);
    CHECK(absl::IsUnimplemented(group.status()));
  }
}

}  // namespace
}  // namespace tplaunch
