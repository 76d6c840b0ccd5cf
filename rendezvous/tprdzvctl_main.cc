// tprdzvctl: the command-line client of tprdzvd, for people debugging live jobs
// ("what is in the store for job X, who is missing").
//
// Exit codes: 0 success; 1 the operation failed (the daemon's error on stderr);
// 2 a command-line mistake (with a usage message).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/duration.h"
#include "common/read_file.h"
#include "common/token_file.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/store.h"

namespace tplaunch {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// A command-line mistake found after CLI11's own parsing (bad duration,
// unreadable file, missing --job): reported like CLI11's errors, with exit
// code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Flags {
  std::string endpoint;
  std::string token_file;
  std::string job;
  std::string timeout = "30s";
  std::string connect_timeout = "10s";
  std::string rpc_timeout = "30s";
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
};

struct Args {
  std::string key;
  std::string value;
  std::string expected;
  std::string desired;
  std::string prefix;
  int64_t delta = 1;
  std::vector<std::string> keys;
};

// common/duration.h's rule (a bare number is seconds), but never negative.
absl::Duration DurationOrThrow(const std::string& name,
                               const std::string& text) {
  absl::StatusOr<absl::Duration> duration = ParseDurationFlag(text);
  if (!duration.ok()) {
    throw UsageError(absl::StrCat(name, ": '", text,
                                  "' is not a duration (e.g. 30s, 500ms, 2m)"));
  }
  if (*duration < absl::ZeroDuration()) {
    throw UsageError(absl::StrCat(name, ": '", text, "' is negative"));
  }
  return *duration;
}

std::string ReadFileOrThrow(const char* flag, const std::string& path) {
  absl::StatusOr<std::string> contents =
      ReadFileCapped(path, flag, kMaxCredentialFileBytes);
  if (!contents.ok())
    throw UsageError(std::string(contents.status().message()));
  return *std::move(contents);
}

// "-" reads the value from stdin, so binary values need no shell quoting.
std::string ValueArg(const std::string& value) {
  if (value != "-") return value;
  std::ostringstream in;
  in << std::cin.rdbuf();
  return in.str();
}

GrpcStoreOptions MakeOptions(const Flags& flags) {
  GrpcStoreOptions options;
  options.job = flags.job;
  const char* env_token = std::getenv(kRdzvTokenVariable);
  absl::StatusOr<std::string> token = ResolveToken(
      flags.token_file, env_token == nullptr
                            ? std::nullopt
                            : std::optional<std::string>(env_token));
  if (!token.ok()) throw UsageError(std::string(token.status().message()));
  options.token = *token;
  if (!flags.tls_ca.empty()) {
    options.tls_root_certs_pem = ReadFileOrThrow("--tls-ca", flags.tls_ca);
  }
  if (!flags.tls_cert.empty()) {
    options.tls_client_cert_pem = ReadFileOrThrow("--tls-cert", flags.tls_cert);
  }
  if (!flags.tls_key.empty()) {
    options.tls_client_key_pem = ReadFileOrThrow("--tls-key", flags.tls_key);
  }
  options.tls_server_name = flags.tls_server_name;
  options.connect_timeout =
      DurationOrThrow("--connect-timeout", flags.connect_timeout);
  options.rpc_timeout = DurationOrThrow("--rpc-timeout", flags.rpc_timeout);
  // A command-line probe reports a daemon that went away at once instead of
  // waiting for it to come back.
  options.wait_for_reconnect = false;
  return options;
}

void PrintLine(const std::string& text) { std::cout << text << "\n"; }

void PrintRaw(const std::string& bytes) {
  std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs the chosen subcommand. Returns the operation's status; output goes to
// stdout.
using Operation = std::function<absl::Status(Store&)>;
using AdminOperation = std::function<absl::Status(const GrpcStoreOptions&)>;

absl::Status RunOnStore(const GrpcStoreOptions& options, const Operation& op) {
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectGrpcStore(options);
  if (!store.ok()) return store.status();
  return op(**store);
}

int Main(int argc, char** argv) {
  CLI::App app{
      "tprdzvctl: read and edit the keys of a job in a tprdzvd rendezvous "
      "daemon.\n"
      "Exit codes: 0 success, 1 the operation failed, 2 command-line mistake.",
      "tprdzvctl"};
  app.require_subcommand(1);
  Flags flags;
  Args args;
  app.add_option("--endpoint", flags.endpoint,
                 "Daemon address: HOST:PORT, [IPV6]:PORT or HOST (port 29400)")
      ->envname("TPLAUNCH_RDZV_ENDPOINT")
      ->required();
  app.add_option(
      "--token-file", flags.token_file,
      "File holding the daemon's token (default: env TPLAUNCH_RDZV_TOKEN)");
  app.add_option("--job", flags.job, "Job (run id) whose keys to use");
  app.add_option("--timeout", flags.timeout,
                 "How long get, wait and multi-key reads wait for keys")
      ->capture_default_str();
  app.add_option("--connect-timeout", flags.connect_timeout,
                 "How long to keep trying to reach the daemon")
      ->capture_default_str();
  app.add_option("--rpc-timeout", flags.rpc_timeout,
                 "Deadline of calls that never block")
      ->capture_default_str();
  app.add_option("--tls-ca", flags.tls_ca,
                 "PEM root certificates; switches to TLS");
  app.add_option("--tls-cert", flags.tls_cert, "PEM client certificate chain");
  app.add_option("--tls-key", flags.tls_key, "PEM client private key");
  app.add_option(
      "--tls-server-name", flags.tls_server_name,
      "Name to verify in the daemon's certificate (default: the host)");

  // Each subcommand: its parser, whether it needs --job, and what it does.
  struct Command {
    CLI::App* app;
    bool needs_job;
    Operation on_store;        // Set for store commands.
    AdminOperation on_daemon;  // Set for daemon-wide commands.
  };
  std::vector<Command> commands;
  auto store_command = [&](const std::string& name, const std::string& help,
                           Operation op) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands.push_back({sub, true, std::move(op), nullptr});
    return sub;
  };
  absl::Duration wait_timeout;

  store_command(
      "get", "Wait up to --timeout for KEY and print its value (raw bytes)",
      [&](Store& store) {
        absl::StatusOr<std::string> value = store.Get(args.key, wait_timeout);
        if (!value.ok()) return value.status();
        PrintRaw(*value);
        return absl::OkStatus();
      })
      ->add_option("KEY", args.key)
      ->required();
  store_command("try-get", "Print KEY's value (raw bytes) if it exists now",
                [&](Store& store) {
                  absl::StatusOr<std::string> value = store.TryGet(args.key);
                  if (!value.ok()) return value.status();
                  PrintRaw(*value);
                  return absl::OkStatus();
                })
      ->add_option("KEY", args.key)
      ->required();
  {
    CLI::App* set =
        store_command("set", "Set KEY to VALUE ('-' reads VALUE from stdin)",
                      [&](Store& store) {
                        return store.Set(args.key, ValueArg(args.value));
                      });
    set->add_option("KEY", args.key)->required();
    set->add_option("VALUE", args.value)->required();
  }
  {
    CLI::App* append = store_command(
        "append", "Append VALUE to KEY ('-' reads VALUE from stdin)",
        [&](Store& store) {
          return store.Append(args.key, ValueArg(args.value));
        });
    append->add_option("KEY", args.key)->required();
    append->add_option("VALUE", args.value)->required();
  }
  {
    CLI::App* add = store_command(
        "add",
        "Add DELTA (default 1) to the integer at KEY; print the new value",
        [&](Store& store) {
          absl::StatusOr<int64_t> value = store.Add(args.key, args.delta);
          if (!value.ok()) return value.status();
          PrintLine(absl::StrCat(*value));
          return absl::OkStatus();
        });
    add->add_option("KEY", args.key)->required();
    add->add_option("DELTA", args.delta);
  }
  {
    CLI::App* cas =
        store_command("compare-set",
                      "TCPStore compare_set: set KEY to DESIRED if it holds "
                      "EXPECTED; print the "
                      "value now stored",
                      [&](Store& store) {
                        absl::StatusOr<std::string> value = store.CompareSet(
                            args.key, args.expected, args.desired);
                        if (!value.ok()) return value.status();
                        PrintRaw(*value);
                        return absl::OkStatus();
                      });
    cas->add_option("KEY", args.key)->required();
    cas->add_option("EXPECTED", args.expected)->required();
    cas->add_option("DESIRED", args.desired)->required();
  }
  store_command(
      "wait", "Wait up to --timeout until every KEY exists",
      [&](Store& store) { return store.Wait(args.keys, wait_timeout); })
      ->add_option("KEY", args.keys)
      ->required();
  store_command("check", "Print true if every KEY exists now, else false",
                [&](Store& store) {
                  absl::StatusOr<bool> all = store.Check(args.keys);
                  if (!all.ok()) return all.status();
                  PrintLine(*all ? "true" : "false");
                  return absl::OkStatus();
                })
      ->add_option("KEY", args.keys)
      ->required();
  store_command("keys",
                "List the job's keys starting with PREFIX, one per line",
                [&](Store& store) {
                  absl::StatusOr<std::vector<std::string>> keys =
                      store.ListKeys(args.prefix);
                  if (!keys.ok()) return keys.status();
                  for (const std::string& key : *keys) PrintLine(key);
                  return absl::OkStatus();
                })
      ->add_option("PREFIX", args.prefix);
  store_command("delete-key", "Delete KEY; print whether it existed",
                [&](Store& store) {
                  absl::StatusOr<bool> deleted = store.DeleteKey(args.key);
                  if (!deleted.ok()) return deleted.status();
                  PrintLine(*deleted ? "true" : "false");
                  return absl::OkStatus();
                })
      ->add_option("KEY", args.key)
      ->required();
  store_command("num-keys", "Print the number of keys in the job",
                [&](Store& store) {
                  absl::StatusOr<int64_t> n = store.NumKeys();
                  if (!n.ok()) return n.status();
                  PrintLine(absl::StrCat(*n));
                  return absl::OkStatus();
                });

  commands.push_back(
      {app.add_subcommand(
           "delete-job",
           "Delete every key of the job; print how many there were"),
       true, nullptr, [](const GrpcStoreOptions& options) {
         absl::StatusOr<int64_t> deleted = DeleteRendezvousJob(options);
         if (!deleted.ok()) return deleted.status();
         PrintLine(absl::StrCat(*deleted));
         return absl::OkStatus();
       }});
  commands.push_back(
      {app.add_subcommand("stats", "Print the daemon's counters as JSON"),
       false, nullptr, [](const GrpcStoreOptions& options) {
         absl::StatusOr<RendezvousStats> stats = GetRendezvousStats(options);
         if (!stats.ok()) return stats.status();
         PrintLine(absl::StrCat(
             "{\"jobs\": ", stats->jobs, ", \"keys\": ", stats->keys,
             ", \"waiters\": ", stats->waiters, ", \"calls\": ", stats->calls,
             ", \"incarnation\": \"", stats->incarnation, "\"}"));
         return absl::OkStatus();
       }});
  commands.push_back(
      {app.add_subcommand("health", "Print SERVING if the daemon is healthy"),
       false, nullptr, [](const GrpcStoreOptions& options) {
         absl::Status status = CheckRendezvousHealth(options);
         if (!status.ok()) return status;
         PrintLine("SERVING");
         return absl::OkStatus();
       }});

  const Command* chosen = nullptr;
  GrpcStoreOptions options;
  try {
    app.parse(argc, argv);
    for (const Command& command : commands) {
      if (command.app->parsed()) chosen = &command;
    }
    if (chosen->needs_job && flags.job.empty()) {
      throw UsageError(absl::StrCat("'", chosen->app->get_name(),
                                    "' needs --job (the run id)"));
    }
    absl::StatusOr<Endpoint> endpoint =
        ParseEndpoint(flags.endpoint, kDefaultRendezvousPort);
    if (!endpoint.ok()) {
      throw UsageError(
          absl::StrCat("--endpoint: ", endpoint.status().message()));
    }
    if (flags.tls_cert.empty() != flags.tls_key.empty()) {
      throw UsageError("--tls-cert and --tls-key go together");
    }
    if (!flags.tls_cert.empty() && flags.tls_ca.empty()) {
      throw UsageError("--tls-cert needs --tls-ca to verify the daemon");
    }
    wait_timeout = DurationOrThrow("--timeout", flags.timeout);
    options = MakeOptions(flags);
    options.endpoint = *std::move(endpoint);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e);  // --help.
    }
    std::cerr << "tprdzvctl: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "tprdzvctl: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  }

  absl::Status status = chosen->on_store ? RunOnStore(options, chosen->on_store)
                                         : chosen->on_daemon(options);
  std::cout.flush();
  if (status.ok()) return kExitOk;
  std::cerr << "tprdzvctl " << chosen->app->get_name() << ": "
            << status.ToString() << "\n";
  return kExitFailed;
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) { return tplaunch::Main(argc, argv); }
