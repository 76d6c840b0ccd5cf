// EtcdKeyLayout and PrefixEnd: where a run's keys live, and the range_end that
// covers exactly one prefix (no etcd needed).
#include "store/etcd/key_layout.h"

#include <catch2/catch.hpp>
#include <string>

namespace tplaunch {
namespace {

TEST_CASE("PrefixEnd is the first key past every key with the prefix",
          "[etcd][layout]") {
  REQUIRE(PrefixEnd("/a/") == "/a0");  // '/' + 1 == '0'
  REQUIRE(PrefixEnd("ab") == "ac");
  // Trailing 0xff bytes cannot be incremented: they are cut.
  REQUIRE(PrefixEnd(std::string("a\xff\xff", 3)) == "b");
  // Nothing to increment: the whole keyspace ("\0", etcd's "to the end").
  REQUIRE(PrefixEnd("") == std::string(1, '\0'));
  REQUIRE(PrefixEnd(std::string("\xff", 1)) == std::string(1, '\0'));
}

TEST_CASE("EtcdKeyLayout puts a run under /tplaunch/v1/<run_id>/",
          "[etcd][layout]") {
  const EtcdKeyLayout layout = EtcdKeyLayout::ForRun("job-1").value();
  REQUIRE(layout.run_prefix() == "/tplaunch/v1/job-1/");
  REQUIRE(layout.UserKey("rank_0") == "/tplaunch/v1/job-1/k/rank_0");
  REQUIRE(layout.StoreKey("/tplaunch/v1/job-1/k/rank_0") == "rank_0");
  REQUIRE(layout.LeaseKey() == "/tplaunch/v1/job-1/m/lease");
  REQUIRE(layout.RequestKey("ab12") == "/tplaunch/v1/job-1/r/ab12");
  // Bytes, not C strings: a NUL in a key survives the round trip.
  const std::string odd("a\0b", 3);
  REQUIRE(layout.StoreKey(layout.UserKey(odd)) == odd);
}

TEST_CASE("EtcdKeyLayout refuses run ids that would nest", "[etcd][layout]") {
  REQUIRE(EtcdKeyLayout::ForRun("").status().code() ==
          absl::StatusCode::kInvalidArgument);
  const auto nested = EtcdKeyLayout::ForRun("a/k");
  REQUIRE(nested.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(nested.status().message().find("'/'") != absl::string_view::npos);
}

}  // namespace
}  // namespace tplaunch
