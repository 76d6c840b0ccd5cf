#include "store/endpoint.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

constexpr size_t kMaxHostLength = 253;

// The hint says whether the port may be left out, and what it then is.
absl::Status Bad(absl::string_view text, int default_port,
                 absl::string_view why) {
  const std::string expected =
      default_port == 0
          ? std::string("expected HOST:PORT or [IPV6]:PORT")
          : absl::StrCat("expected HOST[:PORT] or [IPV6]:PORT (default port ",
                         default_port, ")");
  return absl::InvalidArgumentError(absl::StrCat(
      "endpoint '", absl::CHexEscape(text), "': ", why, "; ", expected));
}

bool IsHostnameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_' || c == '.';
}

// Digits only: SimpleAtoi alone would take "+80" and " 80".
absl::StatusOr<int> ParsePort(absl::string_view text, int default_port,
                              absl::string_view port) {
  int value = 0;
  bool digits = !port.empty();
  for (char c : port) {
    digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  }
  if (!digits || !absl::SimpleAtoi(port, &value) || value < 1 ||
      value > 65535) {
    return Bad(text, default_port,
               absl::StrCat("port '", absl::CHexEscape(port),
                            "' is not a number in 1..65535"));
  }
  return value;
}

absl::Status CheckHost(absl::string_view text, int default_port,
                       absl::string_view host) {
  if (host.empty()) return Bad(text, default_port, "the host is empty");
  if (host.size() > kMaxHostLength) {
    return Bad(
        text, default_port,
        absl::StrCat("the host is longer than ", kMaxHostLength, " bytes"));
  }
  if (IsIpLiteral(host)) return absl::OkStatus();
  for (char c : host) {
    if (!IsHostnameChar(c)) {
      return Bad(text, default_port,
                 "the host has a character that is not a letter, digit, "
                 "'-', '_' or '.'");
    }
  }
  if (host.front() == '-' || host.front() == '.') {
    return Bad(text, default_port, "the host starts with '-' or '.'");
  }
  return absl::OkStatus();
}

}  // namespace

std::string Endpoint::ToString() const {
  // A node-local store proxy's "unix:/path" (port 0) is its own gRPC target.
  if (host.rfind("unix:", 0) == 0) return host;
  return JoinHostPort(host, port);
}

bool IsIpLiteral(absl::string_view text) {
  std::string s(text);
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string JoinHostPort(absl::string_view host, int port) {
  if (host.find(':') != absl::string_view::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view text,
                                       int default_port) {
  if (text.empty()) return Bad(text, default_port, "it is empty");
  Endpoint out;
  absl::string_view port_text;
  bool has_port = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return Bad(text, default_port, "'[' without a closing ']'");
    }
    out.host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Bad(text, default_port,
                   absl::StrCat("expected ':PORT' after ']', got '",
                                absl::CHexEscape(rest), "'"));
      }
      has_port = true;
      port_text = rest.substr(1);
    }
    if (out.host.empty()) return Bad(text, default_port, "the host is empty");
    if (out.host.find(':') == std::string::npos || !IsIpLiteral(out.host)) {
      return Bad(text, default_port,
                 absl::StrCat("'", absl::CHexEscape(out.host),
                              "' inside brackets is not an IPv6 "
                              "address"));
    }
  } else {
    const size_t first = text.find(':');
    if (first != absl::string_view::npos &&
        text.find(':', first + 1) != absl::string_view::npos) {
      // Several colons and no brackets: only a bare IPv6 address, which cannot
      // carry a port.
      if (!IsIpLiteral(text)) {
        return Bad(text, default_port,
                   "neither HOST:PORT nor an IPv6 address (write IPv6 "
                   "with a port as [ADDR]:PORT)");
      }
      out.host = std::string(text);
    } else {
      out.host = std::string(text.substr(0, first));
      if (first != absl::string_view::npos) {
        has_port = true;
        port_text = text.substr(first + 1);
      }
      if (absl::Status s = CheckHost(text, default_port, out.host); !s.ok())
        return s;
    }
  }
  if (has_port) {
    absl::StatusOr<int> port = ParsePort(text, default_port, port_text);
    if (!port.ok()) return port.status();
    out.port = *port;
  } else if (default_port == 0) {
    return Bad(text, default_port, "the port is missing");
  } else {
    out.port = default_port;
  }
  return out;
}

}  // namespace tplaunch
