#include "launcher/torchrun_env.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "launcher/signals.h"

namespace tplaunch {

EnvVars TorchrunWorkerVariables(const LaunchConfig& config) {
  EnvVars vars;
  if (config.use_libuv) vars["USE_LIBUV"] = *config.use_libuv ? "1" : "0";
  std::vector<std::string> names;
  for (int sig : config.signals_to_forward) {
    std::string name = SignalName(sig);
    if (absl::StartsWith(name, "SIG")) names.push_back(std::move(name));
  }
  vars["TORCHELASTIC_SIGNALS_TO_HANDLE"] = absl::StrJoin(names, ",");
  return vars;
}

namespace {

// spdlog's names as tplaunch has always read them, plus Python's.
std::optional<std::string> LevelName(const std::string& raw) {
  const std::string v = absl::AsciiStrToLower(raw);
  if (v == "trace") return "trace";
  if (v == "debug" || v == "notset") return "debug";
  if (v == "info") return "info";
  if (v == "warn" || v == "warning") return "warn";
  if (v == "err" || v == "error") return "err";
  if (v == "critical" || v == "fatal") return "critical";
  if (v == "off") return "off";
  int n = 0;
  if (absl::SimpleAtoi(v, &n)) {
    // Python's numeric levels: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50
    // CRITICAL; anything between rounds down, as Python's filtering does.
    if (n < 20) return "debug";
    if (n < 30) return "info";
    if (n < 40) return "warn";
    if (n < 50) return "err";
    return "critical";
  }
  return std::nullopt;
}

}  // namespace

LogLevelChoice LauncherLogLevel(const EnvVars& env) {
  LogLevelChoice choice;
  for (const char* var : {"TPLAUNCH_LOG_LEVEL", "LOGLEVEL"}) {
    auto it = env.find(var);
    if (it == env.end() || it->second.empty()) continue;
    if (std::optional<std::string> level = LevelName(it->second)) {
      choice.level = *level;
    } else {
      choice.problem = absl::StrCat(
          var, " '", it->second,
          "' is not a log level (trace, debug, info, warn, error, critical, "
          "off; or Python's DEBUG, INFO, WARNING, ERROR, CRITICAL); using "
          "info");
    }
    return choice;
  }
  return choice;
}

std::optional<std::string> HealthCheckPortNote(const EnvVars& env) {
  auto it = env.find("TORCHELASTIC_HEALTH_CHECK_PORT");
  if (it == env.end()) return std::nullopt;
  return absl::StrCat(
      "TORCHELASTIC_HEALTH_CHECK_PORT=", it->second,
      " is ignored: tplaunch serves no health check (torchrun's open-source "
      "one is a stub that serves none either); `tplaunch status` shows every "
      "node's heartbeat");
}

}  // namespace tplaunch
