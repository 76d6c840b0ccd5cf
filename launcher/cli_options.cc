#include "launcher/cli_options.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/duration.h"
#include "common/status_macros.h"
#include "launcher/log_prefix.h"
#include "launcher/output_filters.h"
#include "launcher/signals.h"
#include "store/endpoint.h"
#include "store/etcd/endpoint_list.h"

namespace tplaunch {
namespace {

// Value parsers: text -> typed value, or InvalidValue naming the source.

absl::StatusOr<int> ParseIntIn(const RawValue& raw, int min, int max) {
  int v = 0;
  if (!absl::SimpleAtoi(raw.value, &v) || v < min || v > max) {
    return InvalidValue(
        raw, absl::StrCat("expected an integer in ", min, "..", max));
  }
  return v;
}

// Whether a duration of zero means something for an option (a grace period of
// 0 kills at once) or not (a heartbeat every 0s would spin).
enum class Zero { kAllowed, kRejected };

absl::StatusOr<absl::Duration> ParseDurationIn(const RawValue& raw, Zero zero) {
  absl::StatusOr<absl::Duration> d = ParseDurationFlag(raw.value);
  if (!d.ok()) return InvalidValue(raw, d.status().message());
  if (zero == Zero::kAllowed && *d < absl::ZeroDuration()) {
    return InvalidValue(raw, "must not be negative");
  }
  if (zero == Zero::kRejected && *d <= absl::ZeroDuration()) {
    return InvalidValue(raw, "must be positive");
  }
  return *d;
}

absl::StatusOr<StdStreams> ParseOneStdStreams(const RawValue& raw,
                                              absl::string_view v_in) {
  std::string v = absl::AsciiStrToLower(v_in);
  if (v == "0" || v == "none") return StdStreams::kNone;
  if (v == "1" || v == "stdout" || v == "out") return StdStreams::kOut;
  if (v == "2" || v == "stderr" || v == "err") return StdStreams::kErr;
  if (v == "3" || v == "all" || v == "both") return StdStreams::kAll;
  return InvalidValue(raw,
                      "expected 0/none, 1/stdout, 2/stderr or 3/all, or "
                      "LOCAL_RANK:VALUE,... such as 0:1,1:2");
}

// One value for every local rank, or torchrun's map "0:1,1:2" (local rank:
// value; ranks it does not name get none). After --nproc-per-node in the
// table: a plain count bounds the ranks.
absl::StatusOr<StdStreamsByRank> ParseStdStreams(const RawValue& raw,
                                                 const LaunchConfig& c) {
  StdStreamsByRank out;
  if (raw.value.find(':') == std::string::npos) {
    ASSIGN_OR_RETURN(out.all, ParseOneStdStreams(raw, raw.value));
    return out;
  }
  for (absl::string_view item : absl::StrSplit(raw.value, ',')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(item, absl::MaxSplits(':', 1));
    int rank = 0;
    if (!absl::SimpleAtoi(kv.first, &rank) || rank < 0 ||
        item.find(':') == absl::string_view::npos) {
      return InvalidValue(raw,
                          absl::StrCat("'", item,
                                       "' is not LOCAL_RANK:VALUE (a map is "
                                       "0:1,1:2: local rank 0 stdout, 1 "
                                       "stderr)"));
    }
    if (c.nproc_mode == NprocMode::kCount && rank >= c.nproc_per_node) {
      return InvalidValue(
          raw, absl::StrCat("local rank ", rank, " does not exist with ",
                            "--nproc-per-node ", c.nproc_per_node));
    }
    ASSIGN_OR_RETURN(StdStreams s, ParseOneStdStreams(raw, kv.second));
    if (!out.by_local_rank.emplace(rank, s).second) {
      return InvalidValue(raw,
                          absl::StrCat("local rank ", rank, " is given twice"));
    }
  }
  return out;
}

// Field setters for the common shapes: parse, then store into one field.

ApplyOption IntField(int LaunchConfig::*field, int min, int max) {
  return [=](const RawValue& raw, LaunchConfig& c) -> absl::Status {
    ASSIGN_OR_RETURN(c.*field, ParseIntIn(raw, min, max));
    return absl::OkStatus();
  };
}

ApplyOption DurationField(absl::Duration LaunchConfig::*field, Zero zero) {
  return [=](const RawValue& raw, LaunchConfig& c) -> absl::Status {
    ASSIGN_OR_RETURN(c.*field, ParseDurationIn(raw, zero));
    return absl::OkStatus();
  };
}

ApplyOption StreamsField(StdStreamsByRank LaunchConfig::*field) {
  return [=](const RawValue& raw, LaunchConfig& c) -> absl::Status {
    ASSIGN_OR_RETURN(c.*field, ParseStdStreams(raw, c));
    return absl::OkStatus();
  };
}

// torchrun's comma list, ",," for a literal comma; '' is one empty filter,
// which matches every line (as in torchrun).
ApplyOption FiltersField(std::vector<std::string> LaunchConfig::*field) {
  return [=](const RawValue& raw, LaunchConfig& c) -> absl::Status {
    c.*field = ParseDuplicateFilters(raw.value);
    return absl::OkStatus();
  };
}

// Any non-empty text; `expected` is the message for an empty one.
ApplyOption TextField(std::string LaunchConfig::*field, const char* expected) {
  return [=](const RawValue& raw, LaunchConfig& c) -> absl::Status {
    if (raw.value.empty()) return InvalidValue(raw, expected);
    c.*field = raw.value;
    return absl::OkStatus();
  };
}

ApplyOption SetTrue(bool LaunchConfig::*field) {
  return [=](const RawValue&, LaunchConfig& c) -> absl::Status {
    c.*field = true;
    return absl::OkStatus();
  };
}

// Setters of the options with their own rules.

absl::Status ApplyNprocPerNode(const RawValue& raw, LaunchConfig& c) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "auto") {
    c.nproc_mode = NprocMode::kAuto;
  } else if (v == "gpu") {
    c.nproc_mode = NprocMode::kGpu;
  } else if (v == "cpu") {
    c.nproc_mode = NprocMode::kCpu;
  } else if (v == "xpu") {
    c.nproc_mode = NprocMode::kXpu;
  } else {
    int n = 0;
    if (!absl::SimpleAtoi(v, &n) || n < 1 || n > 4096) {
      return InvalidValue(raw,
                          "expected a count in 1..4096, auto, gpu, cpu or xpu");
    }
    c.nproc_per_node = n;
  }
  // ResolveNprocPerNode fills it in from the host.
  if (c.nproc_mode != NprocMode::kCount) c.nproc_per_node = 0;
  return absl::OkStatus();
}

absl::Status ApplyNnodes(const RawValue& raw, LaunchConfig& c) {
  std::vector<std::string> parts = absl::StrSplit(raw.value, ':');
  int lo = 0;
  int hi = 0;
  bool ok = false;
  if (parts.size() == 1) {
    ok = absl::SimpleAtoi(parts[0], &lo);
    hi = lo;
  } else if (parts.size() == 2) {
    ok = absl::SimpleAtoi(parts[0], &lo) && absl::SimpleAtoi(parts[1], &hi);
  }
  if (!ok || lo < 1 || hi < lo || hi > 100000) {
    return InvalidValue(raw, "expected N or MIN:MAX with 1 <= MIN <= MAX");
  }
  c.min_nodes = lo;
  c.max_nodes = hi;
  return absl::OkStatus();
}

// After --nnodes in the table: checks against its MAX.
absl::Status ApplyNodeRank(const RawValue& raw, LaunchConfig& c) {
  ASSIGN_OR_RETURN(int rank, ParseIntIn(raw, 0, 99999));
  if (rank >= c.max_nodes) {
    return InvalidValue(
        raw, absl::StrCat("must be below the number of nodes (--nnodes max ",
                          c.max_nodes, ")"));
  }
  c.node_rank = rank;
  return absl::OkStatus();
}

// `default_port` 0: the port is required (a TCPStore listener has no usual
// port).
ApplyOption EndpointField(std::optional<Endpoint> LaunchConfig::*field,
                          int default_port) {
  return [=](const RawValue& raw, LaunchConfig& c) -> absl::Status {
    absl::StatusOr<Endpoint> endpoint = ParseEndpoint(raw.value, default_port);
    if (!endpoint.ok()) return InvalidValue(raw, endpoint.status().message());
    c.*field = *std::move(endpoint);
    return absl::OkStatus();
  };
}

absl::Status ApplyRdzvId(const RawValue& raw, LaunchConfig& c) {
  // The id is a key prefix ("<run_id>/a<N>/..."): no '/' in it.
  if (raw.value.empty() || raw.value.find('/') != std::string::npos ||
      raw.value.size() > 128) {
    return InvalidValue(
        raw, "expected a non-empty id of at most 128 characters without '/'");
  }
  c.rdzv_id = raw.value;
  return absl::OkStatus();
}

// Before --rdzv-endpoint in the table: the backend decides how its value
// reads.
absl::Status ApplyRdzvBackend(const RawValue& raw, LaunchConfig& c) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "etcd-v3" || v == "etcd") {
    c.rdzv_backend = RdzvBackend::kEtcdV3;
  } else if (v == "c10d" || v == "static" || v == "tprdzv") {
    c.rdzv_backend = RdzvBackend::kTprdzv;
  } else {
    return InvalidValue(raw,
                        "accepted values are c10d, static and tprdzv (all "
                        "rendezvous through tprdzvd) and etcd-v3 (alias etcd: "
                        "an etcd v3 cluster, docs/etcd.md); etcd-v2 is not "
                        "supported (etcd 3.6 removed its API)");
  }
  return absl::OkStatus();
}

// One tprdzvd HOST[:PORT], or with --rdzv-backend etcd-v3 the cluster's
// members as a comma list (rdzv_endpoint is then the first).
absl::Status ApplyRdzvEndpoint(const RawValue& raw, LaunchConfig& c) {
  if (c.rdzv_backend == RdzvBackend::kEtcdV3) {
    absl::StatusOr<std::vector<Endpoint>> members =
        ParseEtcdEndpoints(raw.value);
    if (!members.ok()) return InvalidValue(raw, members.status().message());
    c.etcd_endpoints = *std::move(members);
    c.rdzv_endpoint = c.etcd_endpoints.front();
    return absl::OkStatus();
  }
  absl::StatusOr<Endpoint> endpoint =
      ParseEndpoint(raw.value, kDefaultRendezvousPort);
  if (!endpoint.ok()) {
    return InvalidValue(raw,
                        absl::StrCat(endpoint.status().message(),
                                     absl::StrContains(raw.value, ',')
                                         ? " (a comma list of members needs "
                                           "--rdzv-backend etcd-v3)"
                                         : ""));
  }
  c.rdzv_endpoint = *std::move(endpoint);
  return absl::OkStatus();
}

// etcd's TLS and auth keys of --rdzv-conf: the etcd client does not speak
// TLS or authenticate yet, and a job must never run in plain text or
// unauthenticated when it asked not to, so they are refused, not ignored.
// protocol=http (the default) is accepted.
std::optional<absl::Status> EtcdConfKey(const std::string& key,
                                        const RawValue& item) {
  if (key == "protocol") {
    if (absl::AsciiStrToLower(item.value) == "http") return absl::OkStatus();
    return InvalidValue(item,
                        "only http: tplaunch's etcd client does not speak TLS "
                        "yet (docs/etcd.md#limits)");
  }
  if (key == "cacert" || key == "cert" || key == "key" || key == "user" ||
      key == "password_file") {
    return InvalidValue(item,
                        "etcd TLS (cacert, cert, key) and auth (user, "
                        "password_file) are not supported yet: tplaunch's etcd "
                        "client connects in plain text without a user "
                        "(docs/etcd.md#limits)");
  }
  return std::nullopt;
}

// torchrun's RendezvousParameters.get_as_bool spellings.
absl::StatusOr<bool> ParseConfBool(const RawValue& raw) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "1" || v == "true" || v == "t" || v == "yes" || v == "y") {
    return true;
  }
  if (v == "0" || v == "false" || v == "f" || v == "no" || v == "n") {
    return false;
  }
  return InvalidValue(raw, "expected 1/true/yes or 0/false/no");
}

// After --rdzv-timeout and --rdzv-last-call in the table, so that its
// join_timeout and last_call_timeout win over them.
absl::Status ApplyRdzvConf(const RawValue& raw, LaunchConfig& c) {
  for (absl::string_view kv :
       absl::StrSplit(raw.value, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> p =
        absl::StrSplit(kv, absl::MaxSplits('=', 1));
    RawValue item{p.second, absl::StrCat(raw.source, " ", p.first)};
    if (p.first == "join_timeout") {
      ASSIGN_OR_RETURN(c.rdzv_timeout, ParseDurationIn(item, Zero::kRejected));
    } else if (p.first == "last_call_timeout") {
      ASSIGN_OR_RETURN(c.rdzv_last_call, ParseDurationIn(item, Zero::kAllowed));
    } else if (p.first == "use_libuv") {
      ASSIGN_OR_RETURN(c.use_libuv, ParseConfBool(item));
    } else if (p.first == "is_host") {
      ASSIGN_OR_RETURN(c.rdzv_is_host, ParseConfBool(item));
    } else if (std::optional<absl::Status> etcd = EtcdConfKey(p.first, item)) {
      RETURN_IF_ERROR(*etcd);
    } else if (p.first != "read_timeout" && p.first != "close_timeout" &&
               p.first != "timeout") {
      return InvalidValue(
          raw, absl::StrCat("unknown key '", p.first,
                            "'; known: join_timeout, last_call_timeout, "
                            "use_libuv, read_timeout, close_timeout, timeout, "
                            "is_host (etcd: protocol, cacert, cert, key, "
                            "user, password_file)"));
    }
  }
  return absl::OkStatus();
}

// After --nproc-per-node in the table: a plain count bounds the ranks.
absl::Status ApplyLocalRanksFilter(const RawValue& raw, LaunchConfig& c) {
  for (absl::string_view item : absl::StrSplit(raw.value, ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(item, &v) || v < 0) {
      return InvalidValue(raw,
                          "expected comma-separated local ranks such as 0,1,3");
    }
    if (c.nproc_mode == NprocMode::kCount && v >= c.nproc_per_node) {
      return InvalidValue(
          raw, absl::StrCat("local rank ", v, " does not exist with ",
                            "--nproc-per-node ", c.nproc_per_node));
    }
    c.local_ranks_filter.push_back(v);
  }
  return absl::OkStatus();
}

// An empty template is valid: it means no prefix.
absl::Status ApplyLogPrefix(const RawValue& raw, LaunchConfig& c) {
  absl::Status valid = ValidateLogPrefixTemplate(raw.value);
  if (!valid.ok()) return InvalidValue(raw, valid.message());
  c.has_log_prefix = true;
  c.log_prefix = raw.value;
  return absl::OkStatus();
}

absl::Status ApplyLocalAddr(const RawValue& raw, LaunchConfig& c) {
  std::string v = raw.value;
  if (v.size() > 2 && v.front() == '[' && v.back() == ']') {
    v = v.substr(1, v.size() - 2);
  }
  if (!IsIpLiteral(v)) {
    return InvalidValue(raw,
                        "expected an IPv4 or IPv6 address of this node "
                        "(workers bind to it, so it must be an address, "
                        "not a host name)");
  }
  c.local_addr = v;
  return absl::OkStatus();
}

absl::Status ApplyNumaBinding(const RawValue& raw, LaunchConfig& c) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "node") {
    c.numa_binding = NumaBinding::kNode;
  } else if (v == "socket") {
    c.numa_binding = NumaBinding::kSocket;
  } else if (v == "exclusive") {
    c.numa_binding = NumaBinding::kExclusive;
  } else if (v == "core-complex" || v == "core_complex") {
    c.numa_binding = NumaBinding::kCoreComplex;
  } else {
    return InvalidValue(raw,
                        "expected node, socket, exclusive or core-complex");
  }
  return absl::OkStatus();
}

absl::Status ApplySignals(const RawValue& raw, LaunchConfig& c) {
  absl::StatusOr<std::vector<int>> signals = ParseSignalList(raw.value);
  if (!signals.ok()) return InvalidValue(raw, signals.status().message());
  c.signals_to_forward = *std::move(signals);
  return absl::OkStatus();
}

absl::Status ApplyTorchStore(const RawValue& raw, LaunchConfig& c) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "worker") {
    c.torch_store = TorchStoreHost::kWorker;
  } else if (v == "agent") {
    c.torch_store = TorchStoreHost::kAgent;
  } else {
    return InvalidValue(raw, "expected worker or agent");
  }
  return absl::OkStatus();
}

// torchrun's choices; every one means a fresh process per worker here.
absl::Status ApplyStartMethod(const RawValue& raw, LaunchConfig&) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v != "spawn" && v != "fork" && v != "forkserver") {
    return InvalidValue(raw, "expected spawn, fork or forkserver");
  }
  return absl::OkStatus();
}

// torchrun loads the named `torchrun.logs_specs` entry point, a Python class;
// only its built-in one has a meaning here.
absl::Status ApplyLogsSpecs(const RawValue& raw, LaunchConfig&) {
  if (raw.value != "default") {
    return InvalidValue(raw,
                        "only 'default' (torchrun's DefaultLogsSpecs) is "
                        "accepted: tplaunch cannot load torchrun's Python "
                        "logs-specs plug-ins; its log layout is --log-dir's");
  }
  return absl::OkStatus();
}

absl::Status ApplyEventLogHandler(const RawValue& raw, LaunchConfig&) {
  if (raw.value != "null") {
    return InvalidValue(raw,
                        "only 'null' (torchrun's default) is accepted: "
                        "tplaunch emits no torchelastic events; failures are "
                        "in the console and --log-dir's error.json");
  }
  return absl::OkStatus();
}

constexpr OptionKind kValue = OptionKind::kValue;
constexpr OptionKind kFlag = OptionKind::kFlag;
using C = LaunchConfig;

}  // namespace

absl::Status InvalidValue(const RawValue& raw, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(raw.source, " '", raw.value, "': ", expected));
}

// Columns: names, kind, how the value is applied, help text, then (rarely) the
// default applied when the option is absent and torchrun's variable for it.
// Rows stay one per option and help lines stay whole (clang-format would
// break them mid-phrase); --help prints each on one line.
// clang-format off
const std::vector<OptionDef>& CommandLineOptions() {
  static const auto* options = new std::vector<OptionDef>{
      {"--nproc-per-node,--nproc_per_node,--nproc", kValue, ApplyNprocPerNode,
       "Workers on this node: N, auto (GPUs if any, else XPUs, else CPUs), gpu, cpu or xpu (Intel GPUs). Default 1."},
      {"--nnodes", kValue, ApplyNnodes,
       "Number of nodes: N or MIN:MAX (elastic). Default 1."},
      {"--node-rank,--node_rank", kValue, ApplyNodeRank,
       "This node's rank (0..MAX-1). Default: assigned by the rendezvous in a stable order (hostname, address)."},
      {"--rdzv-backend,--rdzv_backend", kValue, ApplyRdzvBackend,
       "c10d, static or tprdzv (all use tprdzvd; torchrun compatibility), or etcd-v3 (alias etcd): an etcd v3 cluster at --rdzv-endpoint (docs/etcd.md)."},
      {"--rdzv-endpoint,--rdzv_endpoint", kValue, ApplyRdzvEndpoint,
       "tprdzvd address HOST[:PORT] (port 29400; IPv6 as [ADDR]:PORT); with --rdzv-backend etcd-v3 the etcd members H1[:PORT],H2[:PORT],... (port 2379). Omit for a single-node job with an embedded server."},
      {"--rdzv-id,--rdzv_id", kValue, ApplyRdzvId,
       "Job (run) id shared by all nodes. Required with --rdzv-endpoint; random when standalone."},
      {"--standalone", kFlag, SetTrue(&C::standalone),
       "Single node with an embedded rendezvous server on 127.0.0.1 (the default without --rdzv-endpoint)."},
      {"--rdzv-timeout,--rdzv_timeout", kValue, DurationField(&C::rdzv_timeout, Zero::kRejected),
       "How long joining the rendezvous may take. Default 600s."},
      {"--rdzv-last-call,--rdzv_last_call", kValue, DurationField(&C::rdzv_last_call, Zero::kAllowed),
       "With --nnodes MIN:MAX: how long to wait for more nodes once MIN have joined. Default 30s."},
      {"--rdzv-conf,--rdzv_conf", kValue, ApplyRdzvConf,
       "torchrun's K=V,... : join_timeout and last_call_timeout map to --rdzv-timeout and --rdzv-last-call (and win over them); use_libuv=0|1 reaches the workers as USE_LIBUV; read_timeout and close_timeout are accepted and ignored; is_host=true|false forces whether this node hosts --rdzv-endpoint itself (default: the node whose address HOST is hosts it when nothing serves the port); etcd: protocol=http only, cacert/cert/key/user/password_file are refused (not supported yet)."},
      {"--max-restarts,--max_restarts", kValue, IntField(&C::max_restarts, 0, 1000000),
       "Restart all workers on all nodes as a new attempt up to this many times. Default 0."},
      {"--monitor-interval,--monitor_interval", kValue, DurationField(&C::monitor_interval, Zero::kRejected),
       "Accepted for torchrun compatibility; tplaunch reacts to worker exits at once."},
      {"--start-method,--start_method", kValue, ApplyStartMethod,
       "torchrun's spawn, fork or forkserver: accepted, all alike, since tplaunch starts every worker as a fresh process (fork and exec)."},
      {"--event-log-handler,--event_log_handler", kValue, ApplyEventLogHandler,
       "torchrun's event handler: only null, its default, is accepted (tplaunch emits no torchelastic events)."},
      {"--log-dir,--log_dir", kValue, TextField(&C::log_dir, "expected a directory"),
       "Directory for per attempt and rank logs: DIR/RUN_ID/attempt_N/rank_R/{stdout,stderr}.log, DIR/RUN_ID/error.json."},
      {"-t,--tee", kValue, StreamsField(&C::tee),
       "Streams written to the console and to log files: 0/none 1/stdout 2/stderr 3/all, or per local rank as torchrun's 0:1,1:2 (ranks not named: none)."},
      {"-r,--redirects", kValue, StreamsField(&C::redirects),
       "Streams written to log files only (not the console, unless also in --tee): 0/none 1/stdout 2/stderr 3/all, or per local rank as 0:1,1:2."},
      {"--local-ranks-filter,--local_ranks_filter", kValue, ApplyLocalRanksFilter,
       "Comma-separated local ranks whose output reaches the console. Default all."},
      {"--logs-specs,--logs_specs", kValue, ApplyLogsSpecs,
       "torchrun's logs-specs plug-in: only default is accepted (the layout is --log-dir's)."},
      {"--log-prefix,--log_prefix,--log-line-prefix-template,--log_line_prefix_template", kValue, ApplyLogPrefix,
       "Console line prefix template (torchrun's --log-line-prefix-template); fields ${rank} ${local_rank} ${node_rank} ${role_name} ${host} (or ${hostname}) ${attempt}, also as $rank. Default '[rank${rank}]:' ('[${host} rank${rank}]:' on several nodes). Not added to a line that already starts with it or with PyTorch's own [rankN]:. Also read from TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE.",
       nullptr, "TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE"},
      {"--duplicate-stdout-filters,--duplicate_stdout_filters", kValue, FiltersField(&C::duplicate_stdout_filters),
       "Comma-separated strings (',,' for a comma): stdout lines containing any are also written to RUN_DIR/attempt_N/filtered_stdout.log, of the streams that go to the console and to files (--tee, or all under --log-dir)."},
      {"--duplicate-stderr-filters,--duplicate_stderr_filters", kValue, FiltersField(&C::duplicate_stderr_filters),
       "As --duplicate-stdout-filters, for stderr: RUN_DIR/attempt_N/filtered_stderr.log."},
      {"--role", kValue, TextField(&C::role, "expected a non-empty role name"),
       "ROLE_NAME of the workers. Default 'default'."},
      {"--scheduler", kValue, [](const RawValue& r, C& c) { absl::Status s = ParseSchedulerChoice(r.value, &c.scheduler); return s.ok() ? s : InvalidValue(r, s.message()); },
       "Whose variables fill in what the command line leaves open: auto (the first of Slurm, MPI, Kubernetes found), slurm, kubernetes, mpi or none (ignore them all). Default auto. See docs/schedulers.md."},
      {"--master-addr,--master_addr", kValue, TextField(&C::master_addr, "expected a host name or address"),
       "MASTER_ADDR for the workers. Default: node 0's address."},
      {"--master-port,--master_port", kValue, IntField(&C::master_port, 0, 65535),
       "MASTER_PORT for the workers. Default: a free port reserved on node 0 for each attempt (29500 with --master-addr)."},
      {"--local-addr,--local_addr", kValue, ApplyLocalAddr,
       "This node's address as other nodes reach it (TPLAUNCH_LOCAL_ADDR). Default: the address of the interface that routes to the rendezvous endpoint."},
      {"--virtual-local-rank,--virtual_local_rank", kFlag, SetTrue(&C::virtual_local_rank),
       "Every worker gets LOCAL_RANK=0 and CUDA_VISIBLE_DEVICES narrowed to its own device (item LOCAL_RANK of the inherited list, or the local rank when unset)."},
      {"--numa-binding,--numa_binding", kValue, ApplyNumaBinding,
       "Bind each worker's CPUs near its GPU (hwloc): node, socket, exclusive (a share of the node's cores) or core-complex (one L3 domain). Without GPU topology: local ranks round-robin over NUMA nodes."},
      {"--grace-period,--grace_period,--shutdown-timeout,--shutdown_timeout", kValue, DurationField(&C::grace_period, Zero::kAllowed),
       "SIGTERM to SIGKILL delay when stopping workers (torchrun's --shutdown-timeout). Default 30s. Also read from TORCH_ELASTIC_SHUTDOWN_TIMEOUT.",
       nullptr, "TORCH_ELASTIC_SHUTDOWN_TIMEOUT"},
      {"--signals-to-forward,--signals_to_forward,--signals-to-handle,--signals_to_handle", kValue, ApplySignals,
       "Signals forwarded to every worker's process group, and given to workers as TORCHELASTIC_SIGNALS_TO_HANDLE. Default TERM,INT,HUP,QUIT,USR1,USR2 (torchrun's: the first four).",
       "TERM,INT,HUP,QUIT,USR1,USR2"},
      {"--heartbeat-interval,--heartbeat_interval", kValue, DurationField(&C::heartbeat_interval, Zero::kRejected),
       "How often a node heartbeats. Default 1s."},
      {"--heartbeat-timeout,--heartbeat_timeout", kValue, DurationField(&C::heartbeat_timeout, Zero::kRejected),
       "A node silent this long is declared dead and every node stops. Default 5s."},
      {"--store-outage-timeout,--store_outage_timeout", kValue, DurationField(&C::store_outage_timeout, Zero::kRejected),
       "How long workers keep running while the rendezvous store does not answer before every node fails naming it. Default 60s."},
      {"--on-daemon-restart,--on_daemon_restart", kValue,
       [](const RawValue& raw, LaunchConfig& c) -> absl::Status {
         const std::string v = absl::AsciiStrToLower(raw.value);
         if (v == "restart") {
           c.on_daemon_restart = C::DaemonRestart::kRestart;
         } else if (v == "ride-through") {
           c.on_daemon_restart = C::DaemonRestart::kRideThrough;
         } else {
           return InvalidValue(raw, "expected restart or ride-through");
         }
         return absl::OkStatus();
       },
       "When tprdzvd restarts without the job's state (no --state-dir: a new incarnation): restart (every node ends the attempt; a new attempt within --max-restarts, else exit 1 naming the restart) or ride-through (keep running, re-assert the attempt's keys; not with --torch-store agent and --rdzv-endpoint). Default restart."},
      {"--exit-barrier-timeout,--exit_barrier_timeout", kValue, DurationField(&C::exit_barrier_timeout, Zero::kAllowed),
       "On success, how long to wait for the other nodes to finish. Default 300s."},
      {"--token-file,--token_file", kValue, TextField(&C::token_file, "expected a file name"),
       "File with the rendezvous daemon's bearer token."},
      {"--torch-store,--torch_store", kValue, ApplyTorchStore,
       "Who hosts PyTorch's TCPStore: worker (rank 0, PyTorch's default) or agent (the rendezvous server's TCPStore listener; workers get TORCHELASTIC_USE_AGENT_STORE=True)."},
      {"--torch-store-endpoint,--torch_store_endpoint", kValue, EndpointField(&C::torch_store_endpoint, 0),
       "With --torch-store agent and --rdzv-endpoint: HOST:PORT of tprdzvd's TCPStore listener, as its 'torch store listening on' line prints it (tprdzvd --torch-store-port). Without it: the listener of the node hosting --rdzv-endpoint."},
      {"--http-port,--http_port", kValue, IntField(&C::http_port, 0, 65535),
       "Serve the live view (docs/observability.md) of the rendezvous server this launcher embeds (standalone, or hosting --rdzv-endpoint) on port N (0 picks one; prints 'http listening on HOST:PORT'). A usage error on a node that embeds no server. Default off."},
      {"--http-host,--http_host", kValue, TextField(&C::http_host, "expected an address"),
       "With --http-port: the address the live view binds. Default: the embedded server's (127.0.0.1 standalone)."},
      {"-m,--module", kFlag, SetTrue(&C::module),
       "PROGRAM is a Python module: run PYTHON -u -m PROGRAM ARGS (PYTHON: $PYTHON_EXEC, else python3 on PATH)."},
      {"--no-python,--no_python", kFlag, SetTrue(&C::no_python),
       "Run PROGRAM exactly as given, even a .py file or a file without execute permission (which otherwise run through PYTHON -u)."},
      {"--run-path,--run_path", kFlag, SetTrue(&C::run_path),
       "Run PROGRAM as a Python script (PYTHON -u PROGRAM) whatever its name; wins over --no-python, as in torchrun."},
  };
  return *options;
}
// clang-format on

std::string CanonicalName(const OptionDef& def) {
  for (absl::string_view name : absl::StrSplit(def.names, ',')) {
    if (absl::StartsWith(name, "--")) return std::string(name);
  }
  return def.names;
}

std::string EnvName(const OptionDef& def) {
  std::string name = CanonicalName(def).substr(2);
  std::replace(name.begin(), name.end(), '-', '_');
  return absl::StrCat("TPLAUNCH_", absl::AsciiStrToUpper(name));
}

}  // namespace tplaunch
