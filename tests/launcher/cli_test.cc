#include "launcher/cli.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <set>

#include "absl/strings/str_split.h"
#include "common/duration.h"
#include "launcher/cli_env.h"
#include "launcher/cli_options.h"
#include "launcher/log_prefix.h"
#include "launcher/signals.h"

namespace tplaunch {
namespace {

using Env = std::map<std::string, std::string>;

// An endpoint field as text; "<none>" when unset, so a CHECK never dereferences
// an empty optional.
std::string Text(const std::optional<Endpoint>& endpoint) {
  return endpoint ? endpoint->ToString() : "<none>";
}

absl::StatusOr<LaunchConfig> Parse(const std::string& line,
                                   const Env& env = {}) {
  std::vector<std::string> argv = {"tplaunch"};
  for (absl::string_view w : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    argv.emplace_back(w);
  }
  return ParseCommandLine(argv, env);
}

TEST_CASE("defaults: one node, one worker, standalone") {
  auto c = Parse("./train --lr 3");
  REQUIRE(c.ok());
  CHECK(c->action == CliAction::kRun);
  CHECK(c->nproc_per_node == 1);
  CHECK(c->min_nodes == 1);
  CHECK(c->max_nodes == 1);
  CHECK(c->node_rank == -1);
  CHECK(c->standalone);
  CHECK_FALSE(c->rdzv_endpoint.has_value());
  CHECK(c->max_restarts == 0);
  CHECK(c->grace_period == absl::Seconds(30));
  CHECK(c->heartbeat_timeout <= absl::Seconds(10));
  CHECK(c->heartbeat_interval < c->heartbeat_timeout);
  // A daemon restart or a short freeze is ridden through (issue #10).
  CHECK(c->store_outage_timeout >= absl::Seconds(30));
  CHECK(c->role == "default");
  CHECK(c->signals_to_forward ==
        std::vector<int>{SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2});
  CHECK(c->program == std::vector<std::string>{"./train", "--lr", "3"});
}

TEST_CASE("options after PROGRAM belong to PROGRAM") {
  auto c = Parse("--nproc 2 python3 train.py --nproc 7 --max-restarts x");
  REQUIRE(c.ok());
  CHECK(c->nproc_per_node == 2);
  CHECK(c->program == std::vector<std::string>{"python3", "train.py", "--nproc",
                                               "7", "--max-restarts", "x"});
  auto d = Parse("--nproc 2 -- -weird-name arg");
  REQUIRE(d.ok());
  CHECK(d->program == std::vector<std::string>{"-weird-name", "arg"});
}

TEST_CASE("every flag is parsed, dashes and torchrun's underscores alike") {
  struct Row {
    std::string args;
    std::function<void(const LaunchConfig&)> check;
  };
  std::vector<Row> rows = {
      {"--nproc-per-node 4", [](auto& c) { CHECK(c.nproc_per_node == 4); }},
      {"--nproc_per_node=3", [](auto& c) { CHECK(c.nproc_per_node == 3); }},
      {"--nproc 5", [](auto& c) { CHECK(c.nproc_per_node == 5); }},
      {"--nproc auto",
       [](auto& c) { CHECK(c.nproc_mode == NprocMode::kAuto); }},
      {"--nproc gpu", [](auto& c) { CHECK(c.nproc_mode == NprocMode::kGpu); }},
      {"--nproc cpu", [](auto& c) { CHECK(c.nproc_mode == NprocMode::kCpu); }},
      {"--nnodes 1", [](auto& c) { CHECK(c.max_nodes == 1); }},
      {"--nnodes 2:4 --rdzv-endpoint h --rdzv-id j",
       [](auto& c) {
         CHECK(c.min_nodes == 2);
         CHECK(c.max_nodes == 4);
       }},
      {"--nnodes 2 --node-rank 1 --rdzv-endpoint h --rdzv-id j",
       [](auto& c) { CHECK(c.node_rank == 1); }},
      {"--nnodes 2 --node_rank 0 --rdzv_endpoint h:1234 --rdzv_id j",
       [](auto& c) {
         CHECK(c.node_rank == 0);
         CHECK(Text(c.rdzv_endpoint) == "h:1234");
         CHECK(c.rdzv_id == "j");
         CHECK_FALSE(c.standalone);
       }},
      {"--rdzv-endpoint node-a --rdzv-id j",
       [](auto& c) { CHECK(Text(c.rdzv_endpoint) == "node-a:29400"); }},
      {"--rdzv-endpoint [::1]:29401 --rdzv-id j",
       [](auto& c) { CHECK(Text(c.rdzv_endpoint) == "[::1]:29401"); }},
      {"--rdzv-endpoint [::1] --rdzv-id j",
       [](auto& c) { CHECK(Text(c.rdzv_endpoint) == "[::1]:29400"); }},
      {"--rdzv-endpoint ::1 --rdzv-id j",
       [](auto& c) { CHECK(Text(c.rdzv_endpoint) == "[::1]:29400"); }},
      {"--rdzv-backend c10d", [](auto&) {}},
      {"--rdzv_backend static", [](auto&) {}},
      {"--rdzv-conf join_timeout=7,last_call_timeout=2,read_timeout=60",
       [](auto& c) {
         CHECK(c.rdzv_timeout == absl::Seconds(7));
         CHECK(c.rdzv_last_call == absl::Seconds(2));
       }},
      {"--standalone", [](auto& c) { CHECK(c.standalone); }},
      {"--rdzv-timeout 90s",
       [](auto& c) { CHECK(c.rdzv_timeout == absl::Seconds(90)); }},
      {"--rdzv-last-call 0",
       [](auto& c) { CHECK(c.rdzv_last_call == absl::ZeroDuration()); }},
      {"--max-restarts 3", [](auto& c) { CHECK(c.max_restarts == 3); }},
      {"--max_restarts=2", [](auto& c) { CHECK(c.max_restarts == 2); }},
      {"--monitor-interval 0.1",
       [](auto& c) { CHECK(c.monitor_interval == absl::Milliseconds(100)); }},
      {"--monitor_interval 5",
       [](auto& c) { CHECK(c.monitor_interval == absl::Seconds(5)); }},
      {"--log-dir /tmp/x", [](auto& c) { CHECK(c.log_dir == "/tmp/x"); }},
      {"--log_dir /tmp/y", [](auto& c) { CHECK(c.log_dir == "/tmp/y"); }},
      {"--tee 3", [](auto& c) { CHECK(c.tee == StdStreams::kAll); }},
      {"-t 1", [](auto& c) { CHECK(c.tee == StdStreams::kOut); }},
      {"--redirects stderr",
       [](auto& c) { CHECK(c.redirects == StdStreams::kErr); }},
      {"-r 0", [](auto& c) { CHECK(c.redirects == StdStreams::kNone); }},
      {"--nproc 4 --local-ranks-filter 0,2",
       [](auto& c) {
         CHECK(c.local_ranks_filter == std::vector<int>{0, 2});
       }},
      {"--nproc 2 --local_ranks_filter 1",
       [](auto& c) { CHECK(c.local_ranks_filter == std::vector<int>{1}); }},
      {"--log-prefix [${role_name}${local_rank}]:",
       [](auto& c) { CHECK(c.log_prefix == "[${role_name}${local_rank}]:"); }},
      {"--role trainer", [](auto& c) { CHECK(c.role == "trainer"); }},
      {"--master-addr 10.0.0.1",
       [](auto& c) {
         CHECK(c.master_addr == "10.0.0.1");
         CHECK(c.master_port == 29500);
       }},
      {"--master_addr h --master_port 1234",
       [](auto& c) {
         CHECK(c.master_addr == "h");
         CHECK(c.master_port == 1234);
       }},
      {"--local-addr 10.1.2.3",
       [](auto& c) { CHECK(c.local_addr == "10.1.2.3"); }},
      {"--local_addr [fd00::2]",
       [](auto& c) { CHECK(c.local_addr == "fd00::2"); }},
      {"--grace-period 0",
       [](auto& c) { CHECK(c.grace_period == absl::ZeroDuration()); }},
      {"--grace-period 2m",
       [](auto& c) { CHECK(c.grace_period == absl::Minutes(2)); }},
      {"--signals-to-forward USR1,SIGTERM,10",
       [](auto& c) {
         CHECK(c.signals_to_forward == std::vector<int>{SIGUSR1, SIGTERM});
       }},
      {"--signals_to_handle INT",
       [](auto& c) {
         CHECK(c.signals_to_forward == std::vector<int>{SIGINT});
       }},
      {"--heartbeat-interval 200ms --heartbeat-timeout 1s",
       [](auto& c) {
         CHECK(c.heartbeat_interval == absl::Milliseconds(200));
         CHECK(c.heartbeat_timeout == absl::Seconds(1));
       }},
      {"--exit-barrier-timeout 5",
       [](auto& c) { CHECK(c.exit_barrier_timeout == absl::Seconds(5)); }},
      {"--store-outage-timeout 90s",
       [](auto& c) { CHECK(c.store_outage_timeout == absl::Seconds(90)); }},
      {"--store_outage_timeout 2m",
       [](auto& c) { CHECK(c.store_outage_timeout == absl::Minutes(2)); }},
      {"--rdzv-endpoint h --rdzv-id j --token-file /t",
       [](auto& c) { CHECK(c.token_file == "/t"); }},
      {"--torch-store agent",
       [](auto& c) { CHECK(c.torch_store == TorchStoreHost::kAgent); }},
      {"--rdzv-endpoint h --rdzv-id j --torch-store agent "
       "--torch-store-endpoint n:29600",
       [](auto& c) { CHECK(Text(c.torch_store_endpoint) == "n:29600"); }},
      {"--rdzv-endpoint h --rdzv-id j --torch_store agent "
       "--torch_store_endpoint [::1]:5",
       [](auto& c) { CHECK(Text(c.torch_store_endpoint) == "[::1]:5"); }},
      // The self-hosted endpoint's listener (launcher/topology).
      {"--rdzv-endpoint h --rdzv-id j --torch-store agent",
       [](auto& c) {
         CHECK(c.torch_store == TorchStoreHost::kAgent);
         CHECK_FALSE(c.torch_store_endpoint.has_value());
       }},
      {"--rdzv-endpoint h --rdzv-id j",
       [](auto& c) { CHECK_FALSE(c.rdzv_is_host.has_value()); }},
      {"--rdzv-endpoint h --rdzv-id j --rdzv-conf is_host=true",
       [](auto& c) { CHECK(c.rdzv_is_host == std::optional<bool>(true)); }},
      {"--rdzv-endpoint h --rdzv-id j --rdzv-conf join_timeout=5,is_host=0",
       [](auto& c) { CHECK(c.rdzv_is_host == std::optional<bool>(false)); }},
      // Flags (no value): PROGRAM follows them.
      {"--no-python",
       [](auto& c) {
         CHECK(c.no_python);
         CHECK(c.program == std::vector<std::string>{"prog"});
       }},
      {"--no_python", [](auto& c) { CHECK(c.no_python); }},
      {"-m",
       [](auto& c) {
         CHECK(c.module);
         CHECK(c.program == std::vector<std::string>{"prog"});
       }},
      {"--module", [](auto& c) { CHECK(c.module); }},
      {"--run-path", [](auto& c) { CHECK(c.run_path); }},
      {"--run_path --no-python",
       [](auto& c) {
         CHECK(c.run_path);
         CHECK(c.no_python);
       }},
      {"--run-path -m", [](auto& c) { CHECK(c.run_path); }},
      {"--nproc xpu", [](auto& c) { CHECK(c.nproc_mode == NprocMode::kXpu); }},
      {"--nproc_per_node XPU",
       [](auto& c) { CHECK(c.nproc_mode == NprocMode::kXpu); }},
      {"--start-method spawn", [](auto&) {}},
      {"--start_method fork", [](auto&) {}},
      {"--start-method forkserver", [](auto&) {}},
      {"--logs-specs default", [](auto&) {}},
      {"--logs_specs=default", [](auto&) {}},
      {"--event-log-handler null", [](auto&) {}},
      {"--event_log_handler null", [](auto&) {}},
      {"--shutdown-timeout 120",
       [](auto& c) { CHECK(c.grace_period == absl::Seconds(120)); }},
      {"--shutdown_timeout 0",
       [](auto& c) { CHECK(c.grace_period == absl::ZeroDuration()); }},
      {"--rdzv-conf use_libuv=0",
       [](auto& c) { CHECK(c.use_libuv == std::optional<bool>(false)); }},
      {"--rdzv-conf use_libuv=True,join_timeout=9",
       [](auto& c) {
         CHECK(c.use_libuv == std::optional<bool>(true));
         CHECK(c.rdzv_timeout == absl::Seconds(9));
       }},
  };
  for (const auto& row : rows) {
    INFO(row.args);
    auto c = Parse(row.args + " prog");
    REQUIRE(c.ok());
    row.check(*c);
  }
}

TEST_CASE("every bad input is rejected with a message naming it") {
  struct Row {
    std::string args;
    std::string must_contain;
  };
  std::vector<Row> rows = {
      {"", "missing PROGRAM"},
      {"--nproc 0 p", "--nproc-per-node '0'"},
      {"--nproc many p", "auto, gpu, cpu or xpu"},
      {"--nproc -3 p", "--nproc"},
      {"--nproc p", "--nproc-per-node 'p'"},
      {"--nnodes 0 p", "MIN <= MAX"},
      {"--nnodes 3:2 p", "'3:2'"},
      {"--nnodes 1:2:3 p", "'1:2:3'"},
      {"--nnodes x p", "--nnodes 'x'"},
      {"--nnodes 2 p", "needs --rdzv-endpoint"},
      {"--node-rank 1 p", "below the number of nodes"},
      {"--node-rank -1 p", "--node-rank"},
      {"--rdzv-endpoint h p", "needs --rdzv-id"},
      {"--rdzv-endpoint h:0 --rdzv-id j p", "1..65535"},
      {"--rdzv-endpoint h:99999 --rdzv-id j p", "1..65535"},
      {"--rdzv-endpoint :80 --rdzv-id j p", "host is empty"},
      {"--rdzv-endpoint [::1 --rdzv-id j p", "closing ']'"},
      {"--rdzv-endpoint [nothost]:1 --rdzv-id j p", "not an IPv6"},
      {"--rdzv-endpoint h --rdzv-id a/b p", "without '/'"},
      {"--standalone --rdzv-endpoint h --rdzv-id j p", "exclude each other"},
      {"--rdzv-backend etcd-v2 p", "etcd-v2 is not supported"},
      {"--rdzv-conf bogus=1 p", "unknown key 'bogus'"},
      {"--rdzv-conf join_timeout=x p", "join_timeout 'x'"},
      {"--rdzv-timeout 0 p", "must be positive"},
      {"--rdzv-timeout soon p", "duration"},
      {"--max-restarts -1 p", "--max-restarts"},
      {"--max-restarts many p", "integer"},
      {"--monitor-interval 0 p", "must be positive"},
      {"--tee 4 p", "0/none"},
      {"--tee 0:1,1:2 p", "local rank 1 does not exist"},
      {"--redirects loud p", "--redirects 'loud'"},
      {"--nproc 2 --local-ranks-filter 2 p", "does not exist"},
      {"--local-ranks-filter a p", "comma-separated"},
      {"--log-prefix ${nope} p", "unknown field ${nope}"},
      {"--log-prefix ${rank p", "never closed"},
      {"--master-port 70000 p", "0..65535"},
      {"--local-addr myhost p", "IPv4 or IPv6"},
      {"--grace-period -1 p", "negative"},
      {"--signals-to-forward KILL p", "cannot be forwarded"},
      {"--signals-to-forward NOPE p", "unknown signal"},
      {"--heartbeat-interval 5 --heartbeat-timeout 5 p", "must be longer"},
      {"--heartbeat-timeout 0 p", "must be positive"},
      {"--store-outage-timeout 0 p", "must be positive"},
      {"--exit-barrier-timeout x p", "duration"},
      {"--token-file /t p", "needs --rdzv-endpoint"},
      {"--torch-store both p", "worker or agent"},
      {"--rdzv-endpoint h --rdzv-id j --rdzv-conf is_host=maybe p",
       "--rdzv-conf is_host 'maybe': expected 1/true/yes or 0/false/no"},
      {"--rdzv-endpoint h --rdzv-id j --torch-store-endpoint n:1 p",
       "needs --torch-store agent"},
      {"--torch-store agent --torch-store-endpoint n:1 p",
       "standalone runs its own TCPStore listener"},
      {"--torch-store agent --master-port 29500 p",
       "exclude --torch-store agent"},
      {"--torch-store agent --master-addr 10.0.0.1 p",
       "exclude --torch-store agent"},
      {"--rdzv-endpoint h --rdzv-id j --torch-store agent "
       "--torch-store-endpoint n p",
       "expected HOST:PORT"},
      {"--rdzv-endpoint h --rdzv-id j --torch-store agent "
       "--torch-store-endpoint n:99999 p",
       "1..65535"},
      {"-m --no-python mod", "-m/--module and --no-python exclude each other"},
      {"-m pkg/train.py", "-m 'pkg/train.py': expected a module name"},
      {"-m train.py", "drop -m to run a file"},
      {"--start-method thread p",
       "--start-method 'thread': expected spawn, fork or forkserver"},
      {"--logs-specs custom p", "--logs-specs 'custom': only 'default'"},
      {"--event-log-handler console p",
       "--event-log-handler 'console': only 'null'"},
      // Messages name the canonical spelling; --help lists the aliases.
      {"--shutdown-timeout -1 p", "--grace-period '-1': must not be"},
      {"--rdzv-conf use_libuv=maybe p",
       "--rdzv-conf use_libuv 'maybe': expected 1/true/yes or 0/false/no"},
      {"--bogus p", "unknown option '--bogus'"},
      {"--nproc", "--nproc"},
  };
  for (const auto& row : rows) {
    INFO(row.args);
    auto c = Parse(row.args);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(c.status().message()),
               Catch::Contains(row.must_contain));
  }
}

TEST_CASE("options come from TPLAUNCH_<NAME>; the command line wins") {
  Env env = {{"TPLAUNCH_NPROC_PER_NODE", "3"},
             {"TPLAUNCH_MAX_RESTARTS", "2"},
             {"TPLAUNCH_STANDALONE", "true"},
             {"TPLAUNCH_GRACE_PERIOD", "5s"}};
  auto c = Parse("--max-restarts 4 prog", env);
  REQUIRE(c.ok());
  CHECK(c->nproc_per_node == 3);
  CHECK(c->max_restarts == 4);
  CHECK(c->standalone);
  CHECK(c->grace_period == absl::Seconds(5));

  auto bad = Parse("prog", {{"TPLAUNCH_NNODES", "zero"}});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()),
             Catch::Contains("TPLAUNCH_NNODES 'zero'"));
  auto bad_flag = Parse("prog", {{"TPLAUNCH_STANDALONE", "maybe"}});
  REQUIRE_FALSE(bad_flag.ok());
  CHECK_THAT(std::string(bad_flag.status().message()),
             Catch::Contains("TPLAUNCH_STANDALONE"));

  auto multi = Parse("prog", {{"TPLAUNCH_RDZV_ENDPOINT", "[::1]:5"},
                              {"TPLAUNCH_RDZV_ID", "job"},
                              {"TPLAUNCH_NNODES", "2"}});
  REQUIRE(multi.ok());
  CHECK(Text(multi->rdzv_endpoint) == "[::1]:5");
  CHECK(multi->max_nodes == 2);

  auto no_prefix = Parse("prog", {{"TPLAUNCH_LOG_PREFIX", ""}});
  REQUIRE(no_prefix.ok());
  CHECK(no_prefix->has_log_prefix);
  CHECK(no_prefix->log_prefix.empty());
  CHECK_FALSE(Parse("prog")->has_log_prefix);

  auto tmpl =
      Parse("prog", {{"TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE", "${rank}>"}});
  REQUIRE(tmpl.ok());
  CHECK(tmpl->log_prefix == "${rank}>");
}

TEST_CASE("options come from torchrun's PET_<NAME>, below TPLAUNCH_<NAME>") {
  // What a PyTorchJob with an elastic policy sets.
  Env pyjob = {{"PET_NPROC_PER_NODE", "2"},        {"PET_NNODES", "1:3"},
               {"PET_RDZV_ENDPOINT", "h:5"},       {"PET_RDZV_ID", "job"},
               {"PET_RDZV_BACKEND", "c10d"},       {"PET_MAX_RESTARTS", "4"},
               {"PET_RDZV_CONF", "join_timeout=7"}};
  auto c = Parse("prog", pyjob);
  REQUIRE(c.ok());
  CHECK(c->nproc_per_node == 2);
  CHECK(c->min_nodes == 1);
  CHECK(c->max_nodes == 3);
  CHECK(Text(c->rdzv_endpoint) == "h:5");
  CHECK(c->rdzv_id == "job");
  CHECK(c->max_restarts == 4);
  CHECK(c->rdzv_timeout == absl::Seconds(7));
  CHECK(c->warnings.empty());

  // Trainer v2 / a static job.
  auto v2 = Parse("prog", {{"PET_NNODES", "2"},
                           {"PET_NODE_RANK", "1"},
                           {"PET_MASTER_ADDR", "m0"},
                           {"PET_MASTER_PORT", "23456"},
                           {"PET_RDZV_ENDPOINT", "m0:29400"},
                           {"PET_RDZV_ID", "j"}});
  REQUIRE(v2.ok());
  CHECK(v2->node_rank == 1);
  CHECK(v2->master_addr == "m0");
  CHECK(v2->master_port == 23456);

  // command line > TPLAUNCH_* > PET_*.
  Env both = {{"PET_NPROC_PER_NODE", "2"}, {"TPLAUNCH_NPROC_PER_NODE", "3"}};
  CHECK(Parse("prog", both)->nproc_per_node == 3);
  CHECK(Parse("--nproc 5 prog", both)->nproc_per_node == 5);
  // The Kubeflow operator's spelling, below the usual one.
  CHECK(Parse("prog", {{"PET_N_PROC_PER_NODE", "6"}})->nproc_per_node == 6);
  CHECK(
      Parse("prog", {{"PET_N_PROC_PER_NODE", "6"}, {"PET_NPROC_PER_NODE", "7"}})
          ->nproc_per_node == 7);
  // Every long name has its PET_ name: torchrun's --signals-to-handle too.
  CHECK(Parse("prog", {{"PET_SIGNALS_TO_HANDLE", "SIGINT"}})
            ->signals_to_forward == std::vector<int>{SIGINT});
  CHECK(Parse("prog", {{"PET_SHUTDOWN_TIMEOUT", "9"}})->grace_period ==
        absl::Seconds(9));
  // Flags read torchrun's 0/1.
  CHECK(Parse("prog", {{"PET_STANDALONE", "1"}})->standalone);
  CHECK(Parse("prog", {{"PET_NO_PYTHON", "1"}})->no_python);
  CHECK_FALSE(Parse("prog", {{"PET_MODULE", "0"}})->module);
  // An empty PET_ value is no value (a scheduler's template left blank).
  CHECK(Parse("prog", {{"PET_NPROC_PER_NODE", ""}})->nproc_per_node == 1);

  // An error names the variable.
  auto bad = Parse("prog", {{"PET_NPROC_PER_NODE", "many"}});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()),
             Catch::Contains("PET_NPROC_PER_NODE 'many'"));
  auto bad_kf = Parse("prog", {{"PET_N_PROC_PER_NODE", "0"}});
  REQUIRE_FALSE(bad_kf.ok());
  CHECK_THAT(std::string(bad_kf.status().message()),
             Catch::Contains("PET_N_PROC_PER_NODE '0'"));
  auto bad_flag = Parse("prog", {{"PET_STANDALONE", "maybe"}});
  REQUIRE_FALSE(bad_flag.ok());
  CHECK_THAT(std::string(bad_flag.status().message()),
             Catch::Contains("PET_STANDALONE"));
  auto bad_backend = Parse("prog", {{"PET_RDZV_BACKEND", "etcd-v2"}});
  REQUIRE_FALSE(bad_backend.ok());
  CHECK_THAT(std::string(bad_backend.status().message()),
             Catch::Contains("PET_RDZV_BACKEND 'etcd-v2'"));

  // Unknown PET_ names are warned about, never fatal.
  auto unknown = Parse("prog", {{"PET_SOME_FUTURE_FLAG", "x"},
                                {"PET_ANOTHER", "1"},
                                {"PET_NNODES", "1"}});
  REQUIRE(unknown.ok());
  REQUIRE(unknown->warnings.size() == 1);
  CHECK_THAT(unknown->warnings[0],
             Catch::Contains("PET_ANOTHER, PET_SOME_FUTURE_FLAG"));
  CHECK_THAT(unknown->warnings[0], Catch::Contains("no tplaunch option"));
}

TEST_CASE("torchrun's own variables are the last fallback") {
  Env env = {{"TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "120"}};
  CHECK(Parse("prog", env)->grace_period == absl::Seconds(120));
  env["PET_SHUTDOWN_TIMEOUT"] = "60";
  CHECK(Parse("prog", env)->grace_period == absl::Seconds(60));
  env["TPLAUNCH_GRACE_PERIOD"] = "5";
  CHECK(Parse("prog", env)->grace_period == absl::Seconds(5));
  CHECK(Parse("--shutdown-timeout 1 prog", env)->grace_period ==
        absl::Seconds(1));
  auto bad = Parse("prog", {{"TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "soon"}});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()),
             Catch::Contains("TORCH_ELASTIC_SHUTDOWN_TIMEOUT 'soon'"));
  // PET_ wins over the template variable as well.
  auto tmpl = Parse("prog", {{"TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE", "a>"},
                             {"PET_LOG_PREFIX", "b>"}});
  REQUIRE(tmpl.ok());
  CHECK(tmpl->log_prefix == "b>");
}

TEST_CASE("PET_ names of the table") {
  for (const OptionDef& def : CommandLineOptions()) {
    INFO(def.names);
    std::vector<std::string> pet = PetNames(def);
    REQUIRE_FALSE(pet.empty());
    CHECK(pet.front() == "PET_" + EnvName(def).substr(9));
  }
  const OptionDef* nproc = &CommandLineOptions().front();
  CHECK(PetNames(*nproc) == std::vector<std::string>{"PET_NPROC_PER_NODE",
                                                     "PET_NPROC",
                                                     "PET_N_PROC_PER_NODE"});
  CHECK(UnknownPetVariables({{"PET_NNODES", "1"},
                             {"PET_X", ""},
                             {"PETS", "1"},
                             {"TPLAUNCH_Y", "1"}}) ==
        std::vector<std::string>{"PET_X"});
}

// Every flag torchrun 2.6-2.14 has (torch/distributed/run.py's parser; see
// docs/cli.md), each of which --help must list.
constexpr const char* kTorchrunFlags[] = {
    "--nnodes",
    "--nproc-per-node",
    "--nproc_per_node",
    "--rdzv-backend",
    "--rdzv_backend",
    "--rdzv-endpoint",
    "--rdzv_endpoint",
    "--rdzv-id",
    "--rdzv_id",
    "--rdzv-conf",
    "--rdzv_conf",
    "--standalone",
    "--max-restarts",
    "--max_restarts",
    "--monitor-interval",
    "--monitor_interval",
    "--start-method",
    "--start_method",
    "--event-log-handler",
    "--event_log_handler",
    "--role",
    "-m",
    "--module",
    "--numa-binding",
    "--duplicate_stderr_filters",
    "--duplicate-stderr-filters",
    "--duplicate_stdout_filters",
    "--duplicate-stdout-filters",
    "--log_line_prefix_template",
    "--log-line-prefix-template",
    "--numa_binding",
    "--virtual-local-rank",
    "--virtual_local_rank",
    "--no-python",
    "--no_python",
    "--run-path",
    "--run_path",
    "--log-dir",
    "--log_dir",
    "-r",
    "--redirects",
    "-t",
    "--tee",
    "--local-ranks-filter",
    "--local_ranks_filter",
    "--node-rank",
    "--node_rank",
    "--master-addr",
    "--master_addr",
    "--master-port",
    "--master_port",
    "--local-addr",
    "--local_addr",
    "--logs-specs",
    "--logs_specs",
    "--signals-to-handle",
    "--signals_to_handle",
    "--shutdown-timeout",
    "--shutdown_timeout",
};
// Added by other branches of issue #11 ("output", "placement").

TEST_CASE("--help lists every torchrun 2.x flag") {
  std::set<std::string> names;
  for (const OptionDef& def : CommandLineOptions()) {
    for (absl::string_view n : absl::StrSplit(def.names, ',')) {
      names.insert(std::string(n));
    }
  }
  const std::string usage = UsageText();
  for (const char* flag : kTorchrunFlags) {
    INFO(flag);
    CHECK(names.count(flag) == 1);
    CHECK_THAT(usage, Catch::Contains(flag));
  }
}

TEST_CASE("help, version and status") {
  auto h = Parse("--help");
  REQUIRE(h.ok());
  CHECK(h->action == CliAction::kHelp);
  auto v = Parse("--version");
  REQUIRE(v.ok());
  CHECK(v->action == CliAction::kVersion);
  // --help after PROGRAM is PROGRAM's.
  auto p = Parse("prog --help");
  REQUIRE(p.ok());
  CHECK(p->action == CliAction::kRun);

  std::string usage = UsageText();
  for (const char* flag : {"--nproc-per-node",
                           "--nnodes",
                           "--node-rank",
                           "--rdzv-endpoint",
                           "--rdzv-id",
                           "--standalone",
                           "--max-restarts",
                           "--monitor-interval",
                           "--log-dir",
                           "--tee",
                           "--redirects",
                           "--local-ranks-filter",
                           "--role",
                           "--master-addr",
                           "--master-port",
                           "--local-addr",
                           "--rdzv-timeout",
                           "--grace-period",
                           "--signals-to-forward",
                           "--heartbeat-interval",
                           "--heartbeat-timeout",
                           "--store-outage-timeout",
                           "--token-file",
                           "--log-prefix",
                           "--exit-barrier-timeout",
                           "--version",
                           "TPLAUNCH_NPROC_PER_NODE",
                           "PROGRAM",
                           "tplaunch status",
                           "Exit codes"}) {
    INFO(flag);
    CHECK_THAT(usage, Catch::Contains(flag));
  }
  CHECK(!VersionText().empty());

  auto s = Parse("status --rdzv-endpoint [::1]:7 --rdzv-id j");
  REQUIRE(s.ok());
  CHECK(s->action == CliAction::kStatus);
  CHECK(Text(s->rdzv_endpoint) == "[::1]:7");
  CHECK(s->rdzv_id == "j");
  auto s_bad = Parse("status --rdzv-id j");
  REQUIRE_FALSE(s_bad.ok());
  CHECK_THAT(std::string(s_bad.status().message()),
             Catch::Contains("--rdzv-endpoint"));
}

TEST_CASE("the option table: every row named, helped, in --help with its env") {
  const std::string usage = UsageText();
  std::set<std::string> env_names;
  std::set<std::string> all_names;
  for (const OptionDef& def : CommandLineOptions()) {
    const std::string name = CanonicalName(def);
    INFO(def.names);
    CHECK(name.rfind("--", 0) == 0);
    CHECK(def.apply != nullptr);
    CHECK(std::string(def.help).size() > 10);
    CHECK(EnvName(def).rfind("TPLAUNCH_", 0) == 0);
    CHECK(env_names.insert(EnvName(def)).second);
    for (absl::string_view n : absl::StrSplit(def.names, ',')) {
      CHECK(all_names.insert(std::string(n)).second);
    }
    CHECK_THAT(usage, Catch::Contains(name));
    CHECK_THAT(usage, Catch::Contains("[env " + EnvName(def) + "]"));
  }
  CHECK(EnvName(CommandLineOptions().front()) == "TPLAUNCH_NPROC_PER_NODE");
}

TEST_CASE("rows apply in table order") {
  // --rdzv-conf's join_timeout wins over --rdzv-timeout wherever it stands.
  auto conf = Parse("--rdzv-conf join_timeout=7 --rdzv-timeout 5 p");
  REQUIRE(conf.ok());
  CHECK(conf->rdzv_timeout == absl::Seconds(7));
  // --node-rank is checked against --nnodes, whichever comes first.
  auto rank = Parse("--node-rank 1 --nnodes 2 --rdzv-endpoint h --rdzv-id j p");
  REQUIRE(rank.ok());
  CHECK(rank->node_rank == 1);
  // -m is a flag like any other now (issue #11): TPLAUNCH_MODULE=1 sets it.
  CHECK(Parse("p", {{"TPLAUNCH_MODULE", "1"}})->module);
  CHECK_FALSE(Parse("p", {{"TPLAUNCH_MODULE", "0"}})->module);
}

TEST_CASE("duration bounds name the option") {
  struct Row {
    std::string args;
    std::string must_contain;
  };
  std::vector<Row> rows = {
      {"--rdzv-timeout -1 p", "--rdzv-timeout '-1': must be positive"},
      {"--heartbeat-interval -2s p", "must be positive"},
      {"--rdzv-last-call -1 p", "--rdzv-last-call '-1': must not be negative"},
      {"--exit-barrier-timeout -1 p", "must not be negative"},
      {"--grace-period inf p", "--grace-period 'inf': duration out of range"},
      {"--rdzv-conf last_call_timeout=-1 p",
       "--rdzv-conf last_call_timeout '-1': must not be negative"},
  };
  for (const auto& row : rows) {
    INFO(row.args);
    auto c = Parse(row.args);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(c.status().message()),
               Catch::Contains(row.must_contain));
  }
  auto zero = Parse("--grace-period 0 --exit-barrier-timeout 0 p");
  REQUIRE(zero.ok());
  CHECK(zero->exit_barrier_timeout == absl::ZeroDuration());
}

TEST_CASE("--torch-store is an enum, worker by default, case-insensitive") {
  CHECK(Parse("p")->torch_store == TorchStoreHost::kWorker);
  CHECK_FALSE(Parse("p")->torch_store_endpoint.has_value());
  CHECK(Parse("--torch-store WORKER p")->torch_store ==
        TorchStoreHost::kWorker);
  CHECK(Parse("--torch-store Agent p")->torch_store == TorchStoreHost::kAgent);
  auto typed = Parse(
      "--rdzv-endpoint h --rdzv-id j --torch-store agent "
      "--torch-store-endpoint 10.0.0.2:29600 p");
  REQUIRE(typed.ok());
  REQUIRE(typed->torch_store_endpoint.has_value());
  CHECK(typed->torch_store_endpoint->host == "10.0.0.2");
  CHECK(typed->torch_store_endpoint->port == 29600);
  REQUIRE(typed->rdzv_endpoint.has_value());
  CHECK(typed->rdzv_endpoint->host == "h");
  CHECK(typed->rdzv_endpoint->port == kDefaultRendezvousPort);
}

TEST_CASE("nproc auto/gpu/cpu resolve against the host") {
  auto c = Parse("--nproc auto p");
  REQUIRE(c.ok());
  LaunchConfig auto_cpu = *c;
  REQUIRE(ResolveNprocPerNode(auto_cpu, 6, 0).ok());
  CHECK(auto_cpu.nproc_per_node == 6);
  LaunchConfig auto_gpu = *c;
  REQUIRE(ResolveNprocPerNode(auto_gpu, 6, 2).ok());
  CHECK(auto_gpu.nproc_per_node == 2);
  auto g = Parse("--nproc gpu p");
  LaunchConfig gpu = *g;
  CHECK(absl::IsFailedPrecondition(ResolveNprocPerNode(gpu, 6, 0)));
  auto cpu = *Parse("--nproc cpu p");
  REQUIRE(ResolveNprocPerNode(cpu, 3, 8).ok());
  CHECK(cpu.nproc_per_node == 3);
  auto xpu = *Parse("--nproc xpu p");
  LaunchConfig no_xpu = xpu;
  absl::Status none = ResolveNprocPerNode(no_xpu, 6, 2, 0);
  CHECK(absl::IsFailedPrecondition(none));
  CHECK_THAT(std::string(none.message()), Catch::Contains("no XPU found"));
  REQUIRE(ResolveNprocPerNode(xpu, 6, 2, 4).ok());
  CHECK(xpu.nproc_per_node == 4);
  LaunchConfig auto_xpu = *c;
  REQUIRE(ResolveNprocPerNode(auto_xpu, 6, 0, 3).ok());
  CHECK(auto_xpu.nproc_per_node == 3);
}

TEST_CASE("durations, signals and prefixes") {
  CHECK(*ParseDurationFlag("1.5") == absl::Milliseconds(1500));
  CHECK(*ParseDurationFlag("200ms") == absl::Milliseconds(200));
  CHECK(*ParseDurationFlag("2m") == absl::Minutes(2));
  CHECK_FALSE(ParseDurationFlag("").ok());
  CHECK_FALSE(ParseDurationFlag("inf").ok());
  CHECK(SignalName(SIGSEGV) == "SIGSEGV");
  CHECK(SignalName(SIGRTMIN + 1).find("signal") == 0);
  CHECK(*ParseSignalList("term, sigint") == std::vector<int>{SIGTERM, SIGINT});

  LogPrefixFields f;
  f.rank = 3;
  f.local_rank = 1;
  f.node_rank = 2;
  f.role_name = "trainer";
  f.host = "hostA";
  f.attempt = 4;
  CHECK(RenderLogPrefix(DefaultLogPrefixTemplate(false), f) == "[rank3]: ");
  CHECK(RenderLogPrefix(DefaultLogPrefixTemplate(true), f) ==
        "[hostA rank3]: ");
  CHECK(RenderLogPrefix("${role_name}${local_rank}@${node_rank}/a${attempt} ",
                        f) == "trainer1@2/a4 ");
  CHECK(RenderLogPrefix("", f).empty());
}

}  // namespace
}  // namespace tplaunch
