#include "worker_lib/gloo_store_adapter.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "gloo/common/error.h"
#include "store/memory_store.h"

namespace tplaunch {
namespace {

GlooStoreAdapterOptions Options(int rank, int n, absl::Duration timeout) {
  GlooStoreAdapterOptions options;
  options.rank = rank;
  options.world_size = n;
  options.timeout = timeout;
  options.where = "adapter";
  return options;
}

TEST_CASE("get blocks up to the timeout, then fails naming key and time") {
  std::unique_ptr<Store> store = NewMemoryStore();
  GlooStoreAdapter adapter(store.get(), Options(0, 2, absl::Milliseconds(200)));
  const absl::Time start = absl::Now();
  CHECK_THROWS_AS(adapter.get("some_key"), gloo::IoException);
  CHECK(absl::Now() - start >= absl::Milliseconds(200));
  REQUIRE(absl::IsDeadlineExceeded(adapter.error()));
  CHECK_THAT(std::string(adapter.error().message()),
             Catch::Contains("some_key"));
}

TEST_CASE("both wait overloads honour a timeout") {
  std::unique_ptr<Store> store = NewMemoryStore();
  {
    GlooStoreAdapter adapter(store.get(),
                             Options(0, 2, absl::Milliseconds(100)));
    CHECK_THROWS_AS(adapter.wait({"1"}), gloo::IoException);
    CHECK_THAT(std::string(adapter.error().message()),
               Catch::Contains("rank(s) 1"));
  }
  {
    GlooStoreAdapter adapter(store.get(), Options(0, 2, absl::Seconds(60)));
    const absl::Time start = absl::Now();
    CHECK_THROWS_AS(adapter.wait({"x"}, std::chrono::milliseconds(100)),
                    gloo::IoException);
    CHECK(absl::Now() - start < absl::Seconds(30));
  }
}

TEST_CASE("values round-trip, and one MultiGet serves a whole phase") {
  const int n = 8;
  std::unique_ptr<Store> store = NewMemoryStore();
  for (int r = 0; r < n; ++r) {
    REQUIRE(store->Set(std::to_string(r), "addr" + std::to_string(r)).ok());
    REQUIRE(store->Set("rank_" + std::to_string(r), "host").ok());
  }
  GlooStoreAdapter adapter(store.get(), Options(5, n, absl::Seconds(5)));
  adapter.set("5", {'a', 'b'});
  const int after_set = adapter.store_calls();
  for (int r = 0; r < 5; ++r) {
    std::vector<char> host = adapter.get("rank_" + std::to_string(r));
    CHECK(std::string(host.begin(), host.end()) == "host");
  }
  CHECK(adapter.store_calls() == after_set + 1);
  for (int r = 0; r < n; ++r) {
    if (r == 5) continue;
    adapter.wait({std::to_string(r)}, std::chrono::milliseconds(1000));
    std::vector<char> addr = adapter.get(std::to_string(r));
    CHECK(std::string(addr.begin(), addr.end()) == "addr" + std::to_string(r));
  }
  CHECK(adapter.store_calls() == after_set + 2);
  CHECK(adapter.error().ok());
}

TEST_CASE("without prefetch every key is its own call") {
  std::unique_ptr<Store> store = NewMemoryStore();
  for (int r = 0; r < 4; ++r) REQUIRE(store->Set(std::to_string(r), "a").ok());
  GlooStoreAdapterOptions options = Options(0, 4, absl::Seconds(5));
  options.prefetch = false;
  GlooStoreAdapter adapter(store.get(), options);
  for (int r = 1; r < 4; ++r) adapter.get(std::to_string(r));
  CHECK(adapter.store_calls() == 3);
}

}  // namespace
}  // namespace tplaunch
