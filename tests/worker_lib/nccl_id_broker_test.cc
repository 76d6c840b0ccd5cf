// The NCCL id exchange on CPU: the real ncclGetUniqueId (it works without a
// GPU) moved through a store, the root layout for large groups, and the failure
// messages.
#include "worker_lib/nccl_id_broker.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/memory_store.h"
#include "tests/worker_lib/rank_threads.h"
#include "worker_lib/nccl_group.h"
#include "worker_lib/nccl_host.h"

namespace tplaunch {
namespace {

TEST_CASE(
    "root layout: one id per 128 ranks, creators spread like NCCL's blocks") {
  CHECK(NcclRootCount(1) == 1);
  CHECK(NcclRootCount(128) == 1);
  CHECK(NcclRootCount(129) == 2);
  CHECK(NcclRootCount(1024) == 8);
  CHECK(NcclRootCreatorRank(0, 129, 2) == 0);
  CHECK(NcclRootCreatorRank(1, 129, 2) == 65);
  CHECK(NcclRootCreatorRank(1, 256, 2) == 128);
  CHECK(NcclRootCreatorRank(2, 260, 3) == 174);
}

TEST_CASE("the real NCCL id makes a round trip through the store on CPU") {
  absl::StatusOr<NcclLibraryInfo> nccl = LoadedNcclLibrary();
  if (!nccl.ok()) {
    WARN("SKIPPED: NCCL is not installed here: " << nccl.status().ToString());
    return;
  }
  const int n = 4;
  std::unique_ptr<Store> store = NewMemoryStore();
  std::vector<std::vector<std::string>> got(n);
  std::atomic<int> generated{0};
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        auto ids = ExchangeNcclIds(
            *store, rank, n, absl::Seconds(10),
            [&]() {
              ++generated;
              return GenerateNcclUniqueId();
            },
            "test");
        if (!ids.ok()) return ids.status();
        got[rank] = *ids;
        return absl::OkStatus();
      });
  for (const absl::Status& s : statuses) REQUIRE(s.ok());
  CHECK(generated == 1);
  REQUIRE(got[0].size() == 1);
  CHECK(got[0][0].size() == 128);
  CHECK(got[0][0] != std::string(128, '\0'));
  for (int r = 1; r < n; ++r) CHECK(got[r] == got[0]);
  INFO("NCCL " << nccl->version << " from " << nccl->path);
  CHECK(nccl->version >= 20000);
}

TEST_CASE("a large group exchanges one id per root with one MultiGet") {
  const int n = 260;  // 3 roots: creators 0, 87, 174.
  std::unique_ptr<Store> store = NewMemoryStore();
  std::vector<std::vector<std::string>> got(n);
  std::vector<int> creators;
  std::mutex mu;
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        auto ids = ExchangeNcclIds(
            *store, rank, n, absl::Seconds(20),
            [&]() -> absl::StatusOr<std::string> {
              std::lock_guard<std::mutex> lock(mu);
              creators.push_back(rank);
              return std::string(128, static_cast<char>('a' + creators.size()));
            },
            "test");
        if (!ids.ok()) return ids.status();
        got[rank] = *ids;
        return absl::OkStatus();
      });
  for (const absl::Status& s : statuses) REQUIRE(s.ok());
  std::sort(creators.begin(), creators.end());
  CHECK(creators == std::vector<int>{0, 87, 174});
  REQUIRE(got[0].size() == 3);
  for (int r = 1; r < n; ++r) REQUIRE(got[r] == got[0]);
}

TEST_CASE("a creator that never publishes is named") {
  std::unique_ptr<Store> store = NewMemoryStore();
  absl::Status s = ExchangeNcclIds(
                       *store, 1, 4, absl::Milliseconds(300),
                       [] { return std::string(128, 'x'); }, "grp")
                       .status();
  REQUIRE(absl::IsDeadlineExceeded(s));
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("grp") && Catch::Contains("rank(s) 0"));
}

TEST_CASE("a published id of the wrong size is DataLoss") {
  std::unique_ptr<Store> store = NewMemoryStore();
  REQUIRE(store->Set("nccl/id/0", "short").ok());
  absl::Status s = ExchangeNcclIds(
                       *store, 1, 2, absl::Seconds(1),
                       [] { return std::string(128, 'x'); }, "grp")
                       .status();
  CHECK(absl::IsDataLoss(s));
}

TEST_CASE("a missing NCCL library is named") {
  absl::StatusOr<NcclLibraryInfo> lib =
      ProbeNcclLibrary({"/nonexistent/libnccl.so.2"});
  REQUIRE(absl::IsFailedPrecondition(lib.status()));
  CHECK_THAT(std::string(lib.status().message()),
             Catch::Contains("NCCL is not available") &&
                 Catch::Contains("/nonexistent/libnccl.so.2"));
  // The default list names the soname and the toolkit directories.
  std::vector<std::string> names = NcclLibraryCandidates();
  CHECK(std::find(names.begin(), names.end(), "libnccl.so.2") != names.end());
}

TEST_CASE("nccl on a CPU host: FailedPrecondition, no CUDA driver or device") {
  if (CudaDeviceUsable()) {
    WARN("SKIPPED: this host has a usable CUDA device");
    return;
  }
  absl::Status s = NcclPreflight(0);
  INFO(s.ToString());
  REQUIRE(absl::IsFailedPrecondition(s));
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("no CUDA driver or device found"));
}

}  // namespace
}  // namespace tplaunch
