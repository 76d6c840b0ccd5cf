// InitConfig: who this rank is and where its rendezvous is, resolved from
// ProcessGroupOptions and the launcher's environment. Pure: the environment is
// passed in.
#ifndef TPLAUNCH_WORKER_LIB_INIT_CONFIG_H_
#define TPLAUNCH_WORKER_LIB_INIT_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/endpoint.h"
#include "worker_lib/process_group.h"

namespace tplaunch {

// Returns the value of an environment variable, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(absl::string_view)>;

// Reads the real process environment.
EnvLookup ProcessEnvironment();

struct InitConfig {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int attempt = 0;
  // Set when a store must be connected (env:// or tprdzv://), nullopt with a
  // caller store.
  std::optional<Endpoint> rdzv_endpoint;
  // TPLAUNCH_RDZV_ENDPOINT=etcd-v3://H1:P1,H2:P2 (a launch with --rdzv-backend
  // etcd-v3): the etcd cluster's members, connected as an EtcdStore of the run
  // (rdzv_endpoint is then the first member); empty for tprdzvd.
  std::vector<Endpoint> etcd_endpoints;
  std::string run_id;
  std::string token;
  // Address Gloo binds and advertises.
  std::string local_addr = "127.0.0.1";
  // GroupPrefix(run_id, attempt, group_name) (common/key_layout.h):
  // "<run_id>/a<attempt>/w/<group_name>", "a<attempt>/w/<group_name>" with a
  // caller's store; every key of the group lives under it.
  std::string key_prefix;
};

// Resolves options against the environment. InvalidArgument names the option or
// the variable and its value; see docs/worker_lib.md for which variables each
// init_method needs.
absl::StatusOr<InitConfig> ResolveInitConfig(const ProcessGroupOptions& options,
                                             const EnvLookup& env);

// Parses "tprdzv://host:port/job" (host may be "[v6]"; port optional,
// kDefaultRendezvousPort). InvalidArgument names the URL and what is wrong.
struct RdzvUrl {
  Endpoint endpoint;
  std::string job;
};
absl::StatusOr<RdzvUrl> ParseRdzvUrl(absl::string_view url);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_INIT_CONFIG_H_
