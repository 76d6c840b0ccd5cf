// Helpers for the PyTorch drop-in tests: unmodified torch.distributed scripts
// (examples/torch_ddp_check.py) run by the real tplaunch and tprdzvd binaries.
#ifndef TPLAUNCH_TESTS_DROPIN_TORCH_DROPIN_H_
#define TPLAUNCH_TESTS_DROPIN_TORCH_DROPIN_H_

#include <string>
#include <vector>

#include "tests/launcher/tplaunch_command.h"

namespace tplaunch {
namespace testing {

// The interpreter with PyTorch (Debian's python3-torch), never a pyenv one.
inline constexpr char kPython[] = "/usr/bin/python3";

// Whether kPython can import torch.distributed with Gloo. Checked once per
// binary; when false, prints "SKIP: <why>" once and every test returns early.
bool TorchAvailable();

// PROGRAM and its arguments for tplaunch: kPython running the unmodified
// examples/torch_ddp_check.py with `script_args`. With a non-empty `pid_dir`,
// each worker first writes its pid to `pid_dir/pidRANK` (through /bin/sh, then
// exec, so the pid is the Python process's; ReadPids(pid_dir, "pid", n)
// reads them).
std::vector<std::string> TorchCheck(std::vector<std::string> script_args = {},
                                    const std::string& pid_dir = "");

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_DROPIN_TORCH_DROPIN_H_
