// The "is HOST mine" decision (pure), the bind address, and PortInUse against
// real sockets on 127.0.0.1.
#include "launcher/topology/hosting.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tplaunch {
namespace {

TEST_CASE("is_host wins; otherwise a local HOST hosts if the port is free") {
  CHECK(DecideHosting(std::nullopt, true) == HostingRole::kHostIfFree);
  CHECK(DecideHosting(std::nullopt, false) == HostingRole::kClient);
  CHECK(DecideHosting(true, false) == HostingRole::kHost);
  CHECK(DecideHosting(true, true) == HostingRole::kHost);
  CHECK(DecideHosting(false, true) == HostingRole::kClient);
  CHECK(DecideHosting(false, false) == HostingRole::kClient);
}

TEST_CASE("loopback addresses: 127/8, ::1 and IPv4-mapped 127.x") {
  for (const char* a : {"127.0.0.1", "127.0.1.1", "127.255.0.9", "::1",
                        "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
    INFO(a);
    CHECK(IsLoopbackAddress(a));
  }
  for (const char* a : {"10.0.0.1", "128.0.0.1", "::", "::2", "fe80::1",
                        "::ffff:10.0.0.1", "localhost", ""}) {
    INFO(a);
    CHECK_FALSE(IsLoopbackAddress(a));
  }
}

TEST_CASE("canonical forms") {
  CHECK(CanonicalAddress("::ffff:10.0.0.1") == "10.0.0.1");
  CHECK(CanonicalAddress("fd00:0:0::2") == "fd00::2");
  CHECK(CanonicalAddress("10.0.0.1") == "10.0.0.1");
  CHECK(CanonicalAddress("node-a") == "node-a");
}

TEST_CASE(
    "HOST is mine when one of its addresses is loopback or an interface's") {
  const std::vector<std::string> mine = {"127.0.0.1", "10.1.2.3", "fd00::5",
                                         "::1"};
  CHECK(AddressesAreLocal({"10.1.2.3"}, mine));
  CHECK(AddressesAreLocal({"192.168.0.7", "10.1.2.3"}, mine));
  CHECK(AddressesAreLocal({"fd00:0::5"}, mine));
  CHECK(AddressesAreLocal({"::ffff:10.1.2.3"}, mine));
  // Debian maps the host name to 127.0.1.1: loopback is always this machine.
  CHECK(AddressesAreLocal({"127.0.1.1"}, {}));
  CHECK(AddressesAreLocal({"::1"}, {}));
  CHECK_FALSE(AddressesAreLocal({"10.1.2.4"}, mine));
  CHECK_FALSE(AddressesAreLocal({"fd00::6"}, mine));
  CHECK_FALSE(AddressesAreLocal({}, mine));
}

TEST_CASE("the bind address: literals as given, localhost, else the wildcard") {
  CHECK(HostingBindAddress("10.1.2.3", {"10.1.2.3"}) == "10.1.2.3");
  CHECK(HostingBindAddress("::1", {"::1"}) == "::1");
  CHECK(HostingBindAddress("localhost", {"::1", "127.0.0.1"}) == "127.0.0.1");
  CHECK(HostingBindAddress("LocalHost", {}) == "127.0.0.1");
  CHECK(HostingBindAddress("node0", {"127.0.1.1"}) == "0.0.0.0");
  CHECK(HostingBindAddress("node0", {"fd00::1", "10.0.0.1"}) == "0.0.0.0");
  CHECK(HostingBindAddress("node6", {"fd00::1"}) == "::");
}

TEST_CASE("resolving: a literal is itself, localhost is loopback") {
  auto literal = ResolveHostAddresses("::ffff:127.0.0.1");
  REQUIRE(literal.ok());
  CHECK(*literal == std::vector<std::string>{"127.0.0.1"});
  auto localhost = ResolveHostAddresses("localhost");
  REQUIRE(localhost.ok());
  REQUIRE_FALSE(localhost->empty());
  for (const std::string& a : *localhost) CHECK(IsLoopbackAddress(a));
  auto mine = LocalInterfaceAddresses();
  REQUIRE(mine.ok());
  CHECK(AddressesAreLocal(*localhost, *mine));
  auto bad = ResolveHostAddresses("no-such-host.invalid");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()),
             Catch::Contains("no-such-host.invalid"));
}

// A socket listening on 127.0.0.1, port 0.
struct Socket {
  Socket() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(listen(fd, 1) == 0);
    socklen_t len = sizeof(a);
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~Socket() { close(fd); }
  int fd = -1;
  int port = 0;
};

TEST_CASE("PortInUse: a listening port is taken, a closed one is free") {
  int port = 0;
  {
    Socket listening;
    port = listening.port;
    auto taken = PortInUse("127.0.0.1", port);
    REQUIRE(taken.ok());
    CHECK(*taken);
    // The wildcard overlaps every address of the port.
    auto wildcard = PortInUse("0.0.0.0", port);
    REQUIRE(wildcard.ok());
    CHECK(*wildcard);
  }
  auto free = PortInUse("127.0.0.1", port);
  REQUIRE(free.ok());
  CHECK_FALSE(*free);
  auto bad = PortInUse("not-an-address", port);
  CHECK_FALSE(bad.ok());
  // Not an address of this machine: an error naming it, not "taken".
  auto foreign = PortInUse("192.0.2.1", port);
  REQUIRE_FALSE(foreign.ok());
  CHECK_THAT(std::string(foreign.status().message()),
             Catch::Contains("192.0.2.1"));
}

}  // namespace
}  // namespace tplaunch
