// Two nodes on loopback with PyTorch 2.x workers: two tplaunch processes with
// two workers each against one real tprdzvd, running the unmodified
// examples/torch_ddp_check.py in the Debian 13 root.
#include <catch2/catch.hpp>

#include "absl/time/time.h"
#include "tests/dropin/torch2/torch2_root.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {
namespace {

using Catch::Contains;

constexpr absl::Duration kRunTimeout = absl::Seconds(120);

TEST_CASE("two nodes x 2 PyTorch 2.x workers through one tprdzvd") {
  if (!Torch2Available()) return;
  Daemon d;
  Subprocess a(TwoNodeTplaunch(d, "t2nodes", 2, {}, Torch2Check()),
               Torch2Env());
  Subprocess b(TwoNodeTplaunch(d, "t2nodes", 2, {}, Torch2Check()),
               Torch2Env());
  std::optional<int> code_a = a.Wait(kRunTimeout);
  std::optional<int> code_b = b.Wait(kRunTimeout);
  INFO("node A stdout:\n" << a.out() << "node A stderr:\n" << a.err());
  INFO("node B stdout:\n" << b.out() << "node B stderr:\n" << b.err());
  if (!code_a || !code_b)
    FAIL("a tplaunch did not exit within " << kRunTimeout);
  CHECK(*code_a == 0);
  CHECK(*code_b == 0);
  CHECK_THAT(a.out() + b.out(),
             Contains("torch_ddp_check: OK world_size=4 nodes=2 backend=gloo "
                      "master=127.0.0.1:"));
  CHECK_THAT(a.out() + b.out(), Contains(" run_id=t2nodes attempt=0 "));
}

TEST_CASE(
    "two nodes with PyTorch 2.x and --torch-store agent: every rank uses "
    "tprdzvd's TCPStore listener") {
  // The shim: PyTorch 2.6 builds the agent store's client without use_libuv.
  if (!Torch2Available()) return;
  DaemonOptions options;
  options.torch_store = true;
  Daemon d(options);
  const std::vector<std::string> extra = {
      "--torch-store", "agent", "--torch-store-endpoint", d.torch_store()};
  Subprocess a(TwoNodeTplaunch(d, "t2nodes_agent", 2, extra,
                               Torch2Check({"--agent-store"})),
               Torch2Env({{"PYTHONPATH", Torch2LibuvShim()}}));
  Subprocess b(TwoNodeTplaunch(d, "t2nodes_agent", 2, extra,
                               Torch2Check({"--agent-store"})),
               Torch2Env({{"PYTHONPATH", Torch2LibuvShim()}}));
  std::optional<int> code_a = a.Wait(kRunTimeout);
  std::optional<int> code_b = b.Wait(kRunTimeout);
  INFO("node A stdout:\n" << a.out() << "node A stderr:\n" << a.err());
  INFO("node B stdout:\n" << b.out() << "node B stderr:\n" << b.err());
  if (!code_a || !code_b)
    FAIL("a tplaunch did not exit within " << kRunTimeout);
  CHECK(*code_a == 0);
  CHECK(*code_b == 0);
  CHECK_THAT(a.out() + b.out(),
             Contains("torch_ddp_check: OK world_size=4 nodes=2 backend=gloo "
                      "master=127.0.0.1:"));
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
