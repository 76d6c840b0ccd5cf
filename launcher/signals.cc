#include "launcher/signals.h"

#include <signal.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tplaunch {
namespace {

struct SignalEntry {
  const char* name;
  int number;
};

const SignalEntry kSignals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},
    {"ILL", SIGILL},       {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
    {"BUS", SIGBUS},       {"FPE", SIGFPE},   {"KILL", SIGKILL},
    {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CHLD", SIGCHLD},     {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"SYS", SIGSYS},
};

}  // namespace

std::string SignalName(int signo) {
  for (const auto& s : kSignals) {
    if (s.number == signo) return absl::StrCat("SIG", s.name);
  }
  return absl::StrCat("signal ", signo);
}

absl::StatusOr<std::vector<int>> ParseSignalList(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view item :
       absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string name = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(item));
    int number = 0;
    if (!absl::SimpleAtoi(name, &number)) {
      if (absl::StartsWith(name, "SIG")) name = name.substr(3);
      for (const auto& s : kSignals) {
        if (name == s.name) number = s.number;
      }
      if (number == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown signal '", item, "'"));
      }
    }
    if (number == SIGKILL || number == SIGSTOP || number == SIGCHLD ||
        number < 1 || number > SIGRTMAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("signal '", item,
                       "' cannot be forwarded (KILL, STOP and CHLD cannot be "
                       "caught; valid numbers are 1..",
                       SIGRTMAX, ")"));
    }
    if (std::find(out.begin(), out.end(), number) == out.end())
      out.push_back(number);
  }
  return out;
}

}  // namespace tplaunch
