// tprdzvd: the tplaunch rendezvous daemon. Wiring only: flags -> ServerOptions,
// logging, signals. Everything else lives in //rendezvous:server.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/fd_limit.h"
#include "common/read_file.h"
#include "common/token_file.h"
#include "rendezvous/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kVersion[] = "tprdzvd 0.1.0 (protocol tplaunch.rendezvous.v1)";
constexpr int kUsageError = 2;
constexpr int kRuntimeError = 1;

// A CLI mistake or unusable input named by a flag: reported with the usage
// text.
struct UsageError {
  std::string message;
};

std::string ReadFileOrThrow(const char* flag, const std::string& path) {
  absl::StatusOr<std::string> contents =
      tplaunch::ReadFileCapped(path, flag, tplaunch::kMaxCredentialFileBytes);
  if (!contents.ok())
    throw UsageError{std::string(contents.status().message())};
  return *std::move(contents);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "tprdzvd: the tplaunch rendezvous daemon (a gRPC key-value store "
      "equivalent to PyTorch's TCPStore)",
      "tprdzvd"};
  tplaunch::ServerOptions options;
  std::string token_file, tls_cert, tls_key, tls_client_ca;
  std::string job_idle_ttl = "24h";
  std::string max_blocking_timeout = "744h";
  std::string output_stall_timeout = "30s";
  std::string log_level = "info";
  std::string state_sync = "full";

  app.set_version_flag("--version", kVersion);
  app.add_option("--host", options.host,
                 "Address to bind: IPv4, IPv6 (::1, ::) or a host name")
      ->capture_default_str();
  app.add_option("--port", options.port, "Port to bind; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--token-file", token_file,
                 "File holding the token every call must carry (default: env "
                 "TPLAUNCH_RDZV_TOKEN; none: no authentication)");
  app.add_option("--tls-cert", tls_cert,
                 "PEM server certificate (enables TLS)");
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
  app.add_option(
      "--tls-client-ca", tls_client_ca,
      "PEM CA; when set, clients must present a certificate it signed");
  app.add_option("--max-key-bytes", options.max_key_bytes,
                 "Longest key accepted")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-value-bytes", options.max_value_bytes,
                 "Longest value accepted")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-keys-per-job", options.max_keys_per_job,
                 "Most keys one job may hold")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--job-idle-ttl", job_idle_ttl,
                 "Delete a job after this long without calls (e.g. 90m, 24h)")
      ->capture_default_str();
  app.add_option(
         "--torch-store-port", options.torch_store_port,
         "Also serve PyTorch's TCPStore protocol on this port of --host "
         "(0 picks a free one; default: off). No authentication, no "
         "TLS: see docs/torch_store.md")
      ->check(CLI::Range(0, 65535));
  app.add_option("--torch-store-job", options.torch_store_job,
                 "Job that holds the TCPStore clients' keys (TCPStore key foo "
                 "is /foo in it)")
      ->capture_default_str();
  app.add_option("--state-dir", options.state_dir,
                 "Keep every key in DIR (SQLite, WAL) and recover them at "
                 "start, so a restart loses no job (default: memory only). "
                 "See docs/reliability.md");
  app.add_option("--state-sync", state_sync,
                 "With --state-dir: full fsyncs each commit (survives power "
                 "loss); normal survives a killed daemon only")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  app.add_option("--max-connections", options.max_connections,
                 "Most connections each port (gRPC, TCPStore) keeps open; "
                 "more are closed at once (0: derived from the descriptor "
                 "limit, (RLIMIT_NOFILE - 64) / ports)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-parked-bytes", options.max_parked_bytes,
                 "Bytes all waiting Get/Wait/MultiGet calls may hold together "
                 "(estimated from their keys); more: RESOURCE_EXHAUSTED")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-blocking-timeout", max_blocking_timeout,
                 "Longest deadline a blocking call may carry; longer: "
                 "INVALID_ARGUMENT")
      ->capture_default_str();
  app.add_option("--torch-store-max-output-bytes",
                 options.torch_store_max_output_bytes,
                 "Unsent reply bytes at which a TCPStore connection is no "
                 "longer read from")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--torch-store-max-total-output-bytes",
                 options.torch_store_max_total_output_bytes,
                 "Unsent reply bytes all TCPStore connections may hold "
                 "together; a connection held back at its own cap while they "
                 "are over this is closed")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--torch-store-output-stall-timeout", output_stall_timeout,
                 "Close a TCPStore connection held at "
                 "--torch-store-max-output-bytes that reads nothing for this "
                 "long")
      ->capture_default_str();
  app.add_option("--http-port", options.http_port,
                 "Serve the live view (web page, /api/v1/jobs, /metrics, "
                 "/healthz) on this port (0 picks a free one; default: off). "
                 "Needs the token; HTTPS with --tls-cert. See "
                 "docs/observability.md")
      ->check(CLI::Range(0, 65535));
  app.add_option("--http-host", options.http_host,
                 "Address the live view binds (default: --host)");
  app.add_option("--log-level", log_level, "Log level (logs go to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
    if (!absl::ParseDuration(job_idle_ttl, &options.job_idle_ttl) ||
        options.job_idle_ttl <= absl::ZeroDuration()) {
      throw UsageError{absl::StrCat("--job-idle-ttl: \"", job_idle_ttl,
                                    "\" is not a positive duration such as 90m "
                                    "or 24h")};
    }
    options.state_sync = state_sync == "normal" ? tplaunch::StateSync::kNormal
                                                : tplaunch::StateSync::kFull;
    if (!absl::ParseDuration(max_blocking_timeout,
                             &options.max_blocking_timeout) ||
        options.max_blocking_timeout <= absl::ZeroDuration()) {
      throw UsageError{absl::StrCat("--max-blocking-timeout: \"",
                                    max_blocking_timeout,
                                    "\" is not a positive duration")};
    }
    if (!absl::ParseDuration(output_stall_timeout,
                             &options.torch_store_output_stall_timeout) ||
        options.torch_store_output_stall_timeout <= absl::ZeroDuration()) {
      throw UsageError{absl::StrCat("--torch-store-output-stall-timeout: \"",
                                    output_stall_timeout,
                                    "\" is not a positive duration")};
    }
    if (options.torch_store_job.empty()) {
      throw UsageError{"--torch-store-job: the job name is empty"};
    }
    if (tls_cert.empty() != tls_key.empty()) {
      throw UsageError{"--tls-cert and --tls-key must be given together"};
    }
    if (!tls_client_ca.empty() && tls_cert.empty()) {
      throw UsageError{"--tls-client-ca requires --tls-cert and --tls-key"};
    }
    const char* env_token = std::getenv(tplaunch::kRdzvTokenVariable);
    absl::StatusOr<std::string> token = tplaunch::ResolveToken(
        token_file, env_token == nullptr
                        ? std::nullopt
                        : std::optional<std::string>(env_token));
    if (!token.ok()) throw UsageError{std::string(token.status().message())};
    options.token = *token;
    if (!tls_cert.empty()) {
      options.tls_cert_pem = ReadFileOrThrow("--tls-cert", tls_cert);
      options.tls_key_pem = ReadFileOrThrow("--tls-key", tls_key);
    }
    if (!tls_client_ca.empty()) {
      options.tls_client_ca_pem =
          ReadFileOrThrow("--tls-client-ca", tls_client_ca);
    }
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version.
    std::cerr << "tprdzvd: " << e.what() << "\n\n" << app.help();
    return kUsageError;
  } catch (const UsageError& e) {
    std::cerr << "tprdzvd: " << e.message << "\n\n" << app.help();
    return kUsageError;
  }

  // stdout carries only the `listening on` lines; every log line goes to
  // stderr.
  auto logger = spdlog::stderr_color_mt("tprdzvd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // One descriptor per client: take all the kernel allows before the first
  // connection, and say how many that is.
  absl::StatusOr<tplaunch::FdLimit> fd_limit = tplaunch::RaiseFdLimit();
  if (fd_limit.ok()) {
    spdlog::info("descriptor limit: {} (hard limit {})", fd_limit->soft,
                 fd_limit->hard);
  } else {
    spdlog::warn("cannot raise the descriptor limit: {}",
                 std::string(fd_limit.status().message()));
  }

  // Block the shutdown signals before any thread exists, so every gRPC thread
  // inherits the mask and only sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<tplaunch::RendezvousServer>> server =
      tplaunch::StartRendezvousServer(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", std::string(server.status().message()));
    return absl::IsInvalidArgument(server.status()) ? kUsageError
                                                    : kRuntimeError;
  }
  std::cout << "listening on " << (*server)->address() << std::endl;
  if (options.torch_store_port >= 0) {
    std::cout << "torch store listening on " << (*server)->torch_store_address()
              << std::endl;
  }

  if (options.http_port >= 0) {
    std::cout << "http listening on " << (*server)->http_address() << std::endl;
  }

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  spdlog::info("received {}, shutting down", strsignal(signal_number));
  (*server)->Shutdown();
  spdlog::info("shut down cleanly");
  return 0;
}
