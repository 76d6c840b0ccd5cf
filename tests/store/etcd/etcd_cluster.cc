#include "tests/store/etcd/etcd_cluster.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/etcd/gen/rpc.grpc.pb.h"
#include "tests/testing/files.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace testing {
namespace {

// A port the kernel reports free now. Another process may take it before etcd
// binds it; Start then fails and is tried again with new ports.
int PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string Url(int port) { return absl::StrCat("http://127.0.0.1:", port); }

// The member's id and its leader's id, or nullopt when it does not answer.
struct MemberStatus {
  uint64_t id = 0;
  uint64_t leader = 0;
};
// A probe of one member: a fresh channel (so a member that was restarted is
// not seen through an old connection) and a short deadline.
struct Probe {
  explicit Probe(int port)
      : channel(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                    grpc::InsecureChannelCredentials())) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(2));
  }
  std::shared_ptr<grpc::Channel> channel;
  grpc::ClientContext context;
};

std::optional<MemberStatus> QueryStatus(int port) {
  Probe probe(port);
  auto stub = etcdserverpb::Maintenance::NewStub(probe.channel);
  etcdserverpb::StatusRequest request;
  etcdserverpb::StatusResponse response;
  if (!stub->Status(&probe.context, request, &response).ok()) {
    return std::nullopt;
  }
  return MemberStatus{response.header().member_id(), response.leader()};
}

bool LinearizableReadWorks(int port) {
  Probe probe(port);
  auto stub = etcdserverpb::KV::NewStub(probe.channel);
  etcdserverpb::RangeRequest request;
  request.set_key("/health");
  etcdserverpb::RangeResponse response;
  return stub->Range(&probe.context, request, &response).ok();
}

}  // namespace

EtcdCluster::EtcdCluster(int members, absl::Duration startup_timeout) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Start(members, startup_timeout)) return;
    members_.clear();  // SIGKILLs and reaps what did start.
  }
  FAIL("etcd cluster of " << members << " did not start; last member log:\n"
                          << Log(members - 1));
}

EtcdCluster::~EtcdCluster() = default;

bool EtcdCluster::Start(int members, absl::Duration timeout) {
  dir_ = MakeTempDir();
  client_ports_.clear();
  peer_ports_.clear();
  std::vector<std::string> initial;
  for (int i = 0; i < members; ++i) {
    client_ports_.push_back(PickFreePort());
    peer_ports_.push_back(PickFreePort());
    initial.push_back(absl::StrCat("m", i, "=", Url(peer_ports_[i])));
  }
  const std::string initial_cluster = absl::StrJoin(initial, ",");
  for (int i = 0; i < members; ++i) {
    members_.push_back(std::make_unique<Subprocess>(std::vector<std::string>{
        "/usr/bin/etcd", absl::StrCat("--name=m", i),
        absl::StrCat("--data-dir=", dir_, "/m", i),
        absl::StrCat("--listen-client-urls=", Url(client_ports_[i])),
        absl::StrCat("--advertise-client-urls=", Url(client_ports_[i])),
        absl::StrCat("--listen-peer-urls=", Url(peer_ports_[i])),
        absl::StrCat("--initial-advertise-peer-urls=", Url(peer_ports_[i])),
        absl::StrCat("--initial-cluster=", initial_cluster),
        "--initial-cluster-state=new",
        absl::StrCat("--initial-cluster-token=", dir_), "--logger=zap",
        "--log-outputs=stderr", "--log-level=warn"}));
  }
  const bool up = WaitFor(
      [&] {
        for (int i = 0; i < members; ++i) {
          if (!IsAlive(i)) return true;  // Stop waiting: this attempt failed.
        }
        return Healthy() && LinearizableReadWorks(client_ports_[0]);
      },
      timeout);
  for (int i = 0; i < members; ++i) {
    if (!IsAlive(i)) return false;
  }
  return up;
}

std::vector<Endpoint> EtcdCluster::endpoints() const {
  std::vector<Endpoint> endpoints;
  for (int port : client_ports_) endpoints.push_back({"127.0.0.1", port});
  return endpoints;
}

std::string EtcdCluster::EndpointFlag() const {
  std::vector<std::string> parts;
  for (const Endpoint& e : endpoints()) parts.push_back(e.ToString());
  return absl::StrJoin(parts, ",");
}

bool EtcdCluster::Healthy(int ignored) const {
  uint64_t leader = 0;
  bool leader_alive = false;
  for (int i = 0; i < size(); ++i) {
    if (!IsAlive(i) || i == ignored) continue;
    const std::optional<MemberStatus> status = QueryStatus(client_ports_[i]);
    if (!status || status->leader == 0) return false;
    if (leader != 0 && status->leader != leader) return false;
    leader = status->leader;
    if (status->id == leader) leader_alive = true;
  }
  return leader_alive;
}

int EtcdCluster::Leader(absl::Duration timeout, int ignored) const {
  int found = -1;
  WaitFor(
      [&] {
        if (!Healthy(ignored)) return false;
        for (int i = 0; i < size(); ++i) {
          if (!IsAlive(i) || i == ignored) continue;
          const std::optional<MemberStatus> s = QueryStatus(client_ports_[i]);
          if (s && s->id == s->leader) {
            found = i;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

void EtcdCluster::Signal(int i, int signo) { members_[i]->Kill(signo); }

bool EtcdCluster::IsAlive(int i) const {
  return i < static_cast<int>(members_.size()) &&
         testing::IsAlive(members_[i]->pid());
}

std::string EtcdCluster::Log(int i) const {
  if (i < 0 || i >= static_cast<int>(members_.size())) return "";
  return members_[i]->err();
}

}  // namespace testing
}  // namespace tplaunch
