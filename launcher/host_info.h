// host_info: facts about this host the launcher needs (name, CPUs, GPUs,
// addresses, free ports). Thin wrappers over system calls.
#ifndef TPLAUNCH_LAUNCHER_HOST_INFO_H_
#define TPLAUNCH_LAUNCHER_HOST_INFO_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "store/endpoint.h"

namespace tplaunch {

std::string Hostname();

// CPUs this process may run on (sched_getaffinity), at least 1.
int CpuCount();

// NVIDIA GPUs visible: entries of /proc/driver/nvidia/gpus, limited by
// CUDA_VISIBLE_DEVICES in `env` when set. 0 without a driver.
int GpuCount(const std::map<std::string, std::string>& env);

// The local address of the interface that routes to `endpoint` (a UDP socket
// connected to it, then getsockname: no packet is sent). Unlike a lookup of the
// host name, this never yields 127.0.1.1. Errors: Unavailable naming the
// endpoint.
absl::StatusOr<std::string> RoutableAddressTowards(const Endpoint& endpoint);

// A currently free TCP port on `addr` (bind to port 0, read it, close). Errors:
// Unavailable naming the address.
absl::StatusOr<int> PickFreePort(const std::string& addr);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_HOST_INFO_H_
