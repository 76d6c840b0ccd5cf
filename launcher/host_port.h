// host_port: parsing "HOST[:PORT]" endpoints, IPv6 included ("[::1]:29400").
#ifndef TPLAUNCH_LAUNCHER_HOST_PORT_H_
#define TPLAUNCH_LAUNCHER_HOST_PORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

struct HostPort {
  std::string host;  // Without brackets ("::1", "10.0.0.1", "node-a").
  int port = 0;

  // "host:port", with brackets around IPv6 literals ("[::1]:29400").
  std::string ToString() const;
};

// Accepts "host", "host:port", "[v6]", "[v6]:port" and a bare IPv6 literal
// ("::1", which cannot carry a port). A missing port is `default_port`.
// InvalidArgument names the text and what is wrong with it (empty host, port
// not in 1..65535, stray bracket).
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text,
                                       int default_port);

// Whether text is an IPv4 or IPv6 literal (no brackets).
bool IsIpLiteral(absl::string_view text);

// Brackets an IPv6 literal for use in "addr:port"; returns other hosts
// unchanged.
std::string BracketHost(absl::string_view host);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_HOST_PORT_H_
