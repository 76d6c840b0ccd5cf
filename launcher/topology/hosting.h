// hosting: whether this node hosts the rendezvous server of --rdzv-endpoint
// HOST:PORT in its own tplaunch (torchrun's c10d is_host), as torchrun's agent
// whose address is the endpoint hosts the store.
//
//   DecideHosting   pure: --rdzv-conf is_host and "HOST is mine" give a role.
//   IsLocalHost     resolves HOST and compares it with this machine's interface
//                   addresses (getifaddrs); loopback addresses always count.
//   PortInUse       binds HOST:PORT for a moment: taken (a tprdzvd, or another
//                   node's tplaunch on this host) means join as a client.
//
// The address pieces (AddressesAreLocal, HostingBindAddress) are pure so the
// decision is unit tested without a network.
#ifndef TPLAUNCH_LAUNCHER_TOPOLOGY_HOSTING_H_
#define TPLAUNCH_LAUNCHER_TOPOLOGY_HOSTING_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// What this node does with --rdzv-endpoint.
enum class HostingRole {
  kClient,      // Dial it; someone else (a tprdzvd, another node) serves it.
  kHostIfFree,  // Serve it, unless the port is taken: then dial it.
  kHost,        // Serve it; a port that cannot be bound is an error.
};

// is_host (--rdzv-conf is_host=...; nullopt when not given) wins; otherwise a
// node hosts when HOST is one of its own addresses, if the port is free.
HostingRole DecideHosting(std::optional<bool> is_host, bool host_is_local);

// Whether `address` (an IPv4 or IPv6 literal) is a loopback address:
// 127.0.0.0/8, ::1, or an IPv4-mapped ::ffff:127.x.y.z.
bool IsLoopbackAddress(absl::string_view address);

// Whether HOST, resolved to `host_addresses`, is this machine: one of them is
// a loopback address or one of `local_addresses` (this machine's interface
// addresses). Literals are compared in their canonical form
// (CanonicalAddress), so "::ffff:10.0.0.1" matches "10.0.0.1".
bool AddressesAreLocal(const std::vector<std::string>& host_addresses,
                       const std::vector<std::string>& local_addresses);

// An IP literal in the form inet_ntop writes it, IPv4-mapped IPv6 as IPv4;
// text that is not a literal comes back unchanged.
std::string CanonicalAddress(absl::string_view address);

// The address the hosting node binds for endpoint host `host`, resolved to
// `host_addresses`: an IP literal as given; "localhost" as 127.0.0.1; any
// other name on the wildcard address ("0.0.0.0", or "::" when the name has
// only IPv6 addresses), as torchrun's store listens on every interface,
// because a name may resolve to another address on this machine (Debian maps
// the host name to 127.0.1.1) than on the nodes that dial it.
std::string HostingBindAddress(absl::string_view host,
                               const std::vector<std::string>& host_addresses);

// HOST's addresses (getaddrinfo), canonical; an IP literal is itself.
// Errors: NotFound naming the host when it does not resolve.
absl::StatusOr<std::vector<std::string>> ResolveHostAddresses(
    const std::string& host);

// This machine's interface addresses (getifaddrs), canonical. Errors: Internal
// with errno's text.
absl::StatusOr<std::vector<std::string>> LocalInterfaceAddresses();

// Whether `port` of `bind_address` is taken right now: a bind (SO_REUSEADDR,
// as the server's own, so connections in TIME_WAIT do not count) fails with
// EADDRINUSE. Errors: Unavailable naming the address and errno for any other
// bind failure (EADDRNOTAVAIL: not an address of this machine, EACCES).
absl::StatusOr<bool> PortInUse(const std::string& bind_address, int port);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_TOPOLOGY_HOSTING_H_
