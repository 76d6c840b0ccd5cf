// --rdzv-backend etcd-v3 on the command line and in the topology plan: the
// members' comma list, the refused combinations (usage errors) and the etcd
// TLS/auth keys of --rdzv-conf, which are refused rather than ignored.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "launcher/cli.h"
#include "launcher/status_command.h"
#include "launcher/topology/store_topology.h"

namespace tplaunch {
namespace {

absl::StatusOr<LaunchConfig> Parse(const std::string& line) {
  std::vector<std::string> argv = {"tplaunch"};
  for (absl::string_view w : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    argv.emplace_back(w);
  }
  return ParseCommandLine(argv, {});
}

constexpr char kEtcd[] =
    "--nnodes 2 --rdzv-backend etcd-v3 --rdzv-id r --rdzv-endpoint "
    "h1:2379,h2,[fd00::3]:2380 ";

TEST_CASE("--rdzv-endpoint is the etcd members' comma list") {
  auto c = Parse(std::string(kEtcd) + "p");
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->rdzv_backend == RdzvBackend::kEtcdV3);
  REQUIRE(c->etcd_endpoints.size() == 3);
  CHECK(c->etcd_endpoints[1] == Endpoint{"h2", 2379});
  CHECK(c->etcd_endpoints[2] == Endpoint{"fd00::3", 2380});
  CHECK(c->rdzv_endpoint == Endpoint{"h1", 2379});
  CHECK_FALSE(c->standalone);
  // The alias, after the endpoint on the command line: rows apply in table
  // order, the backend's first.
  auto alias = Parse("--rdzv-endpoint h1,h2 --rdzv_backend ETCD --rdzv-id r p");
  INFO(alias.status().ToString());
  REQUIRE(alias.ok());
  CHECK(alias->etcd_endpoints.size() == 2);

  auto plan = PlanStoreTopology(*c);
  REQUIRE(plan.ok());
  CHECK(plan->kind == TopologyKind::kEtcd);
  CHECK(plan->multi_node());
  CHECK(plan->etcd_endpoints == c->etcd_endpoints);
}

TEST_CASE("etcd usage errors name what is wrong") {
  struct Row {
    std::string args;
    std::string must_contain;
  };
  const std::vector<Row> rows = {
      {"--rdzv-endpoint h1:2379,h2:2379 --rdzv-id r p",
       "a comma list of members needs --rdzv-backend etcd-v3"},
      {"--rdzv-backend etcd --rdzv-endpoint h1,,h2 --rdzv-id r p",
       "an empty member"},
      {"--rdzv-backend etcd --rdzv-endpoint h1,h1 --rdzv-id r p",
       "named twice"},
      {std::string(kEtcd) + "--rdzv-conf protocol=https p",
       "does not speak TLS yet"},
      {std::string(kEtcd) + "--rdzv-conf cacert=/ca.pem p",
       "are not supported yet"},
      {std::string(kEtcd) + "--rdzv-conf user=root p", "are not supported yet"},
      {std::string(kEtcd) + "--rdzv-conf password_file=/pw p",
       "are not supported yet"},
  };
  for (const Row& row : rows) {
    INFO(row.args);
    auto c = Parse(row.args);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(c.status().message()),
               Catch::Contains(row.must_contain));
  }
  auto http = Parse(std::string(kEtcd) + "--rdzv-conf protocol=http p");
  CHECK(http.ok());
}

TEST_CASE("what etcd cannot do is refused when planning (exit 2)") {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"--torch-store agent", "--torch-store agent does not work"},
      {"--rdzv-conf is_host=true", "is_host does not work"},
      {"--on-daemon-restart ride-through", "ride-through does not work"},
  };
  for (const auto& [extra, must_contain] : rows) {
    INFO(extra);
    auto c = Parse(std::string(kEtcd) + extra + " p");
    INFO(c.status().ToString());
    REQUIRE(c.ok());
    auto plan = PlanStoreTopology(*c);
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(plan.status().message()),
               Catch::Contains(must_contain) &&
                   Catch::Contains("--rdzv-backend etcd-v3"));
  }
}

TEST_CASE("tplaunch status over etcd reads the members' comma list") {
  auto c =
      ParseStatusCommand({"tplaunch", "status", "--rdzv-backend", "etcd",
                          "--rdzv-endpoint", "h1,h2:23790", "--rdzv-id", "r"},
                         {});
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->rdzv_backend == RdzvBackend::kEtcdV3);
  REQUIRE(c->etcd_endpoints.size() == 2);
  CHECK(c->etcd_endpoints[0].ToString() == "h1:2379");
  CHECK(c->etcd_endpoints[1].ToString() == "h2:23790");
  CHECK(c->rdzv_id == "r");
}

TEST_CASE("tplaunch status over etcd: what it refuses, with the reason") {
  struct Case {
    std::vector<std::string> args;
    std::string must_contain;
  };
  const Case cases[] = {
      {{"--rdzv-backend", "etcd", "--rdzv-endpoint", "h1,h1", "--rdzv-id", "r"},
       "--rdzv-endpoint"},
      {{"--rdzv-backend", "etcd", "--rdzv-endpoint", "h1", "--rdzv-id", "r",
        "--token-file", "/t"},
       "etcd has none"},
      {{"--rdzv-backend", "etcd-v2", "--rdzv-endpoint", "h1", "--rdzv-id", "r"},
       "etcd-v3"},
  };
  for (const Case& k : cases) {
    std::vector<std::string> argv = {"tplaunch", "status"};
    argv.insert(argv.end(), k.args.begin(), k.args.end());
    auto c = ParseStatusCommand(argv, {});
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(c.status().message()),
               Catch::Contains(k.must_contain));
  }
}

}  // namespace
}  // namespace tplaunch
