// tplaunch --http-port: the live view of the server a standalone launcher
// embeds, with its own workers' pid, /proc state, RSS and last output line
// (real tplaunch, real workers that wait on a gate file); and the usage error
// on a node that embeds no server.
#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>
#include <map>
#include <regex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/live_view.pb.h"
#include "tests/rendezvous/http/live_daemon.h"

namespace tplaunch {
namespace {

using testing::LiveDaemon;
using testing::PortAfter;
using testing::Runfile;
using testing::Subprocess;
using testing::SubprocessOptions;
using testing::WaitFor;

constexpr char kRun[] = "solo1";

SubprocessOptions CleanEnv(const std::string& gate) {
  SubprocessOptions options;
  options.unset_prefixes = {"TPLAUNCH_", "RANK"};
  options.env = {{"GATE_FILE", gate}};
  return options;
}

// "rank R pid P waits for the gate" lines of the workers: rank -> pid.
std::map<int, int64_t> PrintedPids(const std::string& out) {
  std::map<int, int64_t> pids;
  static const std::regex line(R"(rank (\d+) pid (\d+) waits for the gate)");
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end;
       ++it) {
    pids[std::stoi((*it)[1])] = std::stoll((*it)[2]);
  }
  return pids;
}

TEST_CASE("a standalone job's page shows its workers from /proc") {
  const std::string dir = testing::MakeTempDir();
  const std::string gate = dir + "/gate";
  Subprocess launcher({Runfile("launcher/tplaunch"), "--http-port", "0",
                       "--nproc", "2", "--rdzv-id", kRun,
                       Runfile("tests/rendezvous/http/standalone_worker.sh")},
                      CleanEnv(gate));
  std::string token;
  const std::regex url(
      R"(live view: http://127\.0\.0\.1:\d+/jobs/solo1\?token=([0-9a-f]+))");
  const bool up = WaitFor(
      [&] {
        std::smatch m;
        const std::string err = launcher.err();
        if (!std::regex_search(err, m, url)) return false;
        token = m[1];
        return PortAfter(launcher.out(), "http listening on 127.0.0.1:") != 0;
      },
      absl::Seconds(60));
  INFO("stdout: " << launcher.out() << "\nstderr: " << launcher.err());
  REQUIRE(up);
  const int port = PortAfter(launcher.out(), "http listening on 127.0.0.1:");
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  const httplib::Headers bearer = {{"Authorization", "Bearer " + token}};

  // Without the token: 401, as on tprdzvd.
  auto denied = client.Get("/api/v1/jobs");
  REQUIRE(denied);
  CHECK(denied->status == 401);

  rendezvous::v1::LiveJob job;
  std::map<int, int64_t> printed;
  const bool seen = WaitFor(
      [&] {
        printed = PrintedPids(launcher.out());
        auto res =
            client.Get(absl::StrCat("/api/v1/jobs/", kRun).c_str(), bearer);
        if (!res || res->status != 200) return false;
        job.Clear();
        if (!google::protobuf::util::JsonStringToMessage(res->body, &job)
                 .ok()) {
          return false;
        }
        if (printed.size() != 2 || job.workers_size() != 2) return false;
        for (const auto& w : job.workers()) {
          if (w.last_line().empty() || w.rss_bytes() == 0) return false;
        }
        return true;
      },
      absl::Seconds(60));
  INFO("job: " << job.DebugString());
  REQUIRE(seen);
  CHECK(job.run_id() == kRun);
  CHECK(job.state() == "running");
  for (const auto& w : job.workers()) {
    CHECK(w.local_rank() == w.rank());
    // The workers' real pids: what each printed as its own $$.
    CHECK(w.pid() == printed.at(w.rank()));
    CHECK(w.rss_bytes() > 0);
    CHECK((w.state() == "sleeping" || w.state() == "running"));
    CHECK(w.last_line() == absl::StrCat("rank ", w.rank(), " pid ", w.pid(),
                                        " waits for the gate"));
  }
  // The list has the job too, and the page is served.
  auto list = client.Get("/api/v1/jobs", bearer);
  REQUIRE(list);
  CHECK(absl::StrContains(list->body, "\"runId\":\"solo1\""));
  auto page = client.Get(absl::StrCat("/jobs/", kRun).c_str(), bearer);
  REQUIRE(page);
  CHECK(absl::StrContains(page->body, "Workers of this launcher"));

  testing::WriteFile(gate, "go");
  CHECK(launcher.Wait(absl::Seconds(60)) == 0);
}

TEST_CASE("--http-port on a node that embeds no server is a usage error") {
  const std::string dir = testing::MakeTempDir();
  SECTION("is_host=false says so before connecting") {
    Subprocess launcher({Runfile("launcher/tplaunch"), "--http-port", "0",
                         "--rdzv-endpoint", "127.0.0.1:1", "--rdzv-id", "j",
                         "--rdzv-conf", "is_host=false", "/bin/true"},
                        CleanEnv(dir + "/gate"));
    CHECK(launcher.Wait(absl::Seconds(60)) == 2);
    CHECK(absl::StrContains(launcher.err(), "--http-port"));
  }
  SECTION("a client of a running tprdzvd finds it out when deciding") {
    LiveDaemon daemon({});
    Subprocess launcher(
        {Runfile("launcher/tplaunch"), "--http-port", "0", "--rdzv-endpoint",
         daemon.endpoint(), "--rdzv-id", "j", "/bin/true"},
        CleanEnv(dir + "/gate"));
    CHECK(launcher.Wait(absl::Seconds(60)) == 2);
    INFO(launcher.err());
    CHECK(absl::StrContains(launcher.err(), "embeds none"));
  }
  SECTION("--http-host without --http-port") {
    Subprocess launcher(
        {Runfile("launcher/tplaunch"), "--http-host", "127.0.0.1", "/bin/true"},
        CleanEnv(dir + "/gate"));
    CHECK(launcher.Wait(absl::Seconds(60)) == 2);
  }
}

}  // namespace
}  // namespace tplaunch
