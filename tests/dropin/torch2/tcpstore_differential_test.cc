// The TCPStore differential with PyTorch 2.x: the real client of the Debian 13
// root's PyTorch against PyTorch's own server and against the real tprdzvd's
// TCPStore listener (tcpstore_differential.py); every operation must agree,
// and use_libuv=True must fail the same way on both where the build has no
// libuv.
#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/dropin/torch2/torch2_root.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {
namespace {

using Catch::Contains;

TEST_CASE(
    "PyTorch 2.x's TCPStore client gets the same results from tprdzvd's "
    "listener as from PyTorch's own server") {
  if (!Torch2Available()) return;
  DaemonOptions options;
  options.torch_store = true;
  Daemon d(options);
  const std::string& store = d.torch_store();
  const std::string port = store.substr(store.rfind(':') + 1);
  Subprocess p(
      Torch2Python("tests/dropin/torch2/tcpstore_differential.py", {port}),
      Torch2Env());
  std::optional<int> code = p.Wait(absl::Seconds(120));
  INFO("stdout:\n" << p.out() << "stderr:\n" << p.err());
  if (!code) FAIL("the differential did not finish within 120s");
  CHECK(*code == 0);
  CHECK_THAT(p.out(), Contains(absl::StrCat("torch ", Torch2Version())));
  CHECK_THAT(p.out(), Contains(" passed, 0 failed"));
  CHECK_THAT(p.out(), !Contains("DIFFERENT"));
  // The operations PyTorch 2.x added over 1.13 were compared, not skipped.
  for (const char* op : {"check existing and missing", "append to existing key",
                         "multi_get", "multi_set", "wait timeout"}) {
    CHECK_THAT(p.out(),
               Contains(absl::StrCat("same      [use_libuv=False] ", op, ":")));
  }
  // Debian's build has no libuv: use_libuv=True must raise the same error
  // against both servers (and PyTorch's server must refuse it too); a build
  // with libuv runs the whole scenario with use_libuv=True instead.
  if (p.out().find("libuv in this build: False") != std::string::npos) {
    CHECK_THAT(p.out(), Contains("same      [use_libuv=False] use_libuv=True "
                                 "client: pytorch=('raised', 'RuntimeError'"));
    CHECK_THAT(p.out(), Contains("same      [use_libuv=True server]"));
  } else {
    CHECK_THAT(p.out(), Contains("same      [use_libuv=True] multi_get:"));
  }
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
