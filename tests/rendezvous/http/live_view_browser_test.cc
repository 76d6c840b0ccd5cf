// End to end in a real browser: Debian's headless chromium renders the live
// view of a two-node job (two real tplaunch processes against one real tprdzvd
// with --http-port 0 and a token) while it waits for its second node, while it
// runs, and after one of its ranks failed. The page is opened once with
// ?token=, so its own fetches ride on the HttpOnly cookie. Screenshots go to
// $TEST_UNDECLARED_OUTPUTS_DIR.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/rendezvous/http/live_daemon.h"

namespace tplaunch {
namespace {

using testing::LiveDaemon;
using testing::Runfile;
using testing::Subprocess;
using testing::SubprocessOptions;
using testing::WaitFor;

constexpr char kToken[] = "browser-tok-81f2";
constexpr char kRun[] = "webjob";
// Chromium's start on a loaded 2-core machine takes seconds.
constexpr absl::Duration kBrowserTimeout = absl::Seconds(90);

std::string ShortTempDir() {
  char dir[] = "/tmp/tplv-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  return dir;
}

class Browser {
 public:
  // The profile lives under /tmp, not TEST_TMPDIR: chromium refuses a
  // singleton socket path as long as Bazel's sandbox paths.
  explicit Browser(int port) : port_(port), profile_(ShortTempDir()) {}
  ~Browser() { std::filesystem::remove_all(profile_); }

  // The DOM of /jobs/kRun after its scripts ran (virtual time lets the
  // page's fetch complete before the dump).
  std::string Dom() { return Run({"--dump-dom"}); }

  // A PNG under $TEST_UNDECLARED_OUTPUTS_DIR (nothing outside Bazel).
  void Screenshot(const std::string& name) {
    const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
    if (dir == nullptr) return;
    Run({absl::StrCat("--screenshot=", dir, "/", name),
         "--window-size=1280,900"});
  }

 private:
  std::string Run(const std::vector<std::string>& what) {
    std::vector<std::string> argv = {"/usr/bin/chromium",
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--no-first-run",
                                     "--disable-dev-shm-usage",
                                     absl::StrCat("--user-data-dir=", profile_),
                                     "--virtual-time-budget=3000"};
    argv.insert(argv.end(), what.begin(), what.end());
    argv.push_back(absl::StrCat("http://127.0.0.1:", port_, "/jobs/", kRun,
                                "?token=", kToken));
    SubprocessOptions options;
    options.env = {{"TMPDIR", profile_}};
    Subprocess chromium(argv, options);
    const std::optional<int> status = chromium.Wait(kBrowserTimeout);
    INFO("chromium stderr: " << chromium.err());
    REQUIRE(status == 0);
    return chromium.out();
  }

  const int port_;
  const std::string profile_;
};

TEST_CASE("the page shows the missing node, both nodes, then the root cause") {
  const std::string dir = testing::MakeTempDir();
  const std::string token_file = dir + "/token";
  const std::string gate = dir + "/gate";
  testing::WriteFile(token_file, kToken);
  LiveDaemon daemon({"--token-file", token_file});
  const httplib::Headers bearer = {
      {"Authorization", std::string("Bearer ") + kToken}};
  auto api = [&] {
    return daemon.Get(absl::StrCat("/api/v1/jobs/", kRun), bearer).body;
  };
  auto node = [&](const std::string& rank) {
    SubprocessOptions options;
    options.unset_prefixes = {"TPLAUNCH_", "RANK"};
    options.env = {{"GATE_FILE", gate}, {"FAIL_RANK", "3"}};
    return std::make_unique<Subprocess>(
        std::vector<std::string>{
            Runfile("launcher/tplaunch"), "--nnodes", "2", "--nproc", "2",
            "--node-rank", rank, "--rdzv-endpoint", daemon.endpoint(),
            "--rdzv-id", kRun, "--token-file", token_file,
            Runfile("tests/rendezvous/http/gated_worker.sh")},
        options);
  };
  Browser browser(daemon.http_port());

  std::unique_ptr<Subprocess> first = node("0");
  std::string json;
  REQUIRE(WaitFor(
      [&] {
        json = api();
        return absl::StrContains(json, "\"state\":\"waiting\"") &&
               absl::StrContains(json, "\"nodesJoined\":1");
      },
      absl::Seconds(60)));
  std::string dom = browser.Dom();
  INFO(dom);
  // --nnodes 2, as the launchers published it (ExpectKey).
  CHECK(absl::StrContains(dom, "waiting for nodes 1/2"));
  CHECK(absl::StrContains(dom, "1 more node(s) needed"));
  CHECK(absl::StrContains(dom, "Missing: node slot 1"));
  CHECK(absl::StrContains(dom, absl::StrCat(kRun, "/a0/node/1")));
  browser.Screenshot("1-waiting.png");

  std::unique_ptr<Subprocess> second = node("1");
  REQUIRE(WaitFor(
      [&] {
        json = api();
        return absl::StrContains(json, "\"state\":\"running\"");
      },
      absl::Seconds(60)));
  dom = browser.Dom();
  INFO(dom);
  CHECK(absl::StrContains(dom, "running (2 nodes)"));
  // Both nodes with their global ranks.
  CHECK(absl::StrContains(dom, "<td>0..1</td>"));
  CHECK(absl::StrContains(dom, "<td>2..3</td>"));
  browser.Screenshot("2-running.png");

  testing::WriteFile(gate, "go");
  REQUIRE(WaitFor(
      [&] {
        json = api();
        return absl::StrContains(json, "\"state\":\"ended_failed\"");
      },
      absl::Seconds(60)));
  dom = browser.Dom();
  INFO(dom);
  CHECK(absl::StrContains(dom, "id=\"root-cause\""));
  CHECK(absl::StrContains(dom, "exit code 7"));
  CHECK(absl::StrContains(dom, "rank 3"));
  browser.Screenshot("3-failed.png");
  CHECK(first->Wait(absl::Seconds(60)).has_value());
  CHECK(second->Wait(absl::Seconds(60)).has_value());
}

}  // namespace
}  // namespace tplaunch
