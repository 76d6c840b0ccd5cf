// The output options as the command line leaves them (per-rank --tee and
// --redirects maps, --duplicate-*-filters, --log-line-prefix-template), the
// prefix template and the "carries a prefix" rule, the filter lists, and the
// routing of each stream that follows from them. Pure functions only.
#include <catch2/catch.hpp>

#include "absl/strings/str_split.h"
#include "launcher/cli.h"
#include "launcher/log_prefix.h"
#include "launcher/output_filters.h"
#include "launcher/output_routing.h"

namespace tplaunch {
namespace {

absl::StatusOr<LaunchConfig> Parse(
    const std::string& line,
    const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv = {"tplaunch"};
  for (absl::string_view w : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    argv.emplace_back(w);
  }
  return ParseCommandLine(argv, env);
}

std::string Error(const std::string& line) {
  auto c = Parse(line);
  return c.ok() ? "<parsed>" : std::string(c.status().message());
}

TEST_CASE("--tee and --redirects take torchrun's per-local-rank maps") {
  auto c = Parse("--nproc 4 --tee 0:1,1:2,3:3 --redirects 2:stderr p");
  REQUIRE(c.ok());
  CHECK(c->tee.For(0) == StdStreams::kOut);
  CHECK(c->tee.For(1) == StdStreams::kErr);
  // A rank the map does not name gets none, as torchrun's to_map.
  CHECK(c->tee.For(2) == StdStreams::kNone);
  CHECK(c->tee.For(3) == StdStreams::kAll);
  CHECK(c->redirects.For(2) == StdStreams::kErr);
  CHECK(c->redirects.For(0) == StdStreams::kNone);
  CHECK_FALSE(c->tee == StdStreams::kOut);
  CHECK(c->tee.AnyStdout());
  CHECK_FALSE(c->redirects.AnyStdout());
  CHECK(c->redirects.AnyStderr());

  auto all = Parse("--tee 3 p");
  REQUIRE(all.ok());
  CHECK(all->tee == StdStreams::kAll);
  CHECK(all->tee.For(17) == StdStreams::kAll);

  CHECK_THAT(Error("--nproc 2 --tee 0:1,2:1 p"),
             Catch::Contains("local rank 2 does not exist"));
  CHECK_THAT(Error("--nproc 2 --tee 0:1,0:2 p"),
             Catch::Contains("local rank 0 is given twice"));
  CHECK_THAT(Error("--nproc 2 --tee 0:1,x:2 p"),
             Catch::Contains("'x:2' is not LOCAL_RANK:VALUE"));
  CHECK_THAT(Error("--nproc 2 --redirects 0:7 p"),
             Catch::Contains("--redirects '0:7'"));
  CHECK_THAT(Error("--nproc 2 --tee 0:1,1 p"),
             Catch::Contains("'1' is not LOCAL_RANK:VALUE"));
  // --nproc-per-node auto: the ranks are not known yet, so any is accepted.
  CHECK(Parse("--nproc auto --tee 5:1 p").ok());
}

TEST_CASE("--duplicate-*-filters: torchrun's comma list") {
  auto c = Parse(
      "--duplicate-stdout-filters loss,acc --duplicate_stderr_filters "
      "a,,b p");
  REQUIRE(c.ok());
  CHECK(c->duplicate_stdout_filters == std::vector<std::string>{"loss", "acc"});
  CHECK(c->duplicate_stderr_filters == std::vector<std::string>{"a,b"});
  auto env = Parse("p", {{"TPLAUNCH_DUPLICATE_STDOUT_FILTERS", "x"}});
  REQUIRE(env.ok());
  CHECK(env->duplicate_stdout_filters == std::vector<std::string>{"x"});
  CHECK(Parse("p")->duplicate_stdout_filters.empty());

  CHECK(ParseDuplicateFilters("") == std::vector<std::string>{""});
  CHECK(ParseDuplicateFilters("a,") == std::vector<std::string>{"a", ""});
  CHECK(ParseDuplicateFilters("a,,,b") == std::vector<std::string>{"a,", "b"});
  CHECK(ParseDuplicateFilters(",,") == std::vector<std::string>{","});
  CHECK(MatchesAnyFilter("epoch 3 loss 0.1", {"acc", "loss"}));
  CHECK_FALSE(MatchesAnyFilter("epoch 3", {"acc", "loss"}));
  CHECK_FALSE(MatchesAnyFilter("anything", {}));
  // An empty filter is in every line (torchrun's `needle in line`).
  CHECK(MatchesAnyFilter("anything", {""}));
}

TEST_CASE("--log-line-prefix-template is --log-prefix") {
  auto c = Parse("--log-line-prefix-template [${role_name}${local_rank}]: p");
  REQUIRE(c.ok());
  CHECK(c->has_log_prefix);
  CHECK(c->log_prefix == "[${role_name}${local_rank}]:");
  auto u = Parse("--log_line_prefix_template $rank| p");
  REQUIRE(u.ok());
  CHECK(u->log_prefix == "$rank|");
  CHECK_THAT(Error("--log-line-prefix-template $nope p"),
             Catch::Contains("unknown field ${nope}"));
}

TEST_CASE("prefix templates: torchrun's fields, with and without braces") {
  LogPrefixFields f;
  f.rank = 5;
  f.local_rank = 1;
  f.node_rank = 2;
  f.role_name = "trainer";
  f.host = "hostB";
  f.attempt = 3;
  CHECK(RenderLogPrefix("[${role_name}${local_rank}]:", f) == "[trainer1]: ");
  CHECK(RenderLogPrefix("[$role_name$rank]:", f) == "[trainer5]: ");
  CHECK(RenderLogPrefix("${host}/${node_rank}/${attempt}>", f) ==
        "hostB/2/3> ");
  // torchrun 2.14's ${hostname} is ours ${host}.
  CHECK(RenderLogPrefix("${hostname}:${rank}: ", f) == "hostB:5: ");
  // "$$" is a "$"; a "$" that starts no field is literal (string.Template).
  CHECK(RenderLogPrefix("$$rank $1 $", f) == "$rank $1 $ ");
  CHECK(RenderLogPrefix("", f).empty());
  CHECK(ValidateLogPrefixTemplate("$rank$local_rank").ok());
  CHECK_FALSE(ValidateLogPrefixTemplate("$host_name").ok());
  CHECK_FALSE(ValidateLogPrefixTemplate("${rank").ok());
}

TEST_CASE("a line carries a prefix: ours exactly, or torch's own [rankN]:") {
  const std::string ours = "[rank2]: ";
  const std::string torch = TorchRankPrefix(2);
  CHECK(torch == "[rank2]:");
  CHECK(LineCarriesPrefix("[rank2]: Traceback (most recent call last):", ours,
                          torch));
  CHECK(
      LineCarriesPrefix("[rank2]:[W1202 07:41:54 reducer.cpp:1]", ours, torch));
  CHECK(LineCarriesPrefix("[host rank2]: x", "[host rank2]: ", torch));
  CHECK(LineCarriesPrefix("[rank2]: x", "[host rank2]: ", torch));
  // Another rank's prefix, or ours without its space, is the worker's text.
  CHECK_FALSE(LineCarriesPrefix("[rank3]: x", ours, torch));
  CHECK_FALSE(LineCarriesPrefix("[rank22]: x", ours, torch));
  CHECK_FALSE(LineCarriesPrefix("2|x", "2| ", TorchRankPrefix(2)));
  CHECK_FALSE(LineCarriesPrefix(" [rank2]: x", ours, torch));
  CHECK_FALSE(LineCarriesPrefix("plain", "", torch));
}

TEST_CASE("routing: torchrun's tee/redirects rules, tplaunch's --log-dir") {
  auto c = Parse(
      "--nproc 4 --tee 0:3,1:1 --redirects 1:3,2:2 "
      "--duplicate-stdout-filters loss p");
  REQUIRE(c.ok());
  WorkerOutputRoute r0 = RouteWorkerOutput(*c, 0);
  CHECK(r0.to_file == StdStreams::kAll);
  CHECK(r0.to_console == StdStreams::kAll);
  CHECK(r0.duplicated == StdStreams::kOut);  // No stderr filters.
  // Redirected and tee'd: still on the console, as in torchrun.
  WorkerOutputRoute r1 = RouteWorkerOutput(*c, 1);
  CHECK(r1.to_file == StdStreams::kAll);
  CHECK(r1.to_console == StdStreams::kOut);
  CHECK(r1.duplicated == StdStreams::kOut);
  WorkerOutputRoute r2 = RouteWorkerOutput(*c, 2);
  CHECK(r2.to_file == StdStreams::kErr);
  CHECK(r2.to_console == StdStreams::kOut);
  CHECK(r2.duplicated == StdStreams::kNone);
  WorkerOutputRoute r3 = RouteWorkerOutput(*c, 3);
  CHECK(r3.to_file == StdStreams::kNone);
  CHECK(r3.to_console == StdStreams::kAll);
  CHECK(r3.duplicated == StdStreams::kNone);
  CHECK(DuplicateFiltersWarning(*c).empty());

  auto dir = Parse(
      "--nproc 2 --log-dir /l --local-ranks-filter 1 "
      "--duplicate-stderr-filters E p");
  REQUIRE(dir.ok());
  CHECK(RouteWorkerOutput(*dir, 0).to_console == StdStreams::kNone);
  CHECK(RouteWorkerOutput(*dir, 0).duplicated == StdStreams::kNone);
  CHECK(RouteWorkerOutput(*dir, 1).to_file == StdStreams::kAll);
  CHECK(RouteWorkerOutput(*dir, 1).duplicated == StdStreams::kErr);

  RankFiles files;
  files.filtered_stdout_file = "/r/attempt_0/filtered_stdout.log";
  files.filtered_stderr_file = "/r/attempt_0/filtered_stderr.log";
  WorkerSpec spec;
  ApplyOutputRoute(*dir, RouteWorkerOutput(*dir, 1), files, spec);
  CHECK(spec.stdout_to_console);
  CHECK(spec.stderr_to_console);
  CHECK(spec.stdout_duplicate_file.empty());
  CHECK(spec.stderr_duplicate_file == files.filtered_stderr_file);
  CHECK(spec.stderr_duplicate_filters == std::vector<std::string>{"E"});

  auto none = Parse("--nproc 2 --duplicate-stdout-filters loss p");
  REQUIRE(none.ok());
  CHECK_THAT(DuplicateFiltersWarning(*none),
             Catch::Contains("--duplicate-stdout-filters copy no line"));
}

}  // namespace
}  // namespace tplaunch
