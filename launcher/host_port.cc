#include "launcher/host_port.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

absl::StatusOr<int> ParsePort(absl::string_view endpoint,
                              absl::string_view text) {
  int port = 0;
  if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint '", endpoint, "': port '", text,
                     "' is not a number in 1..65535"));
  }
  return port;
}

}  // namespace

std::string HostPort::ToString() const {
  return absl::StrCat(BracketHost(host), ":", port);
}

bool IsIpLiteral(absl::string_view text) {
  std::string s(text);
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string BracketHost(absl::string_view host) {
  if (host.find(':') != absl::string_view::npos) {
    return absl::StrCat("[", host, "]");
  }
  return std::string(host);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text,
                                       int default_port) {
  HostPort out;
  out.port = default_port;
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "endpoint is empty; expected HOST[:PORT]");
  }
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint '", text,
                       "': '[' without a closing ']' (IPv6: [::1]:29400)"));
    }
    out.host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("endpoint '", text,
                         "': expected ':PORT' after ']', got '", rest, "'"));
      }
      auto port = ParsePort(text, rest.substr(1));
      if (!port.ok()) return port.status();
      out.port = *port;
    }
    if (out.host.empty() || !IsIpLiteral(out.host) ||
        out.host.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint '", text, "': '", out.host,
                       "' inside brackets is not an IPv6 address"));
    }
    return out;
  }
  size_t first = text.find(':');
  if (first != absl::string_view::npos &&
      text.find(':', first + 1) != absl::string_view::npos) {
    // Several colons and no brackets: a bare IPv6 address, which cannot carry a
    // port.
    if (!IsIpLiteral(text)) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint '", text,
                       "' is neither HOST:PORT nor an IPv6 address; write IPv6 "
                       "with a port as "
                       "[ADDR]:PORT"));
    }
    out.host = std::string(text);
    return out;
  }
  if (first == absl::string_view::npos) {
    out.host = std::string(text);
  } else {
    out.host = std::string(text.substr(0, first));
    auto port = ParsePort(text, text.substr(first + 1));
    if (!port.ok()) return port.status();
    out.port = *port;
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint '", text, "': the host is empty"));
  }
  return out;
}

}  // namespace tplaunch
