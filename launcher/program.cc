#include "launcher/program.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tplaunch {
namespace {

// What execvp falls back to without PATH; the supervisor uses the same.
constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

std::string SearchPath(const std::map<std::string, std::string>& env) {
  auto it = env.find("PATH");
  return it != env.end() ? it->second : kDefaultPath;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         access(path.c_str(), X_OK) == 0;
}

// Relative to the current directory, which the workers share with the
// launcher; ./ and a relative PATH entry are spelled out so the log line is
// the interpreter's real location.
std::string Absolute(const std::string& path) {
  if (absl::StartsWith(path, "/")) return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  absl::string_view rest = path;
  while (absl::ConsumePrefix(&rest, "./")) {
  }
  return absl::StrCat(cwd, "/", rest);
}

std::optional<std::string> FindInPath(const std::string& name,
                                      const std::string& path) {
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (IsExecutableFile(candidate)) return Absolute(candidate);
  }
  return std::nullopt;
}

struct Python {
  std::string path;
  std::string source;
};

absl::StatusOr<Python> FindPython(const std::map<std::string, std::string>& env,
                                  absl::string_view what) {
  const std::string path = SearchPath(env);
  auto exec = env.find("PYTHON_EXEC");
  if (exec != env.end() && !exec->second.empty()) {
    const std::string& v = exec->second;
    if (v.find('/') == std::string::npos) {
      if (auto found = FindInPath(v, path))
        return Python{*found, "PYTHON_EXEC"};
      return absl::NotFoundError(
          absl::StrCat("no Python interpreter to run ", what,
                       ": PYTHON_EXEC=", v, " not found in PATH (", path, ")"));
    }
    struct stat st;
    if (stat(v.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("no Python interpreter to run ",
                                              what, ": PYTHON_EXEC=", v, ": ",
                                              strerror(errno)));
    }
    if (!IsExecutableFile(v)) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot run ", what, ": PYTHON_EXEC=", v,
                       " is not an executable file"));
    }
    return Python{Absolute(v), "PYTHON_EXEC"};
  }
  if (auto found = FindInPath("python3", path)) {
    return Python{*found, "python3 on PATH"};
  }
  return absl::NotFoundError(absl::StrCat(
      "no Python interpreter to run ", what, ": python3 not found in PATH (",
      path,
      "); set PYTHON_EXEC, activate a virtualenv, or pass --no-python to run "
      "PROGRAM as given"));
}

// The first line of a file, at most 256 bytes; empty when unreadable.
std::string Head(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// The interpreter a `#!` line names: its first word, or for `/usr/bin/env
// [-S] NAME` the NAME.
std::string ShebangInterpreter(absl::string_view head) {
  absl::string_view line = head.substr(2, head.find('\n') - 2);
  std::vector<absl::string_view> words =
      absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
  if (words.empty()) return "";
  auto base = [](absl::string_view w) {
    size_t slash = w.rfind('/');
    return std::string(slash == absl::string_view::npos ? w
                                                        : w.substr(slash + 1));
  };
  if (base(words[0]) == "env") {
    for (size_t i = 1; i < words.size(); ++i) {
      if (!absl::StartsWith(words[i], "-")) return base(words[i]);
    }
    return "env";
  }
  return base(words[0]);
}

enum class Kind { kAsGiven, kPython };

// A PROGRAM that is neither -m, --run-path, --no-python nor a `.py` name.
absl::StatusOr<Kind> Classify(const std::string& program,
                              const std::string& path) {
  const bool path_like = program.find('/') != std::string::npos;
  // A command found on PATH, as a shell would run it.
  if (!path_like && FindInPath(program, path)) return Kind::kAsGiven;
  struct stat st;
  // Missing files and directories are the supervisor's to report, as before
  // (127/126 naming PROGRAM and PATH).
  if (stat(program.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Kind::kAsGiven;
  }
  if (access(program.c_str(), X_OK) == 0) return Kind::kAsGiven;
  const std::string head = Head(program);
  if (absl::StartsWith(head,
                       "\x7f"
                       "ELF")) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot execute PROGRAM ", program,
        ": an ELF binary without execute permission (chmod +x it)"));
  }
  if (absl::StartsWith(head, "#!")) {
    const std::string interp = ShebangInterpreter(head);
    if (!absl::StartsWith(interp, "python")) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot execute PROGRAM ", program,
          ": not executable, and its #! line names ", interp,
          ", not Python (chmod +x it, or name the interpreter: tplaunch ... ",
          interp, " ", program, ")"));
    }
  }
  // Text that cannot be executed: torchrun would hand it to Python too.
  return Kind::kPython;
}

}  // namespace

absl::StatusOr<WorkerCommand> ResolveWorkerCommand(const ProgramInputs& in) {
  if (in.program.empty() || in.program[0].empty()) {
    return absl::InvalidArgumentError("missing PROGRAM to launch");
  }
  const std::string& program = in.program[0];
  WorkerCommand cmd;
  if (in.run_path) {
    cmd.reason = "--run-path";
  } else if (in.module) {
    cmd.reason = "-m";
  } else if (in.no_python) {
    cmd.argv = in.program;
    return cmd;
  } else if (absl::EndsWith(program, ".py")) {
    cmd.reason = "a .py file";
  } else {
    absl::StatusOr<Kind> kind = Classify(program, SearchPath(in.env));
    if (!kind.ok()) return kind.status();
    if (*kind == Kind::kAsGiven) {
      cmd.argv = in.program;
      return cmd;
    }
    cmd.reason = "a file without execute permission";
  }

  const std::string what =
      in.module && !in.run_path ? absl::StrCat("-m ", program) : program;
  if (!in.module || in.run_path) {
    struct stat st;
    if (stat(program.c_str(), &st) != 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot run script ", program, ": ", strerror(errno)));
    }
  }
  absl::StatusOr<Python> python = FindPython(in.env, what);
  if (!python.ok()) return python.status();
  cmd.interpreter = python->path;
  cmd.interpreter_source = python->source;
  cmd.argv = {python->path, "-u"};
  if (in.module && !in.run_path) cmd.argv.push_back("-m");
  cmd.argv.insert(cmd.argv.end(), in.program.begin(), in.program.end());
  return cmd;
}

}  // namespace tplaunch
