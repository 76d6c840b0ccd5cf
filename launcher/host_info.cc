#include "launcher/host_info.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tplaunch {
namespace {

std::string AddrToString(const struct sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf,
              sizeof(buf));
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr,
              buf, sizeof(buf));
  }
  return buf;
}

}  // namespace

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

int CpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int GpuCount(const std::map<std::string, std::string>& env) {
  int found = 0;
  if (DIR* d = opendir("/proc/driver/nvidia/gpus")) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++found;
    }
    closedir(d);
  }
  auto it = env.find("CUDA_VISIBLE_DEVICES");
  if (found == 0 || it == env.end()) return found;
  int visible = 0;
  for (absl::string_view item :
       absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
    // CUDA stops at the first invalid entry ("-1" hides every device).
    if (item.empty() || item[0] == '-') break;
    ++visible;
  }
  return std::min(visible, found);
}

absl::StatusOr<std::string> RoutableAddressTowards(const Endpoint& endpoint) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_DGRAM;
  struct addrinfo* res = nullptr;
  std::string port = absl::StrCat(endpoint.port);
  int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve rendezvous endpoint '",
                     endpoint.ToString(), "': ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (struct addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      struct sockaddr_storage local;
      socklen_t len = sizeof(local);
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
        close(fd);
        freeaddrinfo(res);
        return AddrToString(reinterpret_cast<sockaddr*>(&local));
      }
    }
    last_error = strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  return absl::UnavailableError(
      absl::StrCat("no route to rendezvous endpoint '", endpoint.ToString(),
                   "': ", last_error, "; pass --local-addr"));
}

absl::StatusOr<int> PickFreePort(const std::string& addr) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("'", addr, "' is not an IP address"));
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    std::string err = strerror(errno);
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot reserve a port on ", addr, ": ", err));
  }
  close(fd);
  return ss.ss_family == AF_INET ? ntohs(v4->sin_port) : ntohs(v6->sin6_port);
}

}  // namespace tplaunch
