#include "launcher/status_command.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_split.h"

namespace tplaunch {
namespace {

using Env = std::map<std::string, std::string>;

absl::StatusOr<LaunchConfig> ParseStatus(const std::string& line,
                                         const Env& env = {}) {
  std::vector<std::string> argv = {"tplaunch", "status"};
  for (absl::string_view w : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    argv.emplace_back(w);
  }
  return ParseStatusCommand(argv, env);
}

TEST_CASE("status reads endpoint, id and token file, typed") {
  auto s = ParseStatus("--rdzv-endpoint node-a --rdzv-id j --token-file /t");
  REQUIRE(s.ok());
  CHECK(s->action == CliAction::kStatus);
  REQUIRE(s->rdzv_endpoint.has_value());
  CHECK(s->rdzv_endpoint->host == "node-a");
  CHECK(s->rdzv_endpoint->port == kDefaultRendezvousPort);
  CHECK(s->rdzv_id == "j");
  CHECK(s->token_file == "/t");

  auto underscores = ParseStatus("--rdzv_endpoint [::1]:7 --rdzv_id k");
  REQUIRE(underscores.ok());
  CHECK(underscores->rdzv_endpoint->ToString() == "[::1]:7");
  CHECK(underscores->rdzv_id == "k");
}

TEST_CASE("status falls back to TPLAUNCH_<NAME>; the command line wins") {
  Env env = {{"TPLAUNCH_RDZV_ENDPOINT", "10.0.0.1:5"},
             {"TPLAUNCH_RDZV_ID", "from-env"},
             {"TPLAUNCH_TOKEN_FILE", "/env-token"}};
  auto s = ParseStatus("--rdzv-id cli", env);
  REQUIRE(s.ok());
  CHECK(s->rdzv_endpoint->ToString() == "10.0.0.1:5");
  CHECK(s->rdzv_id == "cli");
  CHECK(s->token_file == "/env-token");
}

TEST_CASE("status errors name what is missing or wrong") {
  struct Row {
    std::string args;
    std::string must_contain;
  };
  std::vector<Row> rows = {
      {"--rdzv-id j", "needs --rdzv-endpoint HOST[:PORT] and --rdzv-id ID"},
      {"--rdzv-endpoint h", "needs --rdzv-endpoint HOST[:PORT] and --rdzv-id"},
      {"--rdzv-endpoint h:0 --rdzv-id j", "--rdzv-endpoint: "},
      {"--rdzv-endpoint h --rdzv-id j --bogus", "status: "},
  };
  for (const auto& row : rows) {
    INFO(row.args);
    auto s = ParseStatus(row.args);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(s.status().message()),
               Catch::Contains(row.must_contain));
  }
}

}  // namespace
}  // namespace tplaunch
