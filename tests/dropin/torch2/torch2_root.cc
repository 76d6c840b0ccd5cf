#include "tests/dropin/torch2/torch2_root.h"

#include <limits.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {
namespace {

std::string RootScript() { return Runfile("scripts/torch2_root.sh"); }

// The Python scripts tests run in the root (those in a test's data exist).
constexpr const char* kScripts[] = {
    "examples/torch_ddp_check.py",
    "tests/dropin/torch2/tcpstore_differential.py",
    "tests/dropin/torch2/libuv_shim/sitecustomize.py",
};

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

struct Probe {
  bool built = false;
  std::string why;      // when !built: why not
  std::string broken;   // when built: why it does not work, or ""
  std::string version;  // torch.__version__
};

Probe RunProbe() {
  Probe probe;
  Subprocess path({RootScript(), "path"});
  std::optional<int> code = path.Wait(absl::Seconds(30));
  if (!code || *code != 0) {
    probe.why = std::string(absl::StripTrailingAsciiWhitespace(path.err()));
    if (probe.why.empty()) probe.why = "scripts/torch2_root.sh path failed";
    return probe;
  }
  probe.built = true;
  Subprocess py(
      {RootScript(), "run", "python3", "-c",
       "import torch, torch.distributed as d\n"
       "assert d.is_available() and d.is_gloo_available(), 'no Gloo'\n"
       "print(torch.__version__)\n"},
      Torch2Env());
  code = py.Wait(absl::Seconds(120));
  if (!code) {
    probe.broken = "'import torch' in the root took over 120s";
  } else if (*code != 0) {
    probe.broken = absl::StrCat(
        "'import torch.distributed' in the root "
        "failed (exit ",
        *code, "): ", py.err());
  } else {
    probe.version = std::string(absl::StripAsciiWhitespace(py.out()));
  }
  return probe;
}

const Probe& TheProbe() {
  static const Probe* const probe = new Probe(RunProbe());
  return *probe;
}

}  // namespace

bool Torch2Available() {
  const Probe& probe = TheProbe();
  if (!probe.built) {
    static bool said = false;
    if (!said) {
      std::cout << "SKIP: " << probe.why
                << " (CI builds it: scripts/torch2_root.sh build)" << std::endl;
      said = true;
    }
    WARN("skipped: " << probe.why);
    return false;
  }
  INFO("scripts/torch2_root.sh run python3: " << probe.broken);
  REQUIRE(probe.broken.empty());
  return true;
}

std::string Torch2Version() { return TheProbe().version; }

std::vector<std::string> Torch2Python(const std::string& runfile,
                                      std::vector<std::string> args) {
  const std::string script = RealPath(Runfile(runfile));
  std::vector<std::string> v = {RootScript(), "run", "python3", "-u", script};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

std::map<std::string, std::string> Torch2Env(
    std::map<std::string, std::string> extra) {
  std::set<std::string> binds;
  for (const char* script : kScripts) {
    binds.insert(Dirname(RealPath(Runfile(script))));
  }
  std::map<std::string, std::string> env = {
      {"USE_LIBUV", "0"}, {"TPLAUNCH_TORCH2_BINDS", absl::StrJoin(binds, ":")}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

std::string Torch2LibuvShim() {
  return Dirname(
      RealPath(Runfile("tests/dropin/torch2/libuv_shim/sitecustomize.py")));
}

std::vector<std::string> Torch2Check(std::vector<std::string> script_args) {
  return Torch2Python("examples/torch_ddp_check.py", std::move(script_args));
}

}  // namespace testing
}  // namespace tplaunch
