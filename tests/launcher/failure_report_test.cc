// The failure report's texts, pure.
#include "launcher/failure_report.h"

#include <signal.h>

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

FailureContext Context() {
  FailureContext c;
  c.run_id = "job";
  c.host = "hostB";
  c.local_addr = "10.0.0.2";
  c.attempt = 2;
  c.node_rank = 1;
  c.num_nodes = 4;
  return c;
}

WorkerExit Exit(int exit_code, int signal = 0) {
  WorkerExit f;
  f.rank = 5;
  f.local_rank = 1;
  f.pid = 4242;
  f.exit_code = exit_code;
  f.signal = signal;
  f.time = absl::FromUnixSeconds(1700000000);
  return f;
}

TEST_CASE("ErrorFileMessage reads PyTorch's nested message") {
  CHECK(
      ErrorFileMessage(
          R"({"message": {"message": "RuntimeError: a \"b\"\nc", "extraInfo": {}}})") ==
      "RuntimeError: a \"b\"\nc");
  CHECK(ErrorFileMessage(R"({"message" : "flat"})") == "flat");
  CHECK(ErrorFileMessage(R"({"other": "x"})").empty());
  CHECK(ErrorFileMessage("").empty());
  CHECK(ReadErrorFileMessage("").empty());
  CHECK(ReadErrorFileMessage("/nonexistent/error.json").empty());
}

TEST_CASE("JsonEscape quotes and escapes control characters") {
  CHECK(JsonEscape("a\"b\\c\n\t\r") == R"("a\"b\\c\n\t\r")");
  CHECK(JsonEscape(std::string("\x01", 1)) == R"("\u0001")");
}

TEST_CASE("FailureReason prefers the error file's message, then stderr") {
  WorkerExit f = Exit(3);
  CHECK(FailureReason(Context(), f, "") ==
        "rank 5 (local rank 1, node 1, hostB, pid 4242) exited with exit code "
        "3");
  f.stderr_tail = {"first", "last line"};
  CHECK(FailureReason(Context(), f, "") ==
        "rank 5 (local rank 1, node 1, hostB, pid 4242) exited with exit code "
        "3: last line");
  CHECK(FailureReason(Context(), f, "boom") ==
        "rank 5 (local rank 1, node 1, hostB, pid 4242) exited with exit code "
        "3: boom");
}

TEST_CASE("RootCauseSummary names node, rank, signal, attempt and stderr") {
  WorkerExit f = Exit(0, SIGSEGV);
  f.stderr_tail = {"Segmentation fault"};
  const std::string s = RootCauseSummary(Context(), f, "oops");
  CHECK_THAT(s, Catch::StartsWith(
                    "worker failed: rank 5 on node 1 (hostB) died of signal"));
  CHECK_THAT(s, Catch::Contains("node       : 1 of 4 (hostB, 10.0.0.2)"));
  CHECK_THAT(s, Catch::Contains("rank       : 5 (local rank 1)"));
  CHECK_THAT(s, Catch::Contains("signal     : SIGSEGV (11)"));
  CHECK_THAT(s, Catch::Contains("attempt    : 2"));
  CHECK_THAT(s, Catch::Contains("error      : oops"));
  CHECK_THAT(s, Catch::Contains("      | Segmentation fault"));
}

TEST_CASE("FailureJson carries the run, the exit and the error file") {
  WorkerExit f = Exit(0, SIGSEGV);
  f.stderr_tail = {"a\"b"};
  const std::string j = FailureJson(Context(), f, "/l/error.json", "msg");
  CHECK_THAT(j, Catch::Contains(R"("run_id": "job")"));
  CHECK_THAT(j, Catch::Contains(R"("attempt": 2)"));
  CHECK_THAT(j, Catch::Contains(R"("exit_code": 139)"));
  CHECK_THAT(j, Catch::Contains(R"("signal": "SIGSEGV")"));
  CHECK_THAT(j, Catch::Contains(R"("time": "2023-11-14T22:13:20+00:00")"));
  CHECK_THAT(j, Catch::Contains(R"("error_file": "/l/error.json")"));
  CHECK_THAT(j, Catch::Contains(R"("stderr_tail": ["a\"b"])"));
  CHECK_THAT(FailureJson(Context(), Exit(3), "", ""),
             Catch::Contains(R"("signal": null)"));
}

}  // namespace
}  // namespace tplaunch
