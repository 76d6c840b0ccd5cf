// ParseEtcdEndpoints: an etcd cluster as users write it, a comma list of
// members "h1:2379,h2:2379,[fd00::3]:2379" (each HOST[:PORT] as ParseEndpoint
// takes it, IPv6 in brackets; 2379 when the port is omitted), with an optional
// "etcd-v3://" or "etcd://" scheme in front, as a worker's
// TPLAUNCH_RDZV_ENDPOINT would carry it.
#ifndef TPLAUNCH_STORE_ETCD_ENDPOINT_LIST_H_
#define TPLAUNCH_STORE_ETCD_ENDPOINT_LIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/endpoint.h"

namespace tplaunch {

// InvalidArgument naming the text and the member at fault: an empty list or
// member, a bad HOST[:PORT], or the same member twice.
absl::StatusOr<std::vector<Endpoint>> ParseEtcdEndpoints(
    absl::string_view text);

// "etcd-v3://h1:2379,h2:2379": the form ParseEtcdEndpoints reads back.
std::string EtcdEndpointsUrl(const std::vector<Endpoint>& endpoints);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_ENDPOINT_LIST_H_
