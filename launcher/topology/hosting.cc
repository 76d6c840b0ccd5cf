#include "launcher/topology/hosting.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "store/endpoint.h"

namespace tplaunch {
namespace {

// inet_ntop of an IPv4 or IPv6 socket address, IPv4-mapped IPv6 as IPv4;
// "" for other families.
std::string AddressText(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return text;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    return CanonicalAddress(text);
  }
  return "";
}

bool IsIpv6Literal(absl::string_view address) {
  in6_addr a6;
  return inet_pton(AF_INET6, std::string(address).c_str(), &a6) == 1;
}

}  // namespace

HostingRole DecideHosting(std::optional<bool> is_host, bool host_is_local) {
  if (is_host.has_value()) {
    return *is_host ? HostingRole::kHost : HostingRole::kClient;
  }
  return host_is_local ? HostingRole::kHostIfFree : HostingRole::kClient;
}

std::string CanonicalAddress(absl::string_view address) {
  const std::string text(address);
  in_addr a4;
  if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    char out[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a4, out, sizeof(out));
    return out;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    char out[INET6_ADDRSTRLEN] = {};
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      inet_ntop(AF_INET, &a6.s6_addr[12], out, sizeof(out));
    } else {
      inet_ntop(AF_INET6, &a6, out, sizeof(out));
    }
    return out;
  }
  return text;
}

bool IsLoopbackAddress(absl::string_view address) {
  const std::string canonical = CanonicalAddress(address);
  in_addr a4;
  if (inet_pton(AF_INET, canonical.c_str(), &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127;
  }
  in6_addr a6;
  return inet_pton(AF_INET6, canonical.c_str(), &a6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&a6);
}

bool AddressesAreLocal(const std::vector<std::string>& host_addresses,
                       const std::vector<std::string>& local_addresses) {
  std::vector<std::string> local;
  for (const std::string& a : local_addresses) {
    local.push_back(CanonicalAddress(a));
  }
  for (const std::string& a : host_addresses) {
    if (IsLoopbackAddress(a)) return true;
    if (std::find(local.begin(), local.end(), CanonicalAddress(a)) !=
        local.end()) {
      return true;
    }
  }
  return false;
}

std::string HostingBindAddress(absl::string_view host,
                               const std::vector<std::string>& host_addresses) {
  if (IsIpLiteral(host)) return std::string(host);
  if (absl::AsciiStrToLower(host) == "localhost") return "127.0.0.1";
  const bool only_v6 =
      !host_addresses.empty() &&
      std::all_of(host_addresses.begin(), host_addresses.end(),
                  [](const std::string& a) { return IsIpv6Literal(a); });
  return only_v6 ? "::" : "0.0.0.0";
}

absl::StatusOr<std::vector<std::string>> ResolveHostAddresses(
    const std::string& host) {
  if (IsIpLiteral(host))
    return std::vector<std::string>{CanonicalAddress(host)};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(rc)));
  }
  std::vector<std::string> out;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    std::string text = AddressText(ai->ai_addr);
    if (!text.empty() && std::find(out.begin(), out.end(), text) == out.end()) {
      out.push_back(std::move(text));
    }
  }
  freeaddrinfo(found);
  return out;
}

absl::StatusOr<std::vector<std::string>> LocalInterfaceAddresses() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return absl::InternalError(
        absl::StrCat("getifaddrs: ", std::strerror(errno)));
  }
  std::vector<std::string> out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    std::string text = AddressText(i->ifa_addr);
    if (!text.empty()) out.push_back(std::move(text));
  }
  freeifaddrs(list);
  return out;
}

absl::StatusOr<bool> PortInUse(const std::string& bind_address, int port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, bind_address.c_str(), &a4) == 1) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    in->sin_family = AF_INET;
    in->sin_addr = a4;
    in->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, bind_address.c_str(), &a6) == 1) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = a6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IP address to bind: \"", bind_address, "\""));
  }
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("socket: ", std::strerror(errno)));
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  const int err = errno;
  close(fd);
  if (rc == 0) return false;
  if (err == EADDRINUSE) return true;
  return absl::UnavailableError(absl::StrCat("cannot bind ",
                                             JoinHostPort(bind_address, port),
                                             ": ", std::strerror(err)));
}

}  // namespace tplaunch
