#include "launcher/status_command.h"

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "store/endpoint.h"

namespace tplaunch {

absl::StatusOr<LaunchConfig> ParseStatusCommand(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env) {
  CLI::App app(
      "tplaunch status: show a job's nodes, ranks, attempt and heartbeats",
      "tplaunch status");
  std::string endpoint;
  std::string id;
  std::string token_file;
  app.add_option("--rdzv-endpoint,--rdzv_endpoint", endpoint,
                 "tprdzvd HOST[:PORT]");
  app.add_option("--rdzv-id,--rdzv_id", id, "the job's run id");
  app.add_option("--token-file,--token_file", token_file, "bearer token file");
  // CLI11 takes the arguments reversed, without "tplaunch status".
  std::vector<std::string> args(argv.rbegin(), argv.rend() - 2);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(absl::StrCat("status: ", e.what()));
  }
  auto from_env = [&](std::string& field, const char* name) {
    auto it = env.find(name);
    if (field.empty() && it != env.end()) field = it->second;
  };
  from_env(endpoint, "TPLAUNCH_RDZV_ENDPOINT");
  from_env(id, "TPLAUNCH_RDZV_ID");
  from_env(token_file, "TPLAUNCH_TOKEN_FILE");
  if (endpoint.empty() || id.empty()) {
    return absl::InvalidArgumentError(
        "status needs --rdzv-endpoint HOST[:PORT] and --rdzv-id ID");
  }
  absl::StatusOr<Endpoint> parsed =
      ParseEndpoint(endpoint, kDefaultRendezvousPort);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rdzv-endpoint: ", parsed.status().message()));
  }
  LaunchConfig config;
  config.action = CliAction::kStatus;
  config.rdzv_endpoint = *std::move(parsed);
  config.rdzv_id = id;
  config.token_file = token_file;
  return config;
}

}  // namespace tplaunch
