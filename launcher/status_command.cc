#include "launcher/status_command.h"

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "store/endpoint.h"
#include "store/etcd/endpoint_list.h"

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
  std::string backend;
  app.add_option(
      "--rdzv-endpoint,--rdzv_endpoint", endpoint,
      "tprdzvd HOST[:PORT], or the etcd members H1:2379,H2:2379,...");
  app.add_option("--rdzv-id,--rdzv_id", id, "the job's run id");
  app.add_option("--rdzv-backend,--rdzv_backend", backend,
                 "c10d/static/tprdzv (tprdzvd, the default) or etcd-v3");
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
  from_env(backend, "TPLAUNCH_RDZV_BACKEND");
  const std::string lower = absl::AsciiStrToLower(backend);
  const bool etcd = lower == "etcd-v3" || lower == "etcd";
  if (!lower.empty() && !etcd && lower != "c10d" && lower != "static" &&
      lower != "tprdzv") {
    return absl::InvalidArgumentError(absl::StrCat(
        "status: --rdzv-backend ", backend,
        ": status reads c10d/static/tprdzv (tprdzvd) or etcd-v3 (alias etcd)"));
  }
  if (endpoint.empty() || id.empty()) {
    return absl::InvalidArgumentError(
        "status needs --rdzv-endpoint HOST[:PORT] and --rdzv-id ID");
  }
  LaunchConfig config;
  config.action = CliAction::kStatus;
  config.rdzv_id = id;
  if (etcd) {
    if (!token_file.empty()) {
      return absl::InvalidArgumentError(
          "status: --token-file is tprdzvd's bearer token; etcd has none "
          "(docs/etcd.md#limits)");
    }
    absl::StatusOr<std::vector<Endpoint>> members =
        ParseEtcdEndpoints(endpoint);
    if (!members.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rdzv-endpoint: ", members.status().message()));
    }
    config.rdzv_backend = RdzvBackend::kEtcdV3;
    config.etcd_endpoints = *std::move(members);
    config.rdzv_endpoint = config.etcd_endpoints.front();
    return config;
  }
  absl::StatusOr<Endpoint> parsed =
      ParseEndpoint(endpoint, kDefaultRendezvousPort);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rdzv-endpoint: ", parsed.status().message()));
  }
  config.rdzv_endpoint = *std::move(parsed);
  config.token_file = token_file;
  return config;
}

}  // namespace tplaunch
