#include "rendezvous/http/http_server.h"

#include <httplib.h>
#include <openssl/pem.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "store/endpoint.h"

namespace tplaunch {
namespace {

// The PEM certificate and key as the objects SSLServer takes (it copies what
// it needs into its SSL_CTX).
absl::StatusOr<std::unique_ptr<httplib::Server>> NewServer(
    const HttpServerOptions& options) {
  if (options.tls_cert_pem.empty()) return std::make_unique<httplib::Server>();
  BIO* cert_bio =
      BIO_new_mem_buf(options.tls_cert_pem.data(),
                      static_cast<int>(options.tls_cert_pem.size()));
  BIO* key_bio = BIO_new_mem_buf(options.tls_key_pem.data(),
                                 static_cast<int>(options.tls_key_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO_free(key_bio);
  std::unique_ptr<httplib::SSLServer> server;
  if (cert != nullptr && key != nullptr) {
    server = std::make_unique<httplib::SSLServer>(cert, key);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  if (server == nullptr || !server->is_valid()) {
    return absl::InvalidArgumentError(
        "HTTP: the TLS certificate or key is not usable PEM");
  }
  return std::unique_ptr<httplib::Server>(std::move(server));
}

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(std::unique_ptr<httplib::Server> server, int port,
                 std::string address)
      : server_(std::move(server)), port_(port), address_(std::move(address)) {
    thread_ = std::thread([this] {
      server_->listen_after_bind();
      returned_ = true;
    });
    // cpp-httplib's stop() does nothing before the accept loop runs, so a
    // Shutdown right after the start would never end: wait for the loop
    // (microseconds; bounded in case it failed at once).
    for (int i = 0; i < 5000 && !server_->is_running() && !returned_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~HttpServerImpl() override { Shutdown(); }

  int port() const override { return port_; }
  std::string address() const override { return address_; }
  void Shutdown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }

 private:
  const std::unique_ptr<httplib::Server> server_;
  const int port_;
  const std::string address_;
  std::atomic<bool> returned_{false};
  std::mutex mu_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(
    const HttpServerOptions& options, LiveSources sources) {
  absl::StatusOr<std::unique_ptr<httplib::Server>> made = NewServer(options);
  if (!made.ok()) return made.status();
  std::unique_ptr<httplib::Server> server = *std::move(made);
  const int threads = std::max(1, options.threads);
  server->new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  const int64_t io_us = absl::ToInt64Microseconds(options.io_timeout);
  server->set_read_timeout(io_us / 1000000, io_us % 1000000);
  server->set_write_timeout(io_us / 1000000, io_us % 1000000);
  server->set_keep_alive_timeout(
      std::max<int64_t>(1, absl::ToInt64Seconds(options.keep_alive_timeout)));
  server->set_payload_max_length(64 * 1024);  // Only GETs are served.
  InstallRoutes(sources, *server);
  std::string host = options.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = options.port;
  if (port == 0) {
    port = server->bind_to_any_port(host);
  } else if (!server->bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("HTTP: cannot bind ", JoinHostPort(host, options.port),
                     " (address in use, or not an address of this host?)"));
  }
  return std::unique_ptr<HttpServer>(
      new HttpServerImpl(std::move(server), port, JoinHostPort(host, port)));
}

}  // namespace tplaunch
