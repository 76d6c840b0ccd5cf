// Helpers for the PyTorch 2.x tests: programs run inside the Debian 13 root of
// scripts/torch2_root.sh (python3-torch 2.x) while tplaunch, tprdzvd and the
// test itself run on the host.
#ifndef TPLAUNCH_TESTS_DROPIN_TORCH2_TORCH2_ROOT_H_
#define TPLAUNCH_TESTS_DROPIN_TORCH2_TORCH2_ROOT_H_

#include <map>
#include <string>
#include <vector>

namespace tplaunch {
namespace testing {

// Whether the PyTorch 2.x root is built. When it is not (a machine that could
// not build it: no network), prints "SKIP: <why>" once and WARNs; every test
// then returns early. When it is built but its Python cannot import
// torch.distributed with Gloo, the test fails: a broken root is not a skip.
bool Torch2Available();

// The root's PyTorch version, e.g. "2.6.0+debian" (after Torch2Available()).
std::string Torch2Version();

// argv running `runfile` (a Python script among the test's data) with the
// root's python3 -u, followed by `args`.
std::vector<std::string> Torch2Python(const std::string& runfile,
                                      std::vector<std::string> args = {});

// The environment tplaunch (and so its workers) or a direct Torch2Python child
// needs: USE_LIBUV=0 (Debian's build has no libuv, and TCPStore's default
// use_libuv=True raises), and TPLAUNCH_TORCH2_BINDS naming the directories of
// the scripts tests run (runfiles are symlinks into the source tree, which the
// root must see). `extra` is added last.
std::map<std::string, std::string> Torch2Env(
    std::map<std::string, std::string> extra = {});

// The directory of libuv_shim/sitecustomize.py, for PYTHONPATH: PyTorch 2.6
// builds the agent store's client (TORCHELASTIC_USE_AGENT_STORE=True) and
// torchrun's c10d store without passing use_libuv, so on Debian's libuv-less
// build they raise whatever USE_LIBUV says; the shim makes them follow it.
std::string Torch2LibuvShim();

// examples/torch_ddp_check.py in the root, with `script_args`.
std::vector<std::string> Torch2Check(std::vector<std::string> script_args = {});

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_DROPIN_TORCH2_TORCH2_ROOT_H_
