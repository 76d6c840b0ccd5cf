#include "launcher/worker_env.h"

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

WorkerEnvInputs Inputs() {
  WorkerEnvInputs in;
  in.base = {{"PATH", "/usr/bin"}, {"HOME", "/root"}};
  in.role = "trainer";
  in.local_rank = 1;
  in.local_world_size = 4;
  in.rank_offset = 8;
  in.world_size = 16;
  in.node_rank = 2;
  in.num_nodes = 4;
  in.master_addr = "10.0.0.1";
  in.master_port = 41000;
  in.attempt = 3;
  in.max_restarts = 5;
  in.run_id = "job7";
  in.error_file = "/logs/job7/attempt_3/rank_9/error.json";
  in.rdzv_endpoint = "10.0.0.9:29400";
  in.rdzv_token = "secret";
  in.local_addr = "10.0.0.3";
  return in;
}

TEST_CASE("torchrun's variables with torchrun's meanings") {
  EnvMap env = BuildWorkerEnv(Inputs());
  const EnvMap expected = {
      {"RANK", "9"},
      {"LOCAL_RANK", "1"},
      {"GROUP_RANK", "2"},
      {"ROLE_RANK", "9"},
      {"ROLE_NAME", "trainer"},
      {"LOCAL_WORLD_SIZE", "4"},
      {"WORLD_SIZE", "16"},
      {"GROUP_WORLD_SIZE", "4"},
      {"ROLE_WORLD_SIZE", "16"},
      {"MASTER_ADDR", "10.0.0.1"},
      {"MASTER_PORT", "41000"},
      {"TORCHELASTIC_RESTART_COUNT", "3"},
      {"TORCHELASTIC_MAX_RESTARTS", "5"},
      {"TORCHELASTIC_RUN_ID", "job7"},
      {"TORCHELASTIC_ERROR_FILE", "/logs/job7/attempt_3/rank_9/error.json"},
      {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"},
      {"NCCL_ASYNC_ERROR_HANDLING", "1"},
      {"PYTHONUNBUFFERED", "1"},
      {"OMP_NUM_THREADS", "1"},
      {"TPLAUNCH_RDZV_ENDPOINT", "10.0.0.9:29400"},
      {"TPLAUNCH_RUN_ID", "job7"},
      {"TPLAUNCH_ATTEMPT", "3"},
      {"TPLAUNCH_RDZV_TOKEN", "secret"},
      {"TPLAUNCH_LOCAL_ADDR", "10.0.0.3"},
      {"PATH", "/usr/bin"},
      {"HOME", "/root"},
  };
  CHECK(env == expected);
  CHECK(WillDefaultOmpThreads(Inputs()));
}

TEST_CASE("user settings win where torchrun only sets defaults") {
  WorkerEnvInputs in = Inputs();
  in.base["OMP_NUM_THREADS"] = "6";
  in.base["TORCH_NCCL_ASYNC_ERROR_HANDLING"] = "0";
  in.base["NCCL_ASYNC_ERROR_HANDLING"] = "0";
  in.base["PYTHONUNBUFFERED"] = "";
  in.base["RANK"] = "stale";
  EnvMap env = BuildWorkerEnv(in);
  CHECK(env["OMP_NUM_THREADS"] == "6");
  CHECK(env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "0");
  CHECK(env["NCCL_ASYNC_ERROR_HANDLING"] == "0");
  CHECK(env["PYTHONUNBUFFERED"].empty());
  CHECK(env["RANK"] == "9");
  CHECK_FALSE(WillDefaultOmpThreads(in));
}

TEST_CASE("one worker: no OMP default; no token, error file or agent store") {
  WorkerEnvInputs in = Inputs();
  in.local_world_size = 1;
  in.local_rank = 0;
  in.rdzv_token.clear();
  in.error_file.clear();
  in.base["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  in.base["TPLAUNCH_RDZV_TOKEN"] = "inherited";
  EnvMap env = BuildWorkerEnv(in);
  CHECK(env.count("OMP_NUM_THREADS") == 0);
  CHECK(env.count("TPLAUNCH_RDZV_TOKEN") == 0);
  CHECK(env.count("TORCHELASTIC_ERROR_FILE") == 0);
  CHECK(env.count("TORCHELASTIC_USE_AGENT_STORE") == 0);
  CHECK_FALSE(WillDefaultOmpThreads(in));
  in.use_agent_store = true;
  CHECK(BuildWorkerEnv(in)["TORCHELASTIC_USE_AGENT_STORE"] == "True");
}

TEST_CASE("ranks across nodes are a prefix sum") {
  for (int node = 0; node < 3; ++node) {
    for (int lr = 0; lr < 2; ++lr) {
      WorkerEnvInputs in = Inputs();
      in.node_rank = node;
      in.num_nodes = 3;
      in.local_world_size = 2;
      in.rank_offset = node * 2;
      in.world_size = 6;
      in.local_rank = lr;
      EnvMap env = BuildWorkerEnv(in);
      CHECK(env["RANK"] == std::to_string(node * 2 + lr));
      CHECK(env["GROUP_RANK"] == std::to_string(node));
    }
  }
}

TEST_CASE(
    "--virtual-local-rank: LOCAL_RANK 0, one device of the inherited list") {
  WorkerEnvInputs in = Inputs();  // Local rank 1 of 4.
  in.virtual_local_rank = true;
  in.base["CUDA_VISIBLE_DEVICES"] = "3,5,7,9";
  EnvMap env = BuildWorkerEnv(in);
  CHECK(env["LOCAL_RANK"] == "0");
  CHECK(env["CUDA_VISIBLE_DEVICES"] == "5");
  // Everything else keeps its meaning (torchrun 2.x).
  CHECK(env["LOCAL_WORLD_SIZE"] == "4");
  CHECK(env["RANK"] == "9");
  CHECK(env["GROUP_RANK"] == "2");

  // Unset: the local rank is the device.
  in.base.erase("CUDA_VISIBLE_DEVICES");
  in.local_rank = 3;
  CHECK(BuildWorkerEnv(in)["CUDA_VISIBLE_DEVICES"] == "3");

  // UUID and MIG entries are opaque items; whitespace around them goes.
  in.base["CUDA_VISIBLE_DEVICES"] =
      "GPU-8a1b2c3d-0000-1111-2222-333344445555, MIG-1f2e3d4c-aaaa-bbbb-cccc-"
      "ddddeeeeffff,GPU-0,GPU-1";
  in.local_rank = 1;
  CHECK(BuildWorkerEnv(in)["CUDA_VISIBLE_DEVICES"] ==
        "MIG-1f2e3d4c-aaaa-bbbb-cccc-ddddeeeeffff");

  // Off: LOCAL_RANK is the real one and the list is inherited whole.
  in.virtual_local_rank = false;
  in.base["CUDA_VISIBLE_DEVICES"] = "3,5,7,9";
  env = BuildWorkerEnv(in);
  CHECK(env["LOCAL_RANK"] == "1");
  CHECK(env["CUDA_VISIBLE_DEVICES"] == "3,5,7,9");
}

TEST_CASE("--virtual-local-rank: more workers than devices is an error") {
  EnvMap base = {{"CUDA_VISIBLE_DEVICES", "3,5"}};
  CHECK(CheckVirtualLocalRank(base, 2).ok());
  absl::Status s = CheckVirtualLocalRank(base, 3);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("local rank 2 has no device") &&
                 Catch::Contains("CUDA_VISIBLE_DEVICES='3,5' lists 2") &&
                 Catch::Contains("--nproc-per-node 3"));
  // Set but empty hides every device.
  CHECK_FALSE(CheckVirtualLocalRank({{"CUDA_VISIBLE_DEVICES", ""}}, 1).ok());
  // Unset: any number of workers.
  CHECK(CheckVirtualLocalRank({}, 64).ok());
}

TEST_CASE("TORCHELASTIC_TIMER_FILE is given when the agent has a file timer") {
  WorkerEnvInputs in = Inputs();
  CHECK(BuildWorkerEnv(in).count("TORCHELASTIC_TIMER_FILE") == 0);
  in.timer_file = "/tmp/timer";
  CHECK(BuildWorkerEnv(in)["TORCHELASTIC_TIMER_FILE"] == "/tmp/timer");
}

}  // namespace
}  // namespace tplaunch
