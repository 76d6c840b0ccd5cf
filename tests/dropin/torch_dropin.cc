#include "tests/dropin/torch_dropin.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

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

namespace {

std::vector<std::string> DaemonArgs(bool with_torch_store) {
  std::vector<std::string> args = {Runfile("rendezvous/tprdzvd"), "--host",
                                   "127.0.0.1", "--port", "0"};
  if (with_torch_store) {
    args.insert(args.end(), {"--torch-store-port", "0"});
  }
  return args;
}

}  // namespace

Daemon::Daemon(bool with_torch_store) : proc_(DaemonArgs(with_torch_store)) {
  endpoint_ = LineValue(0, "listening on ");
  if (with_torch_store)
    torch_store_ = LineValue(1, "torch store listening on ");
}

std::string Daemon::LineValue(size_t index, const std::string& prefix) {
  std::vector<std::string> lines;
  // The last piece is the line still being written.
  const bool complete = WaitFor(
      [&] {
        lines = absl::StrSplit(proc_.out(), '\n');
        return lines.size() > index + 1;
      },
      absl::Seconds(20));
  if (!complete) {
    FAIL("tprdzvd printed no line " << index + 1 << " ('" << prefix
                                    << "...') in 20s; stdout: " << proc_.out()
                                    << "; stderr: " << proc_.err());
  }
  if (!absl::StartsWith(lines[index], prefix)) {
    FAIL("tprdzvd's line " << index + 1 << " is not '" << prefix
                           << "...': " << lines[index]);
  }
  return lines[index].substr(prefix.size());
}

}  // namespace testing
}  // namespace tplaunch
