// A KvTable and one TorchStoreListener in a process, for tests and benchmarks
// that need a TCPStore server without the gRPC side. Not installed.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>
#include <string>

#include "rendezvous/torch_store/listener.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "store/kv_table.h"

int main(int argc, char** argv) {
  CLI::App app{"torch_store_test_server: a TCPStore-protocol server for tests",
               "torch_store_test_server"};
  tplaunch::TorchStoreListenerOptions options;
  double stalled_seconds = 60;
  std::string log_level = "info";
  app.add_option("--host", options.host, "Address to bind")
      ->capture_default_str();
  app.add_option("--port", options.port, "Port; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--job", options.job, "KvTable job of every key")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Loop threads (0: auto)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--stalled-request-timeout", stalled_seconds,
                 "Seconds a half-received request may stall")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--log-level", log_level, "Log level (stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "torch_store_test_server: " << e.what() << "\n\n"
              << app.help();
    return 2;
  }
  options.stalled_request_timeout = absl::Seconds(stalled_seconds);

  spdlog::set_default_logger(
      spdlog::stderr_color_mt("torch_store_test_server"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  tplaunch::KvTable table;
  auto listener = tplaunch::StartTorchStoreListener(options, &table);
  if (!listener.ok()) {
    spdlog::error("cannot start: {}", std::string(listener.status().message()));
    return 1;
  }
  std::cout << "torch store listening on " << (*listener)->address()
            << std::endl;
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  (*listener)->Shutdown();
  table.Shutdown();
  return 0;
}
