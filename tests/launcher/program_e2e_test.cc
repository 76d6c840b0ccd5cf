// End to end, the real tplaunch: a pasted torchrun line works unchanged
// (issue #11). PROGRAM as torchrun runs it (a .py file and -m through Python,
// which interpreter), PET_* options, torchrun 2.x flags and the variables
// workers get. The interpreter is always chosen explicitly (PATH and
// PYTHON_EXEC are set by each test) so that the pyenv or virtualenv of
// whoever runs the tests cannot change the outcome; Python is Debian's
// /usr/bin/python3.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "launcher/xpu_devices.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::ReadFile;
using testing::Subprocess;
using testing::SubprocessOptions;
using testing::Tplaunch;
using testing::WriteFile;

constexpr char kSystemPath[] = "/usr/bin:/bin";
constexpr absl::Duration kTimeout = absl::Seconds(60);

// Only what the test sets: no inherited interpreter choice, options or log
// level.
SubprocessOptions Env(std::map<std::string, std::string> env) {
  SubprocessOptions o;
  o.env = std::move(env);
  if (o.env.count("PATH") == 0) o.env["PATH"] = kSystemPath;
  o.unset_prefixes = {"PYTHON_EXEC", "PET_",       "TPLAUNCH_", "LOGLEVEL",
                      "VIRTUAL_ENV", "PYTHONPATH", "TORCH"};
  return o;
}

void WriteExecutable(const std::string& path, const std::string& contents) {
  WriteFile(path, contents);
  REQUIRE(chmod(path.c_str(), 0755) == 0);
}

// A script, not executable, that prints what the worker saw: rank, the
// interpreter's own argv after its path, and VIA (set by the wrapper
// interpreters below).
std::string WriteReportScript(const std::string& dir) {
  const std::string path = dir + "/report.py";
  WriteFile(path,
            "import os, sys\n"
            "print('report rank=%s argv=%s via=%s' % (os.environ['RANK'],\n"
            "      ','.join(sys.orig_argv[1:]), os.environ.get('VIA')))\n");
  return path;
}

// `dir`/python3: a virtualenv's python3 in miniature, Debian's underneath.
std::string WriteWrapperPython(const std::string& dir, const std::string& via) {
  const std::string path = dir + "/python3";
  WriteExecutable(path, absl::StrCat("#!/bin/sh\nexport VIA=", via,
                                     "\nexec /usr/bin/python3 \"$@\"\n"));
  return path;
}

TEST_CASE(
    "tplaunch --nproc 2 train.py runs python3 -u from PATH, like torchrun") {
  const std::string dir = MakeTempDir();
  const std::string script = WriteReportScript(dir);
  const std::string python = WriteWrapperPython(dir, "venv");
  Subprocess p(Tplaunch({"--nproc_per_node=2", script, "a", "--b"}),
               Env({{"PATH", absl::StrCat(dir, ":", kSystemPath)}}));
  REQUIRE(p.Wait(kTimeout) == 0);
  INFO(p.out() << p.err());
  for (int r = 0; r < 2; ++r) {
    CHECK_THAT(p.out(),
               Catch::Contains(absl::StrCat("report rank=", r, " argv=-u,",
                                            script, ",a,--b via=venv")));
  }
  // Said once, with the interpreter's absolute path and where it came from.
  const std::string line =
      absl::StrCat("with ", python, " -u (python3 on PATH)");
  CHECK_THAT(p.err(), Catch::Contains(line));
  CHECK(p.err().find(line) == p.err().rfind(line));
}

TEST_CASE("PYTHON_EXEC wins over PATH; -m MODULE runs python -u -m") {
  const std::string dir = MakeTempDir();
  const std::string script = WriteReportScript(dir);
  WriteWrapperPython(dir, "venv");
  const std::string other = MakeTempDir();
  const std::string exec = WriteWrapperPython(other, "exec");
  const auto path = absl::StrCat(dir, ":", kSystemPath);
  Subprocess p(Tplaunch({script}),
               Env({{"PATH", path}, {"PYTHON_EXEC", exec}}));
  REQUIRE(p.Wait(kTimeout) == 0);
  INFO(p.out() << p.err());
  CHECK_THAT(p.out(), Catch::Contains("via=exec"));
  CHECK_THAT(p.err(), Catch::Contains(absl::StrCat(exec, " -u (PYTHON_EXEC)")));

  WriteFile(dir + "/tp_report_mod.py",
            "import os, sys\n"
            "print('module %s argv=%s' % (__name__, ','.join(sys.orig_argv[1:"
            "])))\n");
  Subprocess m(Tplaunch({"--nproc", "2", "-m", "tp_report_mod", "x"}),
               Env({{"PATH", path}, {"PYTHONPATH", dir}}));
  REQUIRE(m.Wait(kTimeout) == 0);
  INFO(m.out() << m.err());
  CHECK_THAT(m.out(), Catch::Contains("[rank1]: module __main__ "
                                      "argv=-u,-m,tp_report_mod,x"));
}

TEST_CASE("no interpreter or no script: exit 127 before any worker starts") {
  const std::string dir = MakeTempDir();
  const std::string marker = dir + "/started";
  WriteFile(dir + "/train.py", "open('" + marker + "', 'w').write('1')\n");
  const std::string empty = MakeTempDir();
  Subprocess none(Tplaunch({"--nproc", "2", dir + "/train.py"}),
                  Env({{"PATH", empty}}));
  REQUIRE(none.Wait(kTimeout) == 127);
  INFO(none.err());
  CHECK_THAT(none.err(), Catch::Contains(absl::StrCat(
                             "python3 not found in PATH (", empty, ")")));
  Subprocess bad_exec(Tplaunch({dir + "/train.py"}),
                      Env({{"PYTHON_EXEC", dir + "/no-python"}}));
  REQUIRE(bad_exec.Wait(kTimeout) == 127);
  CHECK_THAT(bad_exec.err(),
             Catch::Contains(absl::StrCat("PYTHON_EXEC=", dir, "/no-python")));
  Subprocess no_script(Tplaunch({dir + "/missing.py"}), Env({}));
  REQUIRE(no_script.Wait(kTimeout) == 127);
  CHECK_THAT(no_script.err(),
             Catch::Contains(absl::StrCat("cannot run script ", dir,
                                          "/missing.py: No such file")));
  CHECK(ReadFile(marker).empty());
}

TEST_CASE(
    "a node without the interpreter fails the whole job, not just itself") {
  testing::Daemon d;
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/train.py",
            "import time\nprint('started')\ntime.sleep(60)\n");
  const std::vector<std::string> extra = {"--grace-period", "2"};
  Subprocess good(
      testing::TwoNodeTplaunch(d, "nopython", 1, extra, {dir + "/train.py"}),
      Env({}));
  Subprocess bad(
      testing::TwoNodeTplaunch(d, "nopython", 1, extra, {dir + "/train.py"}),
      Env({{"PATH", MakeTempDir()}}));
  REQUIRE(bad.Wait(kTimeout) == 127);
  REQUIRE(good.Wait(kTimeout) == 127);
  INFO(good.err());
  CHECK_THAT(good.err(), Catch::Contains("could not start its workers: no "
                                         "Python interpreter"));
}

TEST_CASE("native programs, #! scripts and --no-python run as given") {
  const std::string dir = MakeTempDir();
  WriteExecutable(dir + "/tool.py", "#!/bin/sh\necho native rank=$RANK\n");
  // With --no-python an executable .py runs as itself...
  Subprocess given(Tplaunch({"--no-python", dir + "/tool.py"}), Env({}));
  REQUIRE(given.Wait(kTimeout) == 0);
  CHECK_THAT(given.out(), Catch::Contains("native rank=0"));
  // ... and so does any executable that is not named .py.
  WriteExecutable(dir + "/tool", "#!/bin/sh\necho shebang rank=$RANK\n");
  Subprocess shebang(Tplaunch({dir + "/tool"}), Env({}));
  REQUIRE(shebang.Wait(kTimeout) == 0);
  CHECK_THAT(shebang.out(), Catch::Contains("shebang rank=0"));
  CHECK_THAT(shebang.err(), !Catch::Contains("python"));
  // A file that cannot be executed and is no Python: 126, naming the fix.
  WriteFile(dir + "/run.sh", "#!/bin/bash\necho hi\n");
  Subprocess denied(Tplaunch({dir + "/run.sh"}), Env({}));
  REQUIRE(denied.Wait(kTimeout) == 126);
  CHECK_THAT(denied.err(), Catch::Contains("names bash, not Python"));
  // Text without #! and without execute permission: Python, as torchrun.
  WriteFile(dir + "/train", "print('plain text ran')\n");
  Subprocess text(Tplaunch({dir + "/train"}), Env({}));
  REQUIRE(text.Wait(kTimeout) == 0);
  CHECK_THAT(text.out(), Catch::Contains("plain text ran"));
}

TEST_CASE("PET_* options from PyTorchJob; TPLAUNCH_* and the line win") {
  const std::vector<std::string> program = {"/bin/sh", "-c",
                                            "echo pet rank=$RANK"};
  Subprocess pet(Tplaunch(program), Env({{"PET_NPROC_PER_NODE", "3"},
                                         {"PET_MAX_RESTARTS", "0"},
                                         {"PET_RDZV_BACKEND", "c10d"},
                                         {"PET_SOME_FUTURE_FLAG", "1"}}));
  REQUIRE(pet.Wait(kTimeout) == 0);
  INFO(pet.out() << pet.err());
  CHECK_THAT(pet.out(), Catch::Contains("[rank2]: pet rank=2"));
  CHECK_THAT(pet.err(), Catch::Contains("ignoring PET_SOME_FUTURE_FLAG"));
  Subprocess own(Tplaunch(program), Env({{"PET_NPROC_PER_NODE", "3"},
                                         {"TPLAUNCH_NPROC_PER_NODE", "2"}}));
  REQUIRE(own.Wait(kTimeout) == 0);
  CHECK_THAT(own.out(), Catch::Contains("rank=1"));
  CHECK_THAT(own.out(), !Catch::Contains("rank=2"));
  Subprocess line(Tplaunch(testing::Concat({"--nproc", "1"}, program)),
                  Env({{"PET_NPROC_PER_NODE", "3"}}));
  REQUIRE(line.Wait(kTimeout) == 0);
  CHECK_THAT(line.out(), !Catch::Contains("rank=1"));
  Subprocess bad(Tplaunch(program), Env({{"PET_NNODES", "two"}}));
  REQUIRE(bad.Wait(kTimeout) == 2);
  CHECK_THAT(bad.err(), Catch::Contains("PET_NNODES 'two'"));
}

TEST_CASE("a torchrun 2.14 line with its 2.x flags runs unchanged") {
  const std::string dir = MakeTempDir();
  const std::string script = dir + "/train";
  WriteFile(
      script,
      "import os\n"
      "print('run_path rank=%s libuv=%s signals=%s' % (os.environ['RANK'],"
      "\n      os.environ.get('USE_LIBUV'),"
      " os.environ['TORCHELASTIC_SIGNALS_TO_HANDLE']))\n");
  Subprocess p(
      Tplaunch({"--nproc-per-node=2", "--start-method", "spawn", "--logs-specs",
                "default", "--event-log-handler", "null", "--shutdown-timeout",
                "5", "--monitor-interval", "0.1", "--rdzv-conf", "use_libuv=0",
                "--signals-to-handle", "SIGTERM,SIGINT", "--run-path", script}),
      Env({{"LOGLEVEL", "WARNING"}}));
  REQUIRE(p.Wait(kTimeout) == 0);
  INFO(p.out() << p.err());
  CHECK_THAT(p.out(),
             Catch::Contains(
                 "[rank1]: run_path rank=1 libuv=0 signals=SIGTERM,SIGINT"));
  // LOGLEVEL=WARNING silences tplaunch's info line about the interpreter.
  CHECK_THAT(p.err(), !Catch::Contains("python3 on PATH"));

  Subprocess rejected(Tplaunch({"--event-log-handler", "console", script}),
                      Env({}));
  REQUIRE(rejected.Wait(kTimeout) == 2);
  CHECK_THAT(rejected.err(), Catch::Contains("only 'null'"));
}

TEST_CASE("--nproc-per-node xpu without an XPU is a usage error") {
  if (XpuCount({}) > 0) {
    WARN("skipped: this machine has an XPU");
    return;
  }
  Subprocess p(Tplaunch({"--nproc-per-node", "xpu", "/bin/true"}), Env({}));
  REQUIRE(p.Wait(kTimeout) == 2);
  CHECK_THAT(p.err(), Catch::Contains("no XPU found"));
}

}  // namespace
}  // namespace tplaunch
