// ParseEtcdEndpoints: comma lists of etcd members, IPv6 in brackets, etcd's
// default port, the etcd-v3:// form, and the mistakes it names.
#include "store/etcd/endpoint_list.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace tplaunch {
namespace {

TEST_CASE("ParseEtcdEndpoints reads a comma list of members", "[etcd]") {
  const std::vector<Endpoint> members =
      ParseEtcdEndpoints("h1:2379,h2,[fd00::3]:32379").value();
  REQUIRE(members.size() == 3);
  CHECK(members[0] == Endpoint{"h1", 2379});
  CHECK(members[1] == Endpoint{"h2", 2379});  // etcd's port when omitted
  CHECK(members[2] == Endpoint{"fd00::3", 32379});
  // The URL form reads back to the same members.
  CHECK(EtcdEndpointsUrl(members) ==
        "etcd-v3://h1:2379,h2:2379,[fd00::3]:32379");
  CHECK(ParseEtcdEndpoints(EtcdEndpointsUrl(members)).value() == members);
  CHECK(ParseEtcdEndpoints("etcd://h1").value() ==
        std::vector<Endpoint>{{"h1", 2379}});
}

TEST_CASE("ParseEtcdEndpoints names what is wrong", "[etcd]") {
  for (const std::string bad :
       {"", "etcd-v3://", "h1,,h2", "h1,", "h1:notaport", "h1,h1:2379"}) {
    const absl::Status status = ParseEtcdEndpoints(bad).status();
    INFO(bad << " -> " << status.ToString());
    REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(status.message(), "etcd endpoints"));
  }
  CHECK(absl::StrContains(ParseEtcdEndpoints("h1,h1").status().message(),
                          "h1:2379 is named twice"));
}

}  // namespace
}  // namespace tplaunch
