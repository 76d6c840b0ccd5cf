// Which store topology each command line gets (pure), and the standalone one
// set up for real: an embedded server on port 0.
#include "launcher/topology/store_topology.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/key_layout.h"
#include "launcher/cli.h"
#include "launcher/host_info.h"
#include "rendezvous/server.h"

namespace tplaunch {
namespace {

LaunchConfig Config(std::vector<std::string> args) {
  args.insert(args.begin(), "tplaunch");
  args.push_back("train.py");
  auto config = ParseCommandLine(args, {});
  REQUIRE(config.ok());
  return *config;
}

bool IsHex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_CASE("no --rdzv-endpoint: an embedded server, loopback, no agent store") {
  auto plan = PlanStoreTopology(Config({"--nproc-per-node", "2"}));
  REQUIRE(plan.ok());
  CHECK(plan->kind == TopologyKind::kEmbeddedServer);
  CHECK_FALSE(plan->multi_node());
  CHECK(plan->agent_store == AgentStoreSource::kNone);
  CHECK(plan->local_addr == "127.0.0.1");
  CHECK(plan->run_id.empty());  // SetUp picks a random one.
  CHECK(plan->token_file.empty());
}

TEST_CASE("standalone keeps --local-addr and --rdzv-id") {
  auto plan = PlanStoreTopology(
      Config({"--standalone", "--local-addr", "10.1.2.3", "--rdzv-id", "j"}));
  REQUIRE(plan.ok());
  CHECK(plan->kind == TopologyKind::kEmbeddedServer);
  CHECK(plan->local_addr == "10.1.2.3");
  CHECK(plan->run_id == "j");
}

TEST_CASE("standalone --torch-store agent uses the embedded listener") {
  auto plan = PlanStoreTopology(Config({"--torch-store", "agent"}));
  REQUIRE(plan.ok());
  CHECK(plan->kind == TopologyKind::kEmbeddedServer);
  CHECK(plan->agent_store == AgentStoreSource::kEmbeddedListener);
}

TEST_CASE("--rdzv-endpoint: a tprdzvd client with the default port") {
  auto plan = PlanStoreTopology(
      Config({"--rdzv-endpoint", "node-a", "--rdzv-id", "job", "--token-file",
              "/etc/tok", "--rdzv-timeout", "45s"}));
  REQUIRE(plan.ok());
  CHECK(plan->kind == TopologyKind::kRemoteDaemon);
  CHECK(plan->multi_node());
  CHECK(plan->rdzv_endpoint == Endpoint{"node-a", kDefaultRendezvousPort});
  CHECK(plan->run_id == "job");
  CHECK(plan->token_file == "/etc/tok");
  CHECK(plan->connect_timeout == absl::Seconds(45));
  // Found by routing towards the endpoint at set-up.
  CHECK(plan->local_addr.empty());
  CHECK(plan->agent_store == AgentStoreSource::kNone);
}

TEST_CASE("--rdzv-endpoint with --torch-store agent uses tprdzvd's listener") {
  auto plan = PlanStoreTopology(Config(
      {"--rdzv-endpoint", "[::1]:7000", "--rdzv-id", "job", "--torch-store",
       "agent", "--torch-store-endpoint", "10.0.0.9:29500"}));
  REQUIRE(plan.ok());
  CHECK(plan->kind == TopologyKind::kRemoteDaemon);
  CHECK(plan->rdzv_endpoint == Endpoint{"::1", 7000});
  CHECK(plan->agent_store == AgentStoreSource::kRemoteListener);
  CHECK(plan->torch_store_listener == Endpoint{"10.0.0.9", 29500});
}

TEST_CASE("standalone set-up: the agent meets itself, workers get the server") {
  auto plan = PlanStoreTopology(Config({"--torch-store", "agent"}));
  REQUIRE(plan.ok());
  auto topology = StoreTopology::SetUp(*plan, TopologyInputs{});
  REQUIRE(topology.ok());
  AgentOptions ao;
  (*topology)->ApplyTo(ao);
  REQUIRE(ao.store != nullptr);
  CHECK_FALSE(ao.multi_node);
  CHECK(ao.run_id.size() == 16);
  CHECK(IsHex(ao.run_id));
  CHECK(ao.worker_rdzv_token.size() == 32);
  CHECK(IsHex(ao.worker_rdzv_token));
  CHECK(ao.worker_rdzv_endpoint.host == "127.0.0.1");
  CHECK(ao.worker_rdzv_endpoint.port > 0);
  CHECK(ao.local_addr == "127.0.0.1");
  REQUIRE(ao.agent_store.has_value());
  CHECK(ao.agent_store->host == "127.0.0.1");
  CHECK(ao.agent_store->port > 0);
  // Empties the (already empty) listener.
  REQUIRE(ao.prepare_agent_store);
  CHECK(ao.prepare_agent_store(0).ok());
  // The MemoryStore works.
  CHECK(ao.store->Set("k", "v").ok());
  CHECK(ao.store->TryGet("k").value_or("") == "v");
}

TEST_CASE("an unreachable tprdzvd fails set-up, naming the endpoint") {
  auto port = PickFreePort("127.0.0.1");  // Nothing listens there.
  REQUIRE(port.ok());
  // is_host=false: otherwise this node, whose address 127.0.0.1 is, would
  // host the free endpoint itself.
  auto plan = PlanStoreTopology(
      Config({"--rdzv-endpoint", "127.0.0.1:" + std::to_string(*port),
              "--rdzv-id", "job", "--local-addr", "127.0.0.1", "--rdzv-timeout",
              "200ms", "--rdzv-conf", "is_host=false"}));
  REQUIRE(plan.ok());
  auto topology = StoreTopology::SetUp(*plan, TopologyInputs{});
  REQUIRE_FALSE(topology.ok());
  CHECK_THAT(std::string(topology.status().message()),
             Catch::Contains("cannot reach the rendezvous endpoint"));
  CHECK_THAT(std::string(topology.status().message()),
             Catch::Contains(std::to_string(*port)));
  // Who should serve it, and why this node does not.
  CHECK_THAT(std::string(topology.status().message()),
             Catch::Contains("node 127.0.0.1 should host it"));
  CHECK_THAT(std::string(topology.status().message()),
             Catch::Contains("or tprdzvd should run there"));
  CHECK_THAT(std::string(topology.status().message()),
             Catch::Contains("is_host=false"));
}

TEST_CASE(
    "--rdzv-endpoint without --torch-store-endpoint: the hosted listener") {
  auto plan = PlanStoreTopology(
      Config({"--rdzv-endpoint", "node-a:7000", "--rdzv-id", "job",
              "--torch-store", "agent", "--rdzv-conf", "is_host=true",
              "--heartbeat-timeout", "7s", "--exit-barrier-timeout", "9s"}));
  REQUIRE(plan.ok());
  CHECK(plan->kind == TopologyKind::kRemoteDaemon);
  CHECK(plan->agent_store == AgentStoreSource::kHostedListener);
  CHECK(plan->is_host == std::optional<bool>(true));
  CHECK(plan->heartbeat_timeout == absl::Seconds(7));
  CHECK(plan->exit_barrier_timeout == absl::Seconds(9));
}

// A plan for a free endpoint on 127.0.0.1 with the agent store.
TopologyPlan LocalPlan(int port, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {
      "--nnodes",        "2",
      "--rdzv-endpoint", "127.0.0.1:" + std::to_string(port),
      "--rdzv-id",       "job",
      "--local-addr",    "127.0.0.1",
      "--rdzv-timeout",  "5s",
      "--torch-store",   "agent"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto plan = PlanStoreTopology(Config(args));
  REQUIRE(plan.ok());
  return *plan;
}

TEST_CASE("a free local endpoint is hosted; the next node joins it") {
  auto port = PickFreePort("127.0.0.1");
  REQUIRE(port.ok());
  auto host = StoreTopology::SetUp(LocalPlan(*port), TopologyInputs{});
  REQUIRE(host.ok());
  CHECK((*host)->hosting());
  AgentOptions ha;
  (*host)->ApplyTo(ha);
  CHECK(ha.multi_node);
  CHECK(ha.run_id == "job");
  // The workers go through this node's store proxy (local_proxy.h).
  CHECK(absl::StartsWith(ha.worker_rdzv_endpoint.ToString(), "unix:/"));
  REQUIRE(ha.agent_store.has_value());
  CHECK(ha.agent_store->host == "127.0.0.1");
  CHECK(ha.agent_store->port > 0);
  // Published for the others.
  CHECK(ha.store->TryGet(HostedServerKey("job")).value_or("") ==
        std::to_string(ha.agent_store->port));

  // The port is taken now: a second node of this host is a client.
  auto client = StoreTopology::SetUp(LocalPlan(*port), TopologyInputs{});
  REQUIRE(client.ok());
  CHECK_FALSE((*client)->hosting());
  AgentOptions ca;
  (*client)->ApplyTo(ca);
  REQUIRE(ca.agent_store.has_value());
  CHECK(*ca.agent_store == *ha.agent_store);
  REQUIRE(ca.prepare_agent_store);
  CHECK(ca.prepare_agent_store(0).ok());
  CHECK(ca.store->Set("k", "v").ok());
  CHECK(ha.store->TryGet("k").value_or("") == "v");

  // is_host=true on a taken port: an error naming the endpoint.
  auto forced = StoreTopology::SetUp(
      LocalPlan(*port, {"--rdzv-conf", "is_host=true"}), TopologyInputs{});
  REQUIRE_FALSE(forced.ok());
  CHECK(absl::IsFailedPrecondition(forced.status()));
  CHECK_THAT(std::string(forced.status().message()),
             Catch::Contains("is_host=true: cannot host the rendezvous "
                             "endpoint 127.0.0.1:" +
                             std::to_string(*port)));
}

TEST_CASE("hosting with --torch-store-endpoint is a clear error") {
  auto port = PickFreePort("127.0.0.1");
  REQUIRE(port.ok());
  auto host = StoreTopology::SetUp(
      LocalPlan(*port, {"--torch-store-endpoint", "127.0.0.1:1"}),
      TopologyInputs{});
  REQUIRE_FALSE(host.ok());
  CHECK(absl::IsFailedPrecondition(host.status()));
  CHECK_THAT(std::string(host.status().message()),
             Catch::Contains("drop --torch-store-endpoint"));
}

TEST_CASE("a hosted endpoint with a token rejects another token, plainly") {
  auto port = PickFreePort("127.0.0.1");
  REQUIRE(port.ok());
  TopologyInputs with_token;
  with_token.token = "right";
  auto host = StoreTopology::SetUp(LocalPlan(*port), with_token);
  REQUIRE(host.ok());
  REQUIRE((*host)->hosting());
  TopologyInputs wrong;
  wrong.token = "wrong";
  auto client = StoreTopology::SetUp(LocalPlan(*port), wrong);
  REQUIRE_FALSE(client.ok());
  CHECK(absl::IsUnauthenticated(client.status()));
  CHECK_THAT(std::string(client.status().message()),
             Catch::Contains("rejected this node's token"));
  CHECK_THAT(std::string(client.status().message()),
             Catch::Contains("the same --token-file"));
  auto right = StoreTopology::SetUp(LocalPlan(*port), with_token);
  CHECK(right.ok());
}

TEST_CASE("--on-daemon-restart: restart by default, ride-through opt-in") {
  auto plan =
      PlanStoreTopology(Config({"--rdzv-endpoint", "h", "--rdzv-id", "job"}));
  REQUIRE(plan.ok());
  CHECK_FALSE(plan->ride_through_daemon_restart);
  plan = PlanStoreTopology(Config({"--rdzv-endpoint", "h", "--rdzv-id", "job",
                                   "--on-daemon-restart", "ride-through"}));
  REQUIRE(plan.ok());
  CHECK(plan->ride_through_daemon_restart);
}

TEST_CASE(
    "--on-daemon-restart ride-through with --torch-store agent on a remote "
    "daemon is a usage error that says why") {
  auto plan = PlanStoreTopology(
      Config({"--rdzv-endpoint", "h", "--rdzv-id", "job", "--torch-store",
              "agent", "--torch-store-endpoint", "h:29500",
              "--on-daemon-restart", "ride-through"}));
  REQUIRE_FALSE(plan.ok());
  CHECK(absl::IsInvalidArgument(plan.status()));
  CHECK_THAT(std::string(plan.status().message()),
             Catch::Contains("--on-daemon-restart ride-through excludes "
                             "--torch-store agent with --rdzv-endpoint"));
  CHECK_THAT(std::string(plan.status().message()),
             Catch::Contains("empties under the running workers"));
  // Standalone has no daemon that could restart under it.
  CHECK(PlanStoreTopology(Config({"--torch-store", "agent",
                                  "--on-daemon-restart", "ride-through"}))
            .ok());
}

// A real daemon on port 0 (the embedded server speaks tprdzvd's protocol and
// sends its incarnation on every reply).
struct Daemon {
  Daemon() {
    ServerOptions so;
    so.port = 0;
    auto started = StartRendezvousServer(so);
    REQUIRE(started.ok());
    server = *std::move(started);
  }
  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(server->port());
  }
  std::unique_ptr<RendezvousServer> server;
};

TEST_CASE(
    "multi-node: both stores report one incarnation to the agent, unless "
    "riding through daemon restarts") {
  Daemon d;
  const std::vector<std::string> args = {"--rdzv-endpoint", d.endpoint(),
                                         "--rdzv-id",       "job",
                                         "--local-addr",    "127.0.0.1"};
  auto plan = PlanStoreTopology(Config(args));
  REQUIRE(plan.ok());
  auto topology = StoreTopology::SetUp(*plan, TopologyInputs{});
  REQUIRE(topology.ok());
  AgentOptions ao;
  (*topology)->ApplyTo(ao);
  REQUIRE(ao.store_incarnation);
  REQUIRE(ao.liveness_store != nullptr);
  CHECK(ao.liveness_store->Set("k", "v").ok());
  const std::string seen = ao.store_incarnation();
  CHECK_FALSE(seen.empty());
  CHECK(ao.store->TryGet("k").value_or("") == "v");
  CHECK(ao.store_incarnation() == seen);

  std::vector<std::string> ride = args;
  ride.insert(ride.end(), {"--on-daemon-restart", "ride-through"});
  plan = PlanStoreTopology(Config(ride));
  REQUIRE(plan.ok());
  auto riding = StoreTopology::SetUp(*plan, TopologyInputs{});
  REQUIRE(riding.ok());
  AgentOptions ro;
  (*riding)->ApplyTo(ro);
  CHECK_FALSE(ro.store_incarnation);
}

}  // namespace
}  // namespace tplaunch
