#include "tests/dropin/torch_dropin.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {
namespace {

// The last non-empty line of `text`.
std::string LastLine(absl::string_view text) {
  text = absl::StripTrailingAsciiWhitespace(text);
  size_t nl = text.rfind('\n');
  return std::string(nl == absl::string_view::npos ? text
                                                   : text.substr(nl + 1));
}

// Empty when kPython imports torch.distributed with Gloo, else why not.
std::string WhyNoTorch() {
  if (access(kPython, X_OK) != 0) {
    return absl::StrCat(kPython, " is not executable: ", strerror(errno));
  }
  Subprocess probe({kPython, "-c",
                    "import torch.distributed as d\n"
                    "assert d.is_available(), 'torch.distributed unavailable'\n"
                    "assert d.is_gloo_available(), 'no Gloo backend'\n"});
  std::optional<int> code = probe.Wait(absl::Seconds(60));
  if (!code) return "'import torch' took over 60s";
  if (*code != 0) {
    return absl::StrCat("'import torch.distributed' failed (exit ", *code,
                        "): ", LastLine(probe.err()));
  }
  return "";
}

}  // namespace

bool TorchAvailable() {
  static const std::string* const why = new std::string(WhyNoTorch());
  if (!why->empty()) {
    static bool said = false;
    if (!said) {
      std::cout << "SKIP: " << *why
                << " (install python3-torch: scripts/setup.sh)" << std::endl;
      said = true;
    }
    WARN("skipped: " << *why);
  }
  return why->empty();
}

std::vector<std::string> TorchCheck(std::vector<std::string> script_args,
                                    const std::string& pid_dir) {
  std::vector<std::string> v;
  if (pid_dir.empty()) {
    v = {kPython, Runfile("examples/torch_ddp_check.py")};
  } else {
    v = {"/bin/sh",
         "-c",
         absl::StrCat("echo $$ > '", pid_dir, "'/pid$RANK; exec \"$@\""),
         "sh",
         kPython,
         Runfile("examples/torch_ddp_check.py")};
  }
  v.insert(v.end(), script_args.begin(), script_args.end());
  return v;
}

}  // namespace testing
}  // namespace tplaunch
