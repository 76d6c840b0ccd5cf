// How PROGRAM becomes the workers' command line, against real files in a
// scratch directory (launcher/program.h).
#include "launcher/program.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::WriteFile;
using Argv = std::vector<std::string>;

void WriteExecutable(const std::string& path, const std::string& contents) {
  WriteFile(path, contents);
  REQUIRE(chmod(path.c_str(), 0755) == 0);
}

// A scratch directory with bin/python3 (a stand-in: never run here) and PATH
// naming only bin.
struct Scratch {
  Scratch() : dir(MakeTempDir()), bin(dir + "/bin") {
    REQUIRE(mkdir(bin.c_str(), 0755) == 0);
    WriteExecutable(bin + "/python3", "#!/bin/sh\n");
  }
  ProgramInputs Inputs(Argv program) const {
    ProgramInputs in;
    in.program = std::move(program);
    in.env = {{"PATH", bin}};
    return in;
  }
  std::string Path(const std::string& name) const { return dir + "/" + name; }

  std::string dir;
  std::string bin;
};

// Runs the test body in `dir`, then returns to where it was: the relative
// PATH entries and bare file names are relative to the current directory.
class InDirectory {
 public:
  explicit InDirectory(const std::string& dir) {
    char buf[4096];
    REQUIRE(getcwd(buf, sizeof(buf)) != nullptr);
    old_ = buf;
    REQUIRE(chdir(dir.c_str()) == 0);
  }
  ~InDirectory() { (void)chdir(old_.c_str()); }

 private:
  std::string old_;
};

TEST_CASE("a .py file runs as PYTHON -u SCRIPT ARGS, executable or not") {
  Scratch s;
  WriteFile(s.Path("train.py"), "print(1)\n");
  WriteExecutable(s.Path("tool.py"), "#!/bin/sh\necho native\n");
  for (const std::string& script : {s.Path("train.py"), s.Path("tool.py")}) {
    INFO(script);
    auto cmd = ResolveWorkerCommand(s.Inputs({script, "--lr", "3"}));
    REQUIRE(cmd.ok());
    CHECK(cmd->argv == Argv{s.bin + "/python3", "-u", script, "--lr", "3"});
    CHECK(cmd->interpreter == s.bin + "/python3");
    CHECK(cmd->interpreter_source == "python3 on PATH");
    CHECK(cmd->reason == "a .py file");
  }
}

TEST_CASE("-m MODULE runs as PYTHON -u -m MODULE ARGS without a file") {
  Scratch s;
  ProgramInputs in = s.Inputs({"pkg.train", "--epochs", "2"});
  in.module = true;
  auto cmd = ResolveWorkerCommand(in);
  REQUIRE(cmd.ok());
  CHECK(cmd->argv ==
        Argv{s.bin + "/python3", "-u", "-m", "pkg.train", "--epochs", "2"});
  CHECK(cmd->reason == "-m");
}

TEST_CASE("--no-python runs PROGRAM as given; --run-path wins over it") {
  Scratch s;
  WriteExecutable(s.Path("tool.py"), "#!/bin/sh\necho native\n");
  ProgramInputs in = s.Inputs({s.Path("tool.py"), "x"});
  in.no_python = true;
  auto given = ResolveWorkerCommand(in);
  REQUIRE(given.ok());
  CHECK(given->argv == Argv{s.Path("tool.py"), "x"});
  CHECK(given->interpreter.empty());

  WriteFile(s.Path("train"), "print(1)\n");
  ProgramInputs run_path = s.Inputs({s.Path("train")});
  run_path.run_path = true;
  run_path.no_python = true;
  run_path.module = true;
  auto script = ResolveWorkerCommand(run_path);
  REQUIRE(script.ok());
  CHECK(script->argv == Argv{s.bin + "/python3", "-u", s.Path("train")});
  CHECK(script->reason == "--run-path");
}

TEST_CASE("native programs, #! scripts and commands on PATH run as given") {
  Scratch s;
  WriteExecutable(s.Path("train.sh"), "#!/bin/sh\nexit 0\n");
  WriteExecutable(s.bin + "/mytool", "#!/bin/sh\n");
  for (const Argv& program :
       {Argv{s.Path("train.sh"), "a"}, Argv{"mytool"},
        Argv{"python3", "-u", "x.py"}, Argv{"/bin/sh", "-c", "exit 0"}}) {
    INFO(program[0]);
    auto cmd = ResolveWorkerCommand(s.Inputs(program));
    REQUIRE(cmd.ok());
    CHECK(cmd->argv == program);
    CHECK(cmd->interpreter.empty());
  }
  // What cannot be found or is a directory is the supervisor's to report
  // (exit 127/126 naming PROGRAM), as before.
  for (const Argv& program :
       {Argv{"no-such-command"}, Argv{s.Path("missing")}, Argv{s.dir}}) {
    INFO(program[0]);
    auto cmd = ResolveWorkerCommand(s.Inputs(program));
    REQUIRE(cmd.ok());
    CHECK(cmd->argv == program);
  }
}

TEST_CASE("a file without execute permission: Python, unless it is not") {
  Scratch s;
  WriteFile(s.Path("plain"), "import sys\n");
  WriteFile(s.Path("env_py"), "#!/usr/bin/env -S python3 -u\nprint(1)\n");
  WriteFile(s.Path("abs_py"), "#!/usr/bin/python3.11\nprint(1)\n");
  for (const char* name : {"plain", "env_py", "abs_py"}) {
    INFO(name);
    auto cmd = ResolveWorkerCommand(s.Inputs({s.Path(name)}));
    REQUIRE(cmd.ok());
    CHECK(cmd->argv == Argv{s.bin + "/python3", "-u", s.Path(name)});
    CHECK(cmd->reason == "a file without execute permission");
  }

  WriteFile(s.Path("run.sh"), "#!/bin/bash\necho hi\n");
  auto bash = ResolveWorkerCommand(s.Inputs({s.Path("run.sh")}));
  REQUIRE(absl::IsPermissionDenied(bash.status()));
  CHECK_THAT(std::string(bash.status().message()),
             Catch::Contains("its #! line names bash, not Python"));
  CHECK_THAT(std::string(bash.status().message()), Catch::Contains("run.sh"));

  WriteFile(s.Path("train"), std::string("\x7f"
                                         "ELF\x02\x01\x01",
                                         7));
  auto elf = ResolveWorkerCommand(s.Inputs({s.Path("train")}));
  REQUIRE(absl::IsPermissionDenied(elf.status()));
  CHECK_THAT(std::string(elf.status().message()),
             Catch::Contains("an ELF binary without execute permission"));
}

TEST_CASE("a bare name that is no command but a file here: torchrun's way") {
  Scratch s;
  WriteFile(s.Path("train"), "print(1)\n");
  InDirectory here(s.dir);
  auto cmd = ResolveWorkerCommand(s.Inputs({"train"}));
  REQUIRE(cmd.ok());
  CHECK(cmd->argv == Argv{s.bin + "/python3", "-u", "train"});
}

TEST_CASE("PYTHON_EXEC wins over PATH; PATH's first python3 wins") {
  Scratch s;
  WriteFile(s.Path("train.py"), "");
  const std::string venv = s.Path("venv");
  REQUIRE(mkdir(venv.c_str(), 0755) == 0);
  // A virtualenv's python3 is a symlink; its path, not its target, is kept.
  REQUIRE(symlink((s.bin + "/python3").c_str(), (venv + "/python3").c_str()) ==
          0);
  ProgramInputs in = s.Inputs({s.Path("train.py")});
  in.env["PATH"] = absl::StrCat(venv, ":", s.bin);
  auto from_path = ResolveWorkerCommand(in);
  REQUIRE(from_path.ok());
  CHECK(from_path->interpreter == venv + "/python3");

  WriteExecutable(s.Path("custom-python"), "#!/bin/sh\n");
  in.env["PYTHON_EXEC"] = s.Path("custom-python");
  auto exec = ResolveWorkerCommand(in);
  REQUIRE(exec.ok());
  CHECK(exec->argv[0] == s.Path("custom-python"));
  CHECK(exec->interpreter_source == "PYTHON_EXEC");

  // A bare PYTHON_EXEC is looked up in PATH.
  WriteExecutable(s.bin + "/python3.99", "#!/bin/sh\n");
  in.env["PYTHON_EXEC"] = "python3.99";
  auto bare = ResolveWorkerCommand(in);
  REQUIRE(bare.ok());
  CHECK(bare->interpreter == s.bin + "/python3.99");

  // An empty PYTHON_EXEC is unset.
  in.env["PYTHON_EXEC"] = "";
  CHECK(ResolveWorkerCommand(in)->interpreter == venv + "/python3");
}

TEST_CASE("a relative PATH entry yields an absolute interpreter path") {
  Scratch s;
  WriteFile(s.Path("train.py"), "");
  InDirectory here(s.dir);
  ProgramInputs in = s.Inputs({"train.py"});
  in.env["PATH"] = "./bin";
  auto cmd = ResolveWorkerCommand(in);
  REQUIRE(cmd.ok());
  CHECK(cmd->interpreter == s.bin + "/python3");
}

TEST_CASE("a missing interpreter or script: NotFound naming what was looked") {
  Scratch s;
  WriteFile(s.Path("train.py"), "");
  const std::string empty = MakeTempDir();
  ProgramInputs in = s.Inputs({s.Path("train.py")});
  in.env["PATH"] = empty;
  auto no_python = ResolveWorkerCommand(in);
  REQUIRE(absl::IsNotFound(no_python.status()));
  CHECK_THAT(
      std::string(no_python.status().message()),
      Catch::Contains(absl::StrCat("python3 not found in PATH (", empty, ")")));
  CHECK_THAT(std::string(no_python.status().message()),
             Catch::Contains("PYTHON_EXEC"));

  in.env["PYTHON_EXEC"] = s.Path("nope");
  auto no_exec = ResolveWorkerCommand(in);
  REQUIRE(absl::IsNotFound(no_exec.status()));
  CHECK_THAT(std::string(no_exec.status().message()),
             Catch::Contains(absl::StrCat("PYTHON_EXEC=", s.Path("nope"))));

  in.env["PYTHON_EXEC"] = "python9";
  auto no_bare = ResolveWorkerCommand(in);
  REQUIRE(absl::IsNotFound(no_bare.status()));
  CHECK_THAT(std::string(no_bare.status().message()),
             Catch::Contains("PYTHON_EXEC=python9 not found in PATH"));

  WriteFile(s.Path("not-exec"), "");
  in.env["PYTHON_EXEC"] = s.Path("not-exec");
  auto denied = ResolveWorkerCommand(in);
  REQUIRE(absl::IsPermissionDenied(denied.status()));
  CHECK_THAT(std::string(denied.status().message()),
             Catch::Contains("is not an executable file"));

  auto no_script = ResolveWorkerCommand(s.Inputs({s.Path("gone.py")}));
  REQUIRE(absl::IsNotFound(no_script.status()));
  CHECK_THAT(
      std::string(no_script.status().message()),
      Catch::Contains(absl::StrCat("cannot run script ", s.Path("gone.py"),
                                   ": No such file or directory")));

  CHECK(absl::IsInvalidArgument(ResolveWorkerCommand({}).status()));
}

}  // namespace
}  // namespace tplaunch
