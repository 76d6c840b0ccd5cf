// program: how PROGRAM becomes the command line every worker executes, the way
// torchrun does it for Python and the way tplaunch always did for the rest.
//
//   -m MODULE, --run-path, a `.py` file    PYTHON -u [-m] PROGRAM ARGS
//   --no-python (without --run-path)        PROGRAM ARGS, as given
//   an executable file, a command on PATH   PROGRAM ARGS, as given (native
//                                           programs, #! scripts)
//   a non-executable file                   PYTHON -u PROGRAM ARGS when it is
//                                           text without #! or with a Python
//                                           #!; an error for an ELF binary or
//                                           another interpreter's #! script
//
// PYTHON is $PYTHON_EXEC when set, else `python3` found on PATH (so an active
// virtualenv wins); its path is made absolute but symlinks are kept, since a
// virtualenv's python3 is a symlink whose location is what makes it the
// virtualenv's. docs/cli.md, "PROGRAM", is the user's version of this.
//
// Reads the file system (stat, the first bytes of PROGRAM, the current
// directory); writes nothing.
#ifndef TPLAUNCH_LAUNCHER_PROGRAM_H_
#define TPLAUNCH_LAUNCHER_PROGRAM_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tplaunch {

struct ProgramInputs {
  // PROGRAM and its arguments as given on the command line.
  std::vector<std::string> program;
  // --no-python, -m/--module, --run-path (LaunchConfig's fields).
  bool no_python = false;
  bool module = false;
  bool run_path = false;
  // The launcher's environment: PATH and PYTHON_EXEC are read.
  std::map<std::string, std::string> env;
};

struct WorkerCommand {
  // What every worker executes: argv[0] is a path or a name looked up in PATH
  // when the worker starts, as before.
  std::vector<std::string> argv;
  // The Python interpreter's absolute path when PROGRAM runs through Python;
  // empty when PROGRAM runs as given.
  std::string interpreter;
  // Where the interpreter came from ("PYTHON_EXEC" or "python3 on PATH") and
  // why PROGRAM runs through Python ("a .py file", "-m", ...), for the one line
  // the launcher logs at start.
  std::string interpreter_source;
  std::string reason;
};

// The command for `in`. Possible errors, each naming the file or variable and
// what was searched:
//   NotFound          no interpreter (PYTHON_EXEC missing, or python3 on no
//                     PATH directory), or the script / PROGRAM path does not
//                     exist. tplaunch exits 127.
//   PermissionDenied  the interpreter is not executable, or PROGRAM is a
//                     non-executable ELF binary or a non-executable #! script
//                     of another interpreter. tplaunch exits 126.
//   InvalidArgument   PROGRAM is empty.
absl::StatusOr<WorkerCommand> ResolveWorkerCommand(const ProgramInputs& in);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_PROGRAM_H_
