// KvTable's input checks added for issue #10: strict decimal counters for Add
// and the value limit on CompareSet's `expected`.
#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

TEST_CASE("kv_table: Add reads strict decimal int64 only", "[kv_table]") {
  KvTable table(KvTableOptions{});
  for (const char* bad : {" 7\n", "+5", " 7", "7 ", "", "-", "0x10", "1e3"}) {
    INFO("stored value \"" << bad << "\"");
    REQUIRE(table.Set("j", "k", bad).ok());
    absl::StatusOr<int64_t> added = table.Add("j", "k", 1);
    CHECK(absl::IsFailedPrecondition(added.status()));
    CHECK(*table.TryGet("j", "k") == bad);  // Untouched.
  }
  for (const auto& [good, want] :
       {std::pair<const char*, int64_t>{"7", 8},
        {"-5", -4},
        {"0", 1},
        {"007", 8},
        {"-9223372036854775807", -9223372036854775806}}) {
    INFO("stored value \"" << good << "\"");
    REQUIRE(table.Set("j", "k", good).ok());
    absl::StatusOr<int64_t> added = table.Add("j", "k", 1);
    REQUIRE(added.ok());
    CHECK(*added == want);
  }
}

TEST_CASE("kv_table: CompareSet's expected is held to max_value_bytes",
          "[kv_table]") {
  KvTableOptions options;
  options.max_value_bytes = 16;
  KvTable table(options);
  REQUIRE(table.Set("j", "k", "v").ok());
  absl::StatusOr<std::string> over =
      table.CompareSet("j", "k", std::string(17, 'x'), "new");
  CHECK(absl::IsInvalidArgument(over.status()));
  CHECK(absl::StrContains(over.status().message(), "expected"));
  CHECK(absl::StrContains(over.status().message(), "max_value_bytes"));
  absl::StatusOr<std::string> at =
      table.CompareSet("j", "k", std::string(16, 'x'), "new");
  REQUIRE(at.ok());
  CHECK(*at == "v");  // No match: the current value.
}

}  // namespace
}  // namespace tplaunch
