// tcpstore_load: drives a TCPStore-protocol server (PyTorch's own, or
// tprdzvd's listener) from one process over many nonblocking connections, so
// that both servers meet exactly the same client. Speaks the PyTorch 1.x
// dialect (the one Debian's PyTorch 1.13 server understands) through the
// request encoder of rendezvous/torch_store. Prints one JSON object.
//
//   --mode ops:  --clients C connections, each a closed loop of one operation
//                for --seconds after --warmup-seconds: `get` is what PyTorch's
//                client does for store.get (WAIT, then GET: two round trips),
//                `add` one ADD. Per-operation latency and operations/s.
//   --mode rdzv: --ranks N connections, each one simulated rank, connecting
//                (at most --connect-window connects in flight) and then running
//                --pattern nccl (ADD to a counter; rank 0 SETs a 128-byte id;
//                every rank does a blocking get of it) or gloo (every rank SETs
//                its 64-byte address, then does a blocking get of every rank's
//                address). Time from the first connect to the last rank done.
//
// Connections spread over 127.0.0.x source addresses when there are more than
// fit in one address's ephemeral port range, and close with RST (SO_LINGER 0)
// so that back-to-back runs leave no TIME_WAIT behind.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/bench_util.h"
#include "rendezvous/torch_store/encoder.h"
#include "rendezvous/torch_store/protocol.h"

namespace tplaunch {
namespace {

using Clock = std::chrono::steady_clock;
using torch_store::Dialect;
using torch_store::Op;
using torch_store::Request;

enum class Reply : uint8_t { kU8, kI64, kBlob };
enum class Pattern : uint8_t { kNccl, kGloo, kGet, kAdd };

struct Options {
  std::string mode = "ops";
  std::string host = "127.0.0.1";
  int port = 0;
  std::string op = "get";
  int clients = 1;
  double seconds = 2;
  double warmup_seconds = 0.3;
  std::string pattern = "nccl";
  int ranks = 1024;
  int connect_window = 512;
  int ports_per_source = 1000;
  double timeout_s = 120;
  std::string
      prefix;  // Prepended to every key, so runs on one server never meet.
};

struct Conn {
  int fd = -1;
  int rank = 0;
  bool connected = false;
  bool done = false;
  int step = 0;
  int j = 0;  // gloo: the rank whose address is being read.
  std::string out;
  size_t out_offset = 0;
  std::string in;
  std::deque<Reply> pending;
  Clock::time_point op_start;
  bool out_armed = false;
  bool answered = false;  // A reply has arrived: the server accepted it.
};

class Load {
 public:
  explicit Load(const Options& options) : options_(options) {}

  int Run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return Fail("epoll_create1", errno);
    if (options_.mode == "ops") return RunOps();
    if (options_.mode == "rdzv") return RunRdzv();
    std::fprintf(stderr, "tcpstore_load: unknown --mode %s\n",
                 options_.mode.c_str());
    return 2;
  }

 private:
  int Fail(const char* what, int error) {
    std::fprintf(stderr, "tcpstore_load: %s: %s\n", what, std::strerror(error));
    return 1;
  }

  // Starts a nonblocking connect for connection i.
  bool StartConnect(Conn* conn, int i, int total) {
    conn->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (conn->fd < 0) {
      error_ = absl::StrCat("socket: ", std::strerror(errno));
      return false;
    }
    int one = 1;
    setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (total > options_.ports_per_source) {
      setsockopt(conn->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                 sizeof(one));
      sockaddr_in source = {};
      source.sin_family = AF_INET;
      source.sin_addr.s_addr =
          htonl(0x7F000000u + 2 + i / options_.ports_per_source);
      if (bind(conn->fd, reinterpret_cast<sockaddr*>(&source),
               sizeof(source)) != 0) {
        error_ = absl::StrCat("bind source: ", std::strerror(errno));
        return false;
      }
    }
    sockaddr_in server = {};
    server.sin_family = AF_INET;
    server.sin_port = htons(options_.port);
    inet_pton(AF_INET, options_.host.c_str(), &server.sin_addr);
    if (connect(conn->fd, reinterpret_cast<sockaddr*>(&server),
                sizeof(server)) != 0 &&
        errno != EINPROGRESS) {
      error_ = absl::StrCat("connect #", i, ": ", std::strerror(errno));
      return false;
    }
    epoll_event event = {};
    event.events = EPOLLOUT | EPOLLIN;
    event.data.ptr = conn;
    conn->out_armed = true;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, conn->fd, &event);
    return true;
  }

  void Send(Conn* conn, const Request& request, bool reply, Reply kind) {
    conn->out += torch_store::EncodeRequest(Dialect::kV1, request);
    if (reply) conn->pending.push_back(kind);
    ++requests_;
  }

  void SendKeyOp(Conn* conn, Op op, const std::string& key, Reply kind) {
    Request request;
    request.op = op;
    request.keys = {key};
    Send(conn, request, true, kind);
  }

  void SendSet(Conn* conn, const std::string& key, const std::string& value) {
    Request request;
    request.op = Op::kSet;
    request.keys = {key};
    request.values = {value};
    Send(conn, request, false, Reply::kU8);
  }

  void SendAdd(Conn* conn, const std::string& key) {
    Request request;
    request.op = Op::kAdd;
    request.keys = {key};
    request.i64 = 1;
    Send(conn, request, true, Reply::kI64);
  }

  // Writes what is queued; arms EPOLLOUT only while something is left.
  bool Flush(Conn* conn) {
    while (conn->out_offset < conn->out.size()) {
      const ssize_t n = send(conn->fd, conn->out.data() + conn->out_offset,
                             conn->out.size() - conn->out_offset, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        error_ = absl::StrCat("send (rank ", conn->rank,
                              "): ", std::strerror(errno));
        return false;
      }
      conn->out_offset += n;
    }
    if (conn->out_offset == conn->out.size()) {
      conn->out.clear();
      conn->out_offset = 0;
    }
    const bool want = !conn->out.empty();
    if (want != conn->out_armed) {
      epoll_event event = {};
      event.events = EPOLLIN | (want ? EPOLLOUT : 0);
      event.data.ptr = conn;
      epoll_ctl(epoll_, EPOLL_CTL_MOD, conn->fd, &event);
      conn->out_armed = want;
    }
    return true;
  }

  // The next request(s) of conn's pattern after a reply (or at start).
  void Advance(Conn* conn, const std::string& blob) {
    switch (pattern_) {
      case Pattern::kNccl:
        if (conn->step == 0) {
          SendAdd(conn, Key("count"));
          conn->step = 1;
        } else if (conn->step == 1) {
          if (conn->rank == 0) SendSet(conn, Key("id"), std::string(128, 'i'));
          SendKeyOp(conn, Op::kWait, Key("id"), Reply::kU8);
          conn->step = 2;
        } else if (conn->step == 2) {
          SendKeyOp(conn, Op::kGet, Key("id"), Reply::kBlob);
          conn->step = 3;
        } else {
          if (blob.size() != 128) bad_values_++;
          Finish(conn);
        }
        break;
      case Pattern::kGloo:
        if (conn->step == 0) {
          SendSet(conn, Key(absl::StrCat("addr/", conn->rank)),
                  std::string(64, 'a'));
          conn->j = 0;
          SendKeyOp(conn, Op::kWait, Key(absl::StrCat("addr/", conn->j)),
                    Reply::kU8);
          conn->step = 2;
        } else if (conn->step == 2) {
          SendKeyOp(conn, Op::kGet, Key(absl::StrCat("addr/", conn->j)),
                    Reply::kBlob);
          conn->step = 3;
        } else {
          if (blob.size() != 64) bad_values_++;
          if (++conn->j == options_.ranks) {
            Finish(conn);
          } else {
            SendKeyOp(conn, Op::kWait, Key(absl::StrCat("addr/", conn->j)),
                      Reply::kU8);
            conn->step = 2;
          }
        }
        break;
      case Pattern::kGet:
      case Pattern::kAdd: {
        const Clock::time_point now = Clock::now();
        if (conn->step != 0) {
          // An operation completed (get: its GET reply; add: its reply).
          const bool complete = pattern_ == Pattern::kAdd || conn->step == 2;
          if (complete) {
            ++completed_ops_;
            if (pattern_ == Pattern::kGet && blob.size() != 64) bad_values_++;
            if (now >= measure_start_ && now < measure_end_) {
              latencies_us_.push_back(std::chrono::duration<double, std::micro>(
                                          now - conn->op_start)
                                          .count());
            }
            if (now >= measure_end_) {
              Finish(conn);
              return;
            }
          }
        }
        if (pattern_ == Pattern::kAdd) {
          conn->op_start = now;
          SendAdd(conn, absl::StrCat("counter", conn->rank % 8));
          conn->step = 1;
        } else if (conn->step != 1) {
          conn->op_start = now;
          SendKeyOp(conn, Op::kWait, "existing", Reply::kU8);
          conn->step = 1;
        } else {
          SendKeyOp(conn, Op::kGet, "existing", Reply::kBlob);
          conn->step = 2;
        }
        break;
      }
    }
  }

  std::string Key(const std::string& key) const {
    return options_.prefix + key;
  }

  void Finish(Conn* conn) {
    conn->done = true;
    ++done_;
    last_done_ = Clock::now();
  }

  // Parses complete replies from conn->in; false on a protocol error.
  bool OnReadable(Conn* conn) {
    char buffer[65536];
    for (;;) {
      const ssize_t n = recv(conn->fd, buffer, sizeof(buffer), 0);
      if (n > 0) {
        conn->in.append(buffer, n);
        if (n < static_cast<ssize_t>(sizeof(buffer))) break;
        continue;
      }
      if (n == 0) {
        error_ =
            absl::StrCat("server closed the connection of rank ", conn->rank);
        return false;
      }
      if (errno == EAGAIN) break;
      error_ =
          absl::StrCat("recv (rank ", conn->rank, "): ", std::strerror(errno));
      return false;
    }
    size_t at = 0;
    while (!conn->pending.empty() && !conn->done) {
      const Reply kind = conn->pending.front();
      std::string blob;
      const size_t left = conn->in.size() - at;
      if (kind == Reply::kU8) {
        if (left < 1) break;
        at += 1;
      } else if (kind == Reply::kI64) {
        if (left < 8) break;
        at += 8;
      } else {
        if (left < 8) break;
        uint64_t size = 0;
        std::memcpy(&size, conn->in.data() + at, 8);
        if (left < 8 + size) break;
        blob.assign(conn->in.data() + at + 8, size);
        at += 8 + size;
      }
      conn->pending.pop_front();
      if (!conn->answered) {
        conn->answered = true;
        ++answered_;
      }
      if (conn->pending.empty()) Advance(conn, blob);
    }
    conn->in.erase(0, at);
    return Flush(conn);
  }

  // conn's connect() has completed (its first event): false, with error_ set,
  // if it failed (naming the rank when name_rank); else marks conn connected
  // and counts it (all_connected_ when it is the last of total).
  bool Connected(Conn* conn, int total, bool name_rank) {
    int error = 0;
    socklen_t size = sizeof(error);
    getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) {
      error_ = name_rank ? absl::StrCat("connect (rank ", conn->rank,
                                        "): ", std::strerror(error))
                         : absl::StrCat("connect: ", std::strerror(error));
      return false;
    }
    conn->connected = true;
    if (++connected_ == total) all_connected_ = Clock::now();
    return true;
  }

  // Runs the event loop until every connection is done, or the deadline.
  bool Loop(Clock::time_point deadline, int total) {
    std::vector<epoll_event> events(1024);
    while (done_ < total) {
      if (!error_.empty()) return false;
      if (Clock::now() > deadline) {
        timed_out_ = true;
        return false;
      }
      // Keep at most connect_window connections between connect() and their
      // first reply: a connect() that has completed on this side may still
      // sit in the server's accept queue, and overflowing that queue costs a
      // one-second SYN retransmission that would measure the kernel, not the
      // server.
      while (next_connect_ < total &&
             next_connect_ - answered_ < options_.connect_window) {
        Conn* conn = &conns_[next_connect_];
        conn->rank = next_connect_;
        if (!StartConnect(conn, next_connect_, total)) return false;
        ++next_connect_;
      }
      const int n = epoll_wait(epoll_, events.data(), events.size(), 100);
      for (int e = 0; e < n; ++e) {
        Conn* conn = static_cast<Conn*>(events[e].data.ptr);
        if (!conn->connected) {
          if (!Connected(conn, total, /*name_rank=*/true)) return false;
          if (start_on_connect_) Advance(conn, "");
          if (!Flush(conn)) return false;
          continue;
        }
        if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
          if (!OnReadable(conn)) return false;
        } else if (events[e].events & EPOLLOUT) {
          if (!Flush(conn)) return false;
        }
      }
    }
    return true;
  }

  void CloseAll() {
    linger hard = {1, 0};
    for (Conn& conn : conns_) {
      if (conn.fd < 0) continue;
      setsockopt(conn.fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
      close(conn.fd);
      conn.fd = -1;
    }
  }

  int RunOps() {
    if (options_.op == "get") {
      pattern_ = Pattern::kGet;
    } else if (options_.op == "add") {
      pattern_ = Pattern::kAdd;
    } else {
      std::fprintf(stderr, "tcpstore_load: --op must be get or add\n");
      return 2;
    }
    // Connection 0 seeds the key first (its GET reply proves the SET landed).
    const int total = options_.clients;
    conns_.resize(total);
    start_on_connect_ = false;
    // Connect everyone (no operations yet).
    const Clock::time_point deadline =
        Clock::now() + bench::Seconds(options_.timeout_s);
    std::vector<epoll_event> events(1024);
    while (connected_ < total) {
      while (next_connect_ < total) {
        conns_[next_connect_].rank = next_connect_;
        if (!StartConnect(&conns_[next_connect_], next_connect_, total))
          return Report(false);
        ++next_connect_;
      }
      const int n = epoll_wait(epoll_, events.data(), events.size(), 100);
      for (int e = 0; e < n; ++e) {
        Conn* conn = static_cast<Conn*>(events[e].data.ptr);
        if (conn->connected) continue;
        if (!Connected(conn, total, /*name_rank=*/false)) return Report(false);
      }
      if (Clock::now() > deadline) {
        timed_out_ = true;
        return Report(false);
      }
    }
    SendSet(&conns_[0], "existing", std::string(64, 'v'));
    SendKeyOp(&conns_[0], Op::kGet, "existing", Reply::kBlob);
    if (!Flush(&conns_[0])) return Report(false);
    // Wait for the seed's reply by hand, outside Advance (connection 0's step
    // stays 0), then start everyone, connection 0 included.
    while (!conns_[0].pending.empty()) {
      const int n = epoll_wait(epoll_, events.data(), events.size(), 100);
      for (int e = 0; e < n; ++e) {
        if (events[e].data.ptr != &conns_[0]) continue;
        char buffer[256];
        const ssize_t got = recv(conns_[0].fd, buffer, sizeof(buffer), 0);
        if (got > 0) conns_[0].in.append(buffer, got);
      }
      if (conns_[0].in.size() >= 8 + 64) {
        conns_[0].in.clear();
        conns_[0].pending.clear();
      }
      if (Clock::now() > deadline) {
        timed_out_ = true;
        return Report(false);
      }
    }
    requests_ = 0;
    const Clock::time_point begin = Clock::now();
    measure_start_ = begin + bench::Seconds(options_.warmup_seconds);
    measure_end_ = measure_start_ + bench::Seconds(options_.seconds);
    for (Conn& conn : conns_) {
      Advance(&conn, "");
      if (!Flush(&conn)) return Report(false);
    }
    const bool ok = Loop(deadline, total);
    return Report(ok);
  }

  int RunRdzv() {
    if (options_.pattern == "nccl") {
      pattern_ = Pattern::kNccl;
    } else if (options_.pattern == "gloo") {
      pattern_ = Pattern::kGloo;
    } else {
      std::fprintf(stderr, "tcpstore_load: --pattern must be nccl or gloo\n");
      return 2;
    }
    conns_.resize(options_.ranks);
    start_on_connect_ = true;
    begin_ = Clock::now();
    const Clock::time_point deadline =
        begin_ + bench::Seconds(options_.timeout_s);
    const bool ok = Loop(deadline, options_.ranks);
    return Report(ok);
  }

  int Report(bool ok) {
    const Clock::time_point end = Clock::now();
    CloseAll();
    auto seconds = [](Clock::duration d) {
      return std::chrono::duration<double>(d).count();
    };
    std::vector<std::string> fields = {
        absl::StrFormat("\"mode\": \"%s\"", options_.mode),
        absl::StrFormat("\"ok\": %s",
                        ok && bad_values_ == 0 ? "true" : "false"),
        absl::StrFormat("\"timed_out\": %s", timed_out_ ? "true" : "false"),
        absl::StrFormat("\"error\": \"%s\"", error_),
        absl::StrFormat("\"bad_values\": %d", bad_values_),
        absl::StrFormat("\"requests\": %d", requests_),
        absl::StrFormat("\"connected\": %d", connected_),
        absl::StrFormat("\"done\": %d", done_),
    };
    if (options_.mode == "rdzv") {
      fields.push_back(
          absl::StrFormat("\"pattern\": \"%s\"", options_.pattern));
      fields.push_back(absl::StrFormat("\"ranks\": %d", options_.ranks));
      fields.push_back(absl::StrFormat(
          "\"seconds\": %.4f", seconds((ok ? last_done_ : end) - begin_)));
      fields.push_back(absl::StrFormat("\"connect_seconds\": %.4f",
                                       connected_ == options_.ranks
                                           ? seconds(all_connected_ - begin_)
                                           : -1.0));
    } else {
      std::sort(latencies_us_.begin(), latencies_us_.end());
      fields.push_back(absl::StrFormat("\"op\": \"%s\"", options_.op));
      fields.push_back(absl::StrFormat("\"clients\": %d", options_.clients));
      fields.push_back(
          absl::StrFormat("\"measured_ops\": %d", latencies_us_.size()));
      fields.push_back(absl::StrFormat("\"total_ops\": %d", completed_ops_));
      fields.push_back(absl::StrFormat(
          "\"ops_per_s\": %.1f", latencies_us_.size() / options_.seconds));
      fields.push_back(absl::StrFormat("\"p50_us\": %.1f",
                                       bench::Quantile(latencies_us_, 0.5)));
      fields.push_back(absl::StrFormat("\"p99_us\": %.1f",
                                       bench::Quantile(latencies_us_, 0.99)));
    }
    std::printf("{%s}\n", absl::StrJoin(fields, ", ").c_str());
    return ok && bad_values_ == 0 ? 0 : 1;
  }

  const Options options_;
  int epoll_ = -1;
  Pattern pattern_ = Pattern::kNccl;
  std::vector<Conn> conns_;
  bool start_on_connect_ = true;
  int next_connect_ = 0;
  int connected_ = 0;
  int answered_ = 0;
  int done_ = 0;
  int bad_values_ = 0;
  int64_t requests_ = 0;
  int64_t completed_ops_ = 0;  // ops mode, warm-up included.
  bool timed_out_ = false;
  std::string error_;
  Clock::time_point begin_, all_connected_, last_done_;
  Clock::time_point measure_start_, measure_end_;
  std::vector<double> latencies_us_;
};

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) {
  tplaunch::Options options;
  CLI::App app{"tcpstore_load: one TCPStore client process, many connections",
               "tcpstore_load"};
  app.add_option("--mode", options.mode, "ops or rdzv")->capture_default_str();
  app.add_option("--host", options.host, "Server IPv4 address")
      ->capture_default_str();
  app.add_option("--port", options.port, "Server port")->required();
  app.add_option("--op", options.op, "ops: get (WAIT+GET) or add")
      ->capture_default_str();
  app.add_option("--clients", options.clients, "ops: connections")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--seconds", options.seconds, "ops: measured seconds")
      ->capture_default_str();
  app.add_option("--warmup-seconds", options.warmup_seconds,
                 "ops: unmeasured seconds first")
      ->capture_default_str();
  app.add_option("--pattern", options.pattern, "rdzv: nccl or gloo")
      ->capture_default_str();
  app.add_option("--ranks", options.ranks, "rdzv: simulated ranks")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--connect-window", options.connect_window,
                 "Connects in flight at most")
      ->capture_default_str();
  app.add_option("--ports-per-source", options.ports_per_source,
                 "Connections per 127.0.0.x source address beyond which "
                 "sources are spread")
      ->capture_default_str();
  app.add_option("--prefix", options.prefix, "rdzv: prefix of every key");
  app.add_option("--timeout", options.timeout_s, "Give up after, seconds")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  tplaunch::bench::RaiseFdLimit();
  tplaunch::Load load(options);
  return load.Run();
}
