// The wording every Store's errors share: quoting, bounded key lists and the
// three shapes of a timeout message.
#include "store/error_text.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tplaunch {
namespace {

TEST_CASE("error_text: keys are escaped, single-quoted and bounded",
          "[error_text]") {
  CHECK(QuoteKey("k") == "'k'");
  CHECK(QuoteKey("a\nb'") == "'a\\nb\\''");
  const std::string long_key(100, 'x');
  CHECK(QuoteKey(long_key) ==
        absl::StrCat("'", std::string(96, 'x'), "'... (100 bytes)"));
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back(absl::StrCat("k", i));
  const std::vector<absl::string_view> keys(names.begin(), names.end());
  CHECK(QuoteKeys(keys) ==
        "'k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7' and 2 more");
  CHECK(DescribeKeys({keys[0]}) == "key 'k0'");
  CHECK(DescribeKeys({keys[0], keys[1]}) == "2 keys 'k0', 'k1'");
  CHECK(InJob("") == "");
  CHECK(InJob("r\"1") == " in job 'r\\\"1'");
  CHECK(FormatWaited(absl::Microseconds(300999)) == "300ms");
}

TEST_CASE("error_text: a timeout names what is missing, the job and the time",
          "[error_text]") {
  const std::vector<absl::string_view> two = {"b", "c"};
  CHECK(TimeoutMessage(absl::Seconds(3), two, 2, /*exact=*/true, "j") ==
        "timed out after 3s waiting for 2 keys 'b', 'c' in job 'j'");
  CHECK(TimeoutMessage(absl::Milliseconds(5), two, 3, /*exact=*/true, "j") ==
        "timed out after 5ms waiting for 2 of 3 keys (missing 'b', 'c') in job "
        "'j'");
  CHECK(TimeoutMessage(absl::ZeroDuration(), two, 70, /*exact=*/false, "") ==
        "timed out after 0 waiting for 70 keys (at least 2 missing: 'b', "
        "'c')");
}

}  // namespace
}  // namespace tplaunch
