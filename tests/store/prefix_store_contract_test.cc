// The Store contract, run against PrefixStore over a shared MemoryStore, plus
// the isolation PrefixStore exists for.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "store/memory_store.h"
#include "store/prefix_store.h"
#include "tests/store/store_contract.h"

namespace tplaunch {
namespace {

// Every store shares one base that already holds keys just outside its prefix:
// the bare prefix, a sibling prefix that starts the same, another prefix and an
// unprefixed key. Every contract check (NumKeys == 0 on a fresh store,
// ListKeys, ...) therefore also checks that none of them leak in.
store_contract::StoreFactory PrefixStores() {
  auto base = std::shared_ptr<Store>(NewMemoryStore());
  auto next = std::make_shared<int>(0);
  return [base, next]() -> std::unique_ptr<Store> {
    const std::string prefix = absl::StrCat("job", (*next)++);
    for (const std::string& neighbour :
         {prefix, absl::StrCat(prefix, "0/a"),
          absl::StrCat("other/", prefix, "/a"), std::string("a"),
          std::string("rank_0")}) {
      if (!base->Set(neighbour, "neighbour").ok()) return nullptr;
    }
    return NewPrefixStore(prefix, base);
  };
}

TPLAUNCH_STORE_CONTRACT_TESTS("PrefixStore", PrefixStores)

TEST_CASE("PrefixStore: two prefixes do not see each other's keys",
          "[store][prefix]") {
  std::unique_ptr<Store> base = NewMemoryStore();
  std::unique_ptr<Store> one = NewPrefixStore("one", base.get());
  std::unique_ptr<Store> two = NewPrefixStore("two", base.get());

  REQUIRE(one->Set("k", "1").ok());
  REQUIRE(one->Add("n", 1).ok());
  REQUIRE(two->TryGet("k").status().code() == absl::StatusCode::kNotFound);
  REQUIRE_FALSE(two->Check({"k"}).value());
  REQUIRE(two->NumKeys().value() == 0);
  REQUIRE(two->ListKeys("").value().empty());
  REQUIRE(two->Get("k", absl::Milliseconds(20)).status().code() ==
          absl::StatusCode::kDeadlineExceeded);
  REQUIRE_FALSE(two->DeleteKey("k").value());
  REQUIRE(two->Add("n", 5).value() == 5);  // Its own counter, not one's.

  REQUIRE(one->TryGet("k").value() == "1");
  REQUIRE(one->Add("n", 0).value() == 1);
  REQUIRE(one->ListKeys("").value() == std::vector<std::string>{"k", "n"});
  // The base holds both, under their prefixes.
  REQUIRE(base->ListKeys("").value() ==
          std::vector<std::string>{"one/k", "one/n", "two/n"});
}

TEST_CASE("PrefixStore: prefixes nest", "[store][prefix]") {
  auto base = std::shared_ptr<Store>(NewMemoryStore());
  std::unique_ptr<Store> nested =
      NewPrefixStore("inner", NewPrefixStore("outer", base));
  REQUIRE(nested->Set("k", "v").ok());
  REQUIRE(base->TryGet("outer/inner/k").value() == "v");
  REQUIRE(nested->ListKeys("").value() == std::vector<std::string>{"k"});
}

}  // namespace
}  // namespace tplaunch
