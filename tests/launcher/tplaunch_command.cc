#include "tests/launcher/tplaunch_command.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace testing {

std::vector<std::string> Tplaunch(std::vector<std::string> args) {
  args.insert(args.begin(), Runfile("launcher/tplaunch"));
  return args;
}

std::vector<std::string> TwoNodeTplaunch(
    const Daemon& d, const std::string& job, int nproc,
    const std::vector<std::string>& extra,
    const std::vector<std::string>& program) {
  return Concat(
      Concat(Tplaunch({"--nnodes", "2", "--nproc", absl::StrCat(nproc),
                       "--rdzv-endpoint", d.endpoint(), "--rdzv-id", job}),
             extra),
      program);
}

std::vector<pid_t> ReadPids(const std::string& dir, const std::string& prefix,
                            int n) {
  std::vector<pid_t> out;
  for (int i = 0; i < n; ++i) {
    pid_t p = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(
                             ReadFile(absl::StrCat(dir, "/", prefix, i))),
                         &p)) {
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace testing
}  // namespace tplaunch
