#include "common/duration.h"

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TEST_CASE("a bare number is seconds, as in torchrun") {
  CHECK(*ParseDurationFlag("30") == absl::Seconds(30));
  CHECK(*ParseDurationFlag("1.5") == absl::Milliseconds(1500));
  CHECK(*ParseDurationFlag("0") == absl::ZeroDuration());
  CHECK(*ParseDurationFlag("1e3") == absl::Seconds(1000));
  CHECK(*ParseDurationFlag("1e9") == absl::Seconds(1e9));
  // Negative values reach the caller, which decides.
  CHECK(*ParseDurationFlag("-2") == absl::Seconds(-2));
}

TEST_CASE("absl duration forms, surrounding whitespace ignored") {
  CHECK(*ParseDurationFlag("200ms") == absl::Milliseconds(200));
  CHECK(*ParseDurationFlag("2m") == absl::Minutes(2));
  CHECK(*ParseDurationFlag("1h30m") == absl::Minutes(90));
  CHECK(*ParseDurationFlag("-5s") == absl::Seconds(-5));
  CHECK(*ParseDurationFlag(" 30s\n") == absl::Seconds(30));
  CHECK(*ParseDurationFlag("\t7 ") == absl::Seconds(7));
}

TEST_CASE("empty, infinite and malformed text is InvalidArgument") {
  for (const char* text :
       {"", "   ", "soon", "30 s", "s", "1.5.2s", "1h 30m"}) {
    INFO(text);
    auto d = ParseDurationFlag(text);
    REQUIRE_FALSE(d.ok());
    CHECK(absl::IsInvalidArgument(d.status()));
    CHECK_THAT(std::string(d.status().message()),
               Catch::Contains("expected a duration such as 30, 30s"));
  }
  for (const char* text : {"1e10", "-1e10", "1e300", "inf", "-inf", "nan"}) {
    INFO(text);
    auto d = ParseDurationFlag(text);
    REQUIRE_FALSE(d.ok());
    CHECK(absl::IsInvalidArgument(d.status()));
    CHECK_THAT(std::string(d.status().message()),
               Catch::Contains("out of range"));
  }
  // An absl duration too long to represent is infinite to absl: rejected too.
  CHECK_FALSE(ParseDurationFlag("99999999999999999999h").ok());
  CHECK_FALSE(ParseDurationFlag("-99999999999999999999h").ok());
}

}  // namespace
}  // namespace tplaunch
