#include "worker_lib/init_config.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "store/memory_store.h"

namespace tplaunch {
namespace {

using Env = std::map<std::string, std::string>;

EnvLookup Lookup(const Env& env) {
  return [env](absl::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

Env LauncherEnv() {
  return {{"RANK", "2"},
          {"WORLD_SIZE", "4"},
          {"LOCAL_RANK", "1"},
          {"TPLAUNCH_RDZV_ENDPOINT", "127.0.0.1:29400"},
          {"TPLAUNCH_RUN_ID", "job-1"},
          {"TPLAUNCH_ATTEMPT", "3"},
          {"TPLAUNCH_RDZV_TOKEN", "s3cret"},
          {"TPLAUNCH_LOCAL_ADDR", "10.1.2.3"}};
}

TEST_CASE("env:// reads every launcher variable") {
  ProcessGroupOptions options;
  absl::StatusOr<InitConfig> config =
      ResolveInitConfig(options, Lookup(LauncherEnv()));
  REQUIRE(config.ok());
  CHECK(config->rank == 2);
  CHECK(config->world_size == 4);
  CHECK(config->local_rank == 1);
  CHECK(config->attempt == 3);
  REQUIRE(config->rdzv_endpoint.has_value());
  CHECK(config->rdzv_endpoint->ToString() == "127.0.0.1:29400");
  CHECK(config->run_id == "job-1");
  CHECK(config->token == "s3cret");
  CHECK(config->local_addr == "10.1.2.3");
  CHECK(config->key_prefix == "job-1/a3/w/default");
}

TEST_CASE("optional variables: no token, no local address -> 127.0.0.1") {
  Env env = LauncherEnv();
  env.erase("TPLAUNCH_RDZV_TOKEN");
  env.erase("TPLAUNCH_LOCAL_ADDR");
  absl::StatusOr<InitConfig> config =
      ResolveInitConfig(ProcessGroupOptions(), Lookup(env));
  REQUIRE(config.ok());
  CHECK(config->token.empty());
  CHECK(config->local_addr == "127.0.0.1");
}

TEST_CASE("each required variable missing is named") {
  for (const char* name :
       {"RANK", "WORLD_SIZE", "LOCAL_RANK", "TPLAUNCH_RDZV_ENDPOINT",
        "TPLAUNCH_RUN_ID", "TPLAUNCH_ATTEMPT"}) {
    Env env = LauncherEnv();
    env.erase(name);
    absl::StatusOr<InitConfig> config =
        ResolveInitConfig(ProcessGroupOptions(), Lookup(env));
    INFO(name);
    REQUIRE(absl::IsInvalidArgument(config.status()));
    CHECK_THAT(std::string(config.status().message()),
               Catch::Contains(std::string(name) + " is not set"));
  }
}

TEST_CASE("each garbled variable is named with its value") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"RANK", "abc"},
      {"RANK", "-1"},
      {"RANK", " 2"},
      {"RANK", "99999999999"},
      {"WORLD_SIZE", "0"},
      {"WORLD_SIZE", "4x"},
      {"LOCAL_RANK", "one"},
      {"TPLAUNCH_ATTEMPT", "1.5"},
      {"TPLAUNCH_RDZV_ENDPOINT", "host:notaport"},
      {"TPLAUNCH_RDZV_ENDPOINT", "host:70000"},
      {"TPLAUNCH_RDZV_ENDPOINT", "::1:29400"},
      {"TPLAUNCH_RDZV_ENDPOINT", "[::1"},
      {"TPLAUNCH_RDZV_ENDPOINT", ""},
      {"TPLAUNCH_RUN_ID", ""},
      {"TPLAUNCH_RUN_ID", "a/b"},
      {"TPLAUNCH_RDZV_TOKEN", ""},
      {"TPLAUNCH_LOCAL_ADDR", "not an address"},
  };
  for (const auto& [name, value] : cases) {
    Env env = LauncherEnv();
    env[name] = value;
    absl::StatusOr<InitConfig> config =
        ResolveInitConfig(ProcessGroupOptions(), Lookup(env));
    INFO(name << "='" << value << "' -> " << config.status().ToString());
    REQUIRE(absl::IsInvalidArgument(config.status()));
    CHECK_THAT(std::string(config.status().message()), Catch::Contains(name));
    if (!value.empty() && name != "TPLAUNCH_RDZV_TOKEN") {
      CHECK_THAT(std::string(config.status().message()),
                 Catch::Contains(value));
    }
  }
}

TEST_CASE("the token's value never appears in an error") {
  Env env = LauncherEnv();
  env["TPLAUNCH_RDZV_TOKEN"] = "se cret";
  absl::StatusOr<InitConfig> config =
      ResolveInitConfig(ProcessGroupOptions(), Lookup(env));
  REQUIRE(absl::IsInvalidArgument(config.status()));
  CHECK_THAT(std::string(config.status().message()),
             !Catch::Contains("se cret"));
}

TEST_CASE("rank must be below world size") {
  Env env = LauncherEnv();
  env["RANK"] = "4";
  absl::StatusOr<InitConfig> config =
      ResolveInitConfig(ProcessGroupOptions(), Lookup(env));
  REQUIRE(absl::IsInvalidArgument(config.status()));
  CHECK_THAT(std::string(config.status().message()),
             Catch::Contains("rank 4") && Catch::Contains("world size 4"));
}

TEST_CASE("options override the environment") {
  ProcessGroupOptions options;
  options.rank = 0;
  options.world_size = 2;
  options.local_rank = 0;
  options.attempt = 7;
  options.group_name = "tp";
  options.local_addr = "::1";
  absl::StatusOr<InitConfig> config =
      ResolveInitConfig(options, Lookup(LauncherEnv()));
  REQUIRE(config.ok());
  CHECK(config->rank == 0);
  CHECK(config->world_size == 2);
  CHECK(config->attempt == 7);
  CHECK(config->local_addr == "::1");
  CHECK(config->key_prefix == "job-1/a7/w/tp");
}

TEST_CASE("a caller's store needs only rank and world size") {
  ProcessGroupOptions options;
  options.store = std::shared_ptr<Store>(NewMemoryStore());
  options.rank = 1;
  options.world_size = 3;
  absl::StatusOr<InitConfig> config = ResolveInitConfig(options, Lookup({}));
  REQUIRE(config.ok());
  CHECK(config->attempt == 0);
  CHECK(config->local_rank == 0);
  CHECK_FALSE(config->rdzv_endpoint.has_value());
  CHECK(config->key_prefix == "a0/w/default");

  options.rank = -1;
  config = ResolveInitConfig(options, Lookup({}));
  REQUIRE(absl::IsInvalidArgument(config.status()));
  CHECK_THAT(std::string(config.status().message()), Catch::Contains("RANK"));
}

TEST_CASE("tprdzv:// URL") {
  ProcessGroupOptions options;
  options.init_method = "tprdzv://[::1]:1234/myjob";
  options.rank = 0;
  options.world_size = 1;
  absl::StatusOr<InitConfig> config = ResolveInitConfig(options, Lookup({}));
  REQUIRE(config.ok());
  REQUIRE(config->rdzv_endpoint.has_value());
  CHECK(config->rdzv_endpoint->host == "::1");
  CHECK(config->rdzv_endpoint->port == 1234);
  CHECK(config->rdzv_endpoint->ToString() == "[::1]:1234");
  CHECK(config->run_id == "myjob");

  for (const char* bad : {"tprdzv://host:1234", "tprdzv:///job",
                          "tprdzv://h:0/j", "tprdzv://h:1/", "tcp://h:1"}) {
    options.init_method = bad;
    INFO(bad);
    CHECK(absl::IsInvalidArgument(
        ResolveInitConfig(options, Lookup({})).status()));
  }
}

TEST_CASE("an endpoint without a port gets the default rendezvous port") {
  Env env = LauncherEnv();
  env["TPLAUNCH_RDZV_ENDPOINT"] = "node-a";
  absl::StatusOr<InitConfig> config =
      ResolveInitConfig(ProcessGroupOptions(), Lookup(env));
  REQUIRE(config.ok());
  REQUIRE(config->rdzv_endpoint.has_value());
  CHECK(config->rdzv_endpoint->host == "node-a");
  CHECK(config->rdzv_endpoint->port == kDefaultRendezvousPort);

  absl::StatusOr<RdzvUrl> url = ParseRdzvUrl("tprdzv://[::1]/job");
  REQUIRE(url.ok());
  CHECK(url->endpoint.ToString() == "[::1]:29400");
  CHECK(url->job == "job");
}

TEST_CASE("bad options") {
  ProcessGroupOptions options;
  options.rank = 0;
  options.world_size = 1;
  options.store = std::shared_ptr<Store>(NewMemoryStore());
  options.timeout = absl::ZeroDuration();
  CHECK(
      absl::IsInvalidArgument(ResolveInitConfig(options, Lookup({})).status()));
  options.timeout = absl::Seconds(1);
  options.group_name = "a/b";
  CHECK(
      absl::IsInvalidArgument(ResolveInitConfig(options, Lookup({})).status()));
  options.group_name = "";
  CHECK(
      absl::IsInvalidArgument(ResolveInitConfig(options, Lookup({})).status()));
}

}  // namespace
}  // namespace tplaunch
