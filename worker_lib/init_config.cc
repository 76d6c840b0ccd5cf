#include "worker_lib/init_config.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/key_layout.h"
#include "common/status_macros.h"
#include "common/worker_env_names.h"
#include "store/etcd/endpoint_list.h"

namespace tplaunch {
namespace {

constexpr absl::string_view kEnvInit = "env://";
constexpr absl::string_view kRdzvScheme = "tprdzv://";

absl::Status BadVariable(absl::string_view name, absl::string_view value,
                         absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "environment variable %s='%s' %s", name, absl::CHexEscape(value), why));
}

absl::Status MissingVariable(absl::string_view name,
                             absl::string_view needed_by) {
  return absl::InvalidArgumentError(
      absl::StrFormat("environment variable %s is not set (needed by %s; "
                      "tplaunch sets it, or pass "
                      "the value in ProcessGroupOptions)",
                      name, needed_by));
}

// Strict: decimal digits only, no sign, no spaces, fits in int.
bool ParseNonNegativeInt(absl::string_view text, int* out) {
  if (text.empty() || text.size() > 9) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, out);
}

// Reads an integer variable; nullopt-like -1 when absent and not required.
absl::StatusOr<int> IntVariable(const EnvLookup& env, absl::string_view name,
                                bool required, absl::string_view needed_by,
                                int min_value) {
  std::optional<std::string> value = env(name);
  if (!value.has_value()) {
    if (required) return MissingVariable(name, needed_by);
    return -1;
  }
  int parsed = 0;
  if (!ParseNonNegativeInt(*value, &parsed)) {
    return BadVariable(name, *value, "is not a non-negative decimal integer");
  }
  if (parsed < min_value) {
    return BadVariable(name, *value,
                       absl::StrCat("must be at least ", min_value));
  }
  return parsed;
}

// A bare host (no port, no brackets) for local_addr: what Gloo binds. The
// host rules are store/endpoint's, so there is one set of them.
bool IsValidHost(absl::string_view host) {
  absl::StatusOr<Endpoint> parsed = ParseEndpoint(host, kDefaultRendezvousPort);
  return parsed.ok() && parsed->host == host;
}

bool IsValidName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::Status ResolveInt(int option_value, absl::string_view option_name,
                        const EnvLookup& env, absl::string_view variable,
                        bool required, absl::string_view needed_by,
                        int min_value, int* out) {
  if (option_value >= 0) {
    if (option_value < min_value) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ProcessGroupOptions.%s=%d must be at least %d",
                          option_name, option_value, min_value));
    }
    *out = option_value;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(int value,
                   IntVariable(env, variable, required, needed_by, min_value));
  if (value >= 0) *out = value;
  return absl::OkStatus();
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<RdzvUrl> ParseRdzvUrl(absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("init_method '%s' %s (expected tprdzv://host:port/job)",
                        absl::CHexEscape(url), why));
  };
  if (!absl::StartsWith(url, kRdzvScheme)) return bad("is not a tprdzv:// URL");
  absl::string_view rest = url.substr(kRdzvScheme.size());
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return bad("has no /job part");
  RdzvUrl parsed;
  const absl::string_view endpoint = rest.substr(0, slash);
  parsed.job = std::string(rest.substr(slash + 1));
  if (endpoint.empty()) return bad("has no host");
  absl::StatusOr<Endpoint> ep = ParseEndpoint(endpoint, kDefaultRendezvousPort);
  if (!ep.ok()) {
    return bad(
        absl::StrCat("has an invalid host:port (", ep.status().message(), ")"));
  }
  parsed.endpoint = *std::move(ep);
  if (!IsValidName(parsed.job)) {
    return bad("has an empty or invalid job (letters, digits, '-', '_', '.')");
  }
  return parsed;
}

absl::StatusOr<InitConfig> ResolveInitConfig(const ProcessGroupOptions& options,
                                             const EnvLookup& env) {
  InitConfig config;
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ProcessGroupOptions.timeout must be positive, got ",
                     absl::FormatDuration(options.timeout)));
  }
  if (!IsValidName(options.group_name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ProcessGroupOptions.group_name='%s' must be 1..128 "
                        "letters, digits, '-', "
                        "'_' or '.'",
                        absl::CHexEscape(options.group_name)));
  }

  const bool use_caller_store = options.store != nullptr;
  const bool use_env = !use_caller_store && options.init_method == kEnvInit;
  const bool use_url =
      !use_caller_store && absl::StartsWith(options.init_method, kRdzvScheme);
  if (!use_caller_store && !use_env && !use_url) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ProcessGroupOptions.init_method='%s' is not supported "
                        "(use \"env://\", "
                        "\"tprdzv://host:port/job\", or pass a store)",
                        absl::CHexEscape(options.init_method)));
  }
  const absl::string_view needed_by =
      use_env ? "init_method env://" : "InitProcessGroup";

  // Identity: options win, then the environment; env:// needs all of it.
  config.world_size = -1;
  config.rank = -1;
  RETURN_IF_ERROR(ResolveInt(
      options.world_size, "world_size", env, worker_env::kWorldSize,
      /*required=*/true, needed_by, /*min_value=*/1, &config.world_size));
  RETURN_IF_ERROR(ResolveInt(options.rank, "rank", env, worker_env::kRank,
                             /*required=*/true, needed_by, /*min_value=*/0,
                             &config.rank));
  config.local_rank = 0;
  RETURN_IF_ERROR(ResolveInt(
      options.local_rank, "local_rank", env, worker_env::kLocalRank,
      /*required=*/use_env, needed_by, /*min_value=*/0, &config.local_rank));
  if (config.rank >= config.world_size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rank %d is out of range for world size %d (need 0 <= "
                        "rank < world_size)",
                        config.rank, config.world_size));
  }
  config.attempt = 0;
  RETURN_IF_ERROR(ResolveInt(
      options.attempt, "attempt", env, worker_env::kAttempt,
      /*required=*/use_env, needed_by, /*min_value=*/0, &config.attempt));

  // Rendezvous location.
  if (use_env) {
    std::optional<std::string> endpoint = env(worker_env::kRdzvEndpoint);
    if (!endpoint.has_value()) {
      return MissingVariable(worker_env::kRdzvEndpoint, needed_by);
    }
    if (absl::StartsWith(*endpoint, "etcd-v3://") ||
        absl::StartsWith(*endpoint, "etcd://")) {
      absl::StatusOr<std::vector<Endpoint>> members =
          ParseEtcdEndpoints(*endpoint);
      if (!members.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("environment variable ", worker_env::kRdzvEndpoint,
                         ": ", members.status().message()));
      }
      config.etcd_endpoints = *std::move(members);
      endpoint = config.etcd_endpoints.front().ToString();
    }
    // "unix:/path": the launcher's node-local store proxy (store/proxy/).
    absl::StatusOr<Endpoint> parsed =
        absl::StartsWith(*endpoint, "unix:/")
            ? Endpoint{*endpoint, 0}
            : ParseEndpoint(*endpoint, kDefaultRendezvousPort);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", worker_env::kRdzvEndpoint, ": ",
                       parsed.status().message()));
    }
    config.rdzv_endpoint = *std::move(parsed);
    std::optional<std::string> run_id = env(worker_env::kRunId);
    if (!run_id.has_value())
      return MissingVariable(worker_env::kRunId, needed_by);
    if (!IsValidName(*run_id)) {
      return BadVariable(worker_env::kRunId, *run_id,
                         "must be 1..128 letters, digits, '-', '_' or '.'");
    }
    config.run_id = *run_id;
  } else if (use_url) {
    ASSIGN_OR_RETURN(RdzvUrl url, ParseRdzvUrl(options.init_method));
    config.rdzv_endpoint = url.endpoint;
    config.run_id = url.job;
  }
  if (!use_caller_store) {
    // Optional: the launcher sets it only when the daemon requires auth.
    std::optional<std::string> token = env(worker_env::kRdzvToken);
    if (token.has_value()) {
      if (token->empty()) {
        return BadVariable(worker_env::kRdzvToken, *token,
                           "is set but empty (unset it when auth is off)");
      }
      for (char c : *token) {
        if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) {
          return absl::InvalidArgumentError(absl::StrCat(
              "environment variable ", worker_env::kRdzvToken,
              " contains whitespace or control characters (value not shown: "
              "it is a secret)"));
        }
      }
      config.token = *token;
    }
  }

  // The address Gloo binds; never the hostname, which Debian maps to 127.0.1.1.
  if (!options.local_addr.empty()) {
    if (!IsValidHost(options.local_addr)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ProcessGroupOptions.local_addr='%s' is not an IP "
                          "address or host name",
                          absl::CHexEscape(options.local_addr)));
    }
    config.local_addr = options.local_addr;
  } else if (std::optional<std::string> addr = env(worker_env::kLocalAddr);
             addr.has_value()) {
    if (!IsValidHost(*addr)) {
      return BadVariable(worker_env::kLocalAddr, *addr,
                         "is not an IP address or host name");
    }
    config.local_addr = *addr;
  }

  // The launcher reserves WorkerPrefix ("<run_id>/a<N>/w/") for workers. A
  // caller's store has no run id: its keys start at "a<N>/w/".
  config.key_prefix =
      GroupPrefix(config.run_id, config.attempt, options.group_name);
  return config;
}

}  // namespace tplaunch
