#include "store/endpoint.h"

#include <catch2/catch.hpp>

#include "absl/status/status.h"

namespace tplaunch {
namespace {

TEST_CASE("endpoint: accepted forms and their canonical text", "[endpoint]") {
  struct Row {
    const char* text;
    const char* host;
    int port;
    const char* canonical;
  };
  for (const Row& row : {
           Row{"10.0.0.1:80", "10.0.0.1", 80, "10.0.0.1:80"},
           Row{"node1", "node1", 29400, "node1:29400"},
           Row{"node-a.example_b:1", "node-a.example_b", 1,
               "node-a.example_b:1"},
           Row{"127.0.0.1:65535", "127.0.0.1", 65535, "127.0.0.1:65535"},
           Row{"[::1]:5", "::1", 5, "[::1]:5"},
           Row{"[fe80::1]", "fe80::1", 29400, "[fe80::1]:29400"},
           Row{"::1", "::1", 29400, "[::1]:29400"},
       }) {
    INFO("endpoint '" << row.text << "'");
    absl::StatusOr<Endpoint> parsed =
        ParseEndpoint(row.text, kDefaultRendezvousPort);
    REQUIRE(parsed.ok());
    CHECK(parsed->host == row.host);
    CHECK(parsed->port == row.port);
    CHECK(parsed->ToString() == row.canonical);
  }
}

TEST_CASE("endpoint: bad text is InvalidArgument naming it", "[endpoint]") {
  for (const char* bad :
       {"",           ":80",           "host:",     "host:0",
        "host:65536", "host:-1",       "host:http", "host:80x",
        "host:+80",   "host: 80",      "[::1",      "[::1]80",
        "[]:80",      "[10.0.0.1]:80", "a b:80",    "http://host:80",
        "a:b:c",      "-host:1",       ".host",     "host\n:1"}) {
    INFO("endpoint '" << bad << "'");
    absl::StatusOr<Endpoint> parsed =
        ParseEndpoint(bad, kDefaultRendezvousPort);
    REQUIRE(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(parsed.status().message()).find("endpoint '") == 0);
  }
}

TEST_CASE("endpoint: default port 0 makes the port required", "[endpoint]") {
  CHECK(ParseEndpoint("host:7", 0)->port == 7);
  CHECK(ParseEndpoint("host", 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ParseEndpoint("::1", 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("endpoint: a host longer than a DNS name is refused", "[endpoint]") {
  CHECK(ParseEndpoint(std::string(253, 'a') + ":1", 0).ok());
  CHECK_FALSE(ParseEndpoint(std::string(254, 'a') + ":1", 0).ok());
}

TEST_CASE("endpoint: JoinHostPort brackets IPv6 only", "[endpoint]") {
  CHECK(JoinHostPort("::1", 9) == "[::1]:9");
  CHECK(JoinHostPort("h", 9) == "h:9");
  CHECK(JoinHostPort("10.0.0.1", 9) == "10.0.0.1:9");
}

}  // namespace
}  // namespace tplaunch
