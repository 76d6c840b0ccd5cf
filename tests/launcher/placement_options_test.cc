// The command line of --virtual-local-rank and --numa-binding: spellings,
// the TPLAUNCH_ environment, and bad values named.
#include <catch2/catch.hpp>

#include "absl/strings/str_split.h"
#include "launcher/cli.h"

namespace tplaunch {
namespace {

absl::StatusOr<LaunchConfig> Parse(
    const std::string& line, const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {"tplaunch"};
  for (absl::string_view w : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    argv.emplace_back(w);
  }
  return ParseCommandLine(argv, env);
}

TEST_CASE("placement options parse; both spellings; off by default") {
  auto none = Parse("prog", {});
  REQUIRE(none.ok());
  CHECK_FALSE(none->virtual_local_rank);
  CHECK(none->numa_binding == NumaBinding::kNone);

  const std::vector<std::pair<std::string, NumaBinding>> modes = {
      {"--numa-binding node", NumaBinding::kNode},
      {"--numa_binding=socket", NumaBinding::kSocket},
      {"--numa-binding EXCLUSIVE", NumaBinding::kExclusive},
      {"--numa-binding core-complex", NumaBinding::kCoreComplex},
  };
  for (const auto& [line, mode] : modes) {
    INFO(line);
    auto c = Parse(line + " prog", {});
    REQUIRE(c.ok());
    CHECK(c->numa_binding == mode);
  }
  auto v = Parse("--virtual_local_rank prog", {});
  REQUIRE(v.ok());
  CHECK(v->virtual_local_rank);
  CHECK(v->program == std::vector<std::string>{"prog"});

  auto env = Parse("prog", {{"TPLAUNCH_VIRTUAL_LOCAL_RANK", "1"},
                            {"TPLAUNCH_NUMA_BINDING", "node"}});
  REQUIRE(env.ok());
  CHECK(env->virtual_local_rank);
  CHECK(env->numa_binding == NumaBinding::kNode);
}

TEST_CASE("a bad --numa-binding names the option and the modes") {
  auto c = Parse("--numa-binding gpu prog", {});
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(c.status().message()),
             Catch::Contains("--numa-binding 'gpu'") &&
                 Catch::Contains("node, socket, exclusive or core-complex"));
  auto e = Parse("prog", {{"TPLAUNCH_NUMA_BINDING", "all"}});
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(std::string(e.status().message()),
             Catch::Contains("TPLAUNCH_NUMA_BINDING 'all'"));
}

}  // namespace
}  // namespace tplaunch
