// Endpoint: a rendezvous address, "HOST[:PORT]", parsed once.
//
// Every component that takes an address from a user (tplaunch's flags,
// tprdzvctl, a worker's TPLAUNCH_RDZV_ENDPOINT or tprdzv:// init_method, a
// daemon's bind host) parses it with ParseEndpoint and then carries the typed
// value; ToString() is the one way back to text ("[v6]:port" for IPv6).
#ifndef TPLAUNCH_STORE_ENDPOINT_H_
#define TPLAUNCH_STORE_ENDPOINT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// torchrun's c10d default port, so `--rdzv-endpoint host` means the same thing
// in both.
inline constexpr int kDefaultRendezvousPort = 29400;

struct Endpoint {
  std::string host;  // Without brackets ("::1", "10.0.0.1", "node-a").
  int port = 0;      // 1..65535 once parsed.

  // "host:port", with brackets around IPv6 literals ("[::1]:29400").
  std::string ToString() const;

  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.host == b.host && a.port == b.port;
  }
  friend bool operator!=(const Endpoint& a, const Endpoint& b) {
    return !(a == b);
  }
};

// Accepts "host", "host:port", "[v6]", "[v6]:port" and a bare IPv6 literal
// ("::1", which cannot carry a port). A missing port is `default_port`; with
// default_port 0 the port is required. The host is an IP literal or a DNS
// name (letters, digits, '-', '_', '.'; at most 253 bytes). InvalidArgument
// names the text (escaped) and what is wrong with it.
absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view text,
                                       int default_port);

// Whether text is an IPv4 or IPv6 literal (no brackets).
bool IsIpLiteral(absl::string_view text);

// "host:port", bracketing an IPv6 host.
std::string JoinHostPort(absl::string_view host, int port);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ENDPOINT_H_
