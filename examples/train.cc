// A small data-parallel trainer: the job the README's first command runs
// (`tplaunch --nproc 4 bazel-bin/examples/train`).
//
// Every rank fits the same linear model y = X w to its own shard of a synthetic
// regression problem: it computes the gradient on its shard, all-reduces it,
// and takes the same step. At the end every rank checks that all ranks hold
// bit-identical weights (an all-gather of a hash) and that the loss fell; rank
// 0 prints a short report.
#include <unistd.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"
#include "worker_lib/process_group.h"

namespace tplaunch {
namespace {

struct TrainOptions {
  std::string backend = "auto";
  std::string group_name = "default";
  int steps = 100;
  int dim = 32;
  int samples_per_rank = 512;
  double learning_rate = 0.1;
  double timeout_s = 600;
  // Rank 0 writes timings as JSON here (used by bench/worker_lib_bench).
  std::string timing_file;
  bool verbose = false;
  // Fault injection for tests: this rank exits with code 3 just before the
  // all-reduce of this step, as a crash mid-training would.
  int crash_rank = -1;
  int crash_step = 0;
  // Crash only in this attempt (TPLAUNCH_ATTEMPT); -1: every attempt.
  int crash_attempt = -1;
};

// The launcher's attempt number, or -1 when unset or garbled.
int CurrentAttempt() {
  const char* value = std::getenv("TPLAUNCH_ATTEMPT");
  int attempt = -1;
  if (value == nullptr || !absl::SimpleAtoi(value, &attempt)) return -1;
  return attempt;
}

// A fixed "true" model and a per-rank shard drawn from it with a little noise.
struct Shard {
  std::vector<float> x;  // samples x dim, row-major.
  std::vector<float> y;
};

Shard MakeShard(int rank, int samples, int dim) {
  std::mt19937 truth_rng(12345);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w_true(dim);
  for (float& w : w_true) w = normal(truth_rng);

  std::mt19937 rng(1000 + rank);
  Shard shard;
  shard.x.resize(static_cast<size_t>(samples) * dim);
  shard.y.resize(samples);
  for (int i = 0; i < samples; ++i) {
    float dot = 0;
    for (int j = 0; j < dim; ++j) {
      const float v = normal(rng);
      shard.x[static_cast<size_t>(i) * dim + j] = v;
      dot += v * w_true[j];
    }
    shard.y[i] = dot + 0.01f * normal(rng);
  }
  return shard;
}

// Sum of squared residuals on this shard, and (when grad != nullptr) the
// gradient of that sum with respect to w.
double LocalLoss(const Shard& shard, const std::vector<float>& w,
                 std::vector<float>* grad) {
  const int dim = static_cast<int>(w.size());
  const int samples = static_cast<int>(shard.y.size());
  if (grad != nullptr) grad->assign(dim, 0.0f);
  double loss = 0;
  for (int i = 0; i < samples; ++i) {
    const float* row = &shard.x[static_cast<size_t>(i) * dim];
    float pred = 0;
    for (int j = 0; j < dim; ++j) pred += row[j] * w[j];
    const float r = pred - shard.y[i];
    loss += static_cast<double>(r) * r;
    if (grad != nullptr) {
      for (int j = 0; j < dim; ++j) (*grad)[j] += 2.0f * r * row[j];
    }
  }
  return loss;
}

// FNV-1a over the weights' bytes: equal hashes mean bit-identical weights.
int64_t HashWeights(const std::vector<float>& w) {
  uint64_t h = 1469598103934665603ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(w.data());
  for (size_t i = 0; i < w.size() * sizeof(float); ++i) {
    h = (h ^ bytes[i]) * 1099511628211ull;
  }
  int64_t out;
  std::memcpy(&out, &h, sizeof(out));
  return out;
}

absl::StatusOr<double> GlobalLoss(ProcessGroup& group, const Shard& shard,
                                  const std::vector<float>& w, int64_t total) {
  std::vector<double> loss = {LocalLoss(shard, w, nullptr)};
  RETURN_IF_ERROR(group.AllReduce(absl::MakeSpan(loss), ReduceOp::kSum));
  return loss[0] / static_cast<double>(total);
}

absl::Status Train(const TrainOptions& opts) {
  const absl::Time start = absl::Now();
  ProcessGroupOptions pg;
  pg.backend = opts.backend;
  pg.group_name = opts.group_name;
  pg.timeout = absl::Seconds(opts.timeout_s);
  ASSIGN_OR_RETURN(std::unique_ptr<ProcessGroup> group, InitProcessGroup(pg));
  const absl::Time initialized = absl::Now();
  const int rank = group->rank();
  const int world = group->world_size();

  const Shard shard = MakeShard(rank, opts.samples_per_rank, opts.dim);
  const int64_t total = static_cast<int64_t>(opts.samples_per_rank) * world;
  std::vector<float> w(opts.dim, 0.0f);
  // Rank 0's initial weights win: the usual broadcast of the initial model.
  RETURN_IF_ERROR(group->Broadcast(absl::MakeSpan(w), 0));
  ASSIGN_OR_RETURN(const double loss_before,
                   GlobalLoss(*group, shard, w, total));
  const absl::Time first_allreduce = absl::Now();

  std::vector<float> grad;
  for (int step = 0; step < opts.steps; ++step) {
    LocalLoss(shard, w, &grad);
    if (rank == opts.crash_rank && step == opts.crash_step &&
        (opts.crash_attempt < 0 || opts.crash_attempt == CurrentAttempt())) {
      std::fprintf(stderr,
                   "train: rank %d crashing at step %d (--crash-rank)\n", rank,
                   step);
      std::fflush(stderr);
      _exit(3);
    }
    RETURN_IF_ERROR(group->AllReduce(absl::MakeSpan(grad), ReduceOp::kSum));
    const float scale = static_cast<float>(opts.learning_rate / total);
    for (int j = 0; j < opts.dim; ++j) w[j] -= scale * grad[j];
  }
  ASSIGN_OR_RETURN(const double loss_after,
                   GlobalLoss(*group, shard, w, total));

  // Every rank must end with the same bits.
  const std::vector<int64_t> mine = {HashWeights(w)};
  std::vector<int64_t> hashes(world);
  RETURN_IF_ERROR(
      group->AllGather(absl::MakeConstSpan(mine), absl::MakeSpan(hashes)));
  for (int r = 0; r < world; ++r) {
    if (hashes[r] != hashes[0]) {
      return absl::InternalError(absl::StrFormat(
          "weights diverged: rank %d has hash %016x, rank 0 has %016x", r,
          static_cast<uint64_t>(hashes[r]), static_cast<uint64_t>(hashes[0])));
    }
  }
  if (!(loss_after < loss_before * 0.5)) {
    return absl::InternalError(absl::StrFormat(
        "loss did not fall: before %.6g, after %.6g", loss_before, loss_after));
  }
  RETURN_IF_ERROR(group->Barrier());
  const absl::Time end = absl::Now();

  if (rank == 0) {
    std::printf(
        "train: backend=%s world_size=%d steps=%d dim=%d samples=%lld\n"
        "train: loss %.6f -> %.6f; weights bit-identical on all %d ranks "
        "(hash %016" PRIx64
        ")\n"
        "train: init %.1f ms, training %.1f ms, total %.1f ms\n",
        std::string(group->backend()).c_str(), world, opts.steps, opts.dim,
        static_cast<long long>(total), loss_before, loss_after, world,
        static_cast<uint64_t>(hashes[0]),
        absl::ToDoubleMilliseconds(initialized - start),
        absl::ToDoubleMilliseconds(end - initialized),
        absl::ToDoubleMilliseconds(end - start));
    std::fflush(stdout);
    if (!opts.timing_file.empty()) {
      std::ofstream out(opts.timing_file);
      const ProcessGroupInitStats stats = group->init_stats();
      out << absl::StrFormat(
          "{\"world_size\": %d, \"backend\": \"%s\", "
          "\"process_start_unix_us\": %d, \"initialized_unix_us\": %d, "
          "\"first_allreduce_unix_us\": %d, \"end_unix_us\": %d, "
          "\"init_ms\": %.3f, \"join_ms\": %.3f, \"connect_ms\": %.3f, "
          "\"connect_store_ms\": %.3f, \"connect_store_calls\": %d}\n",
          world, std::string(group->backend()), absl::ToUnixMicros(start),
          absl::ToUnixMicros(initialized), absl::ToUnixMicros(first_allreduce),
          absl::ToUnixMicros(end), absl::ToDoubleMilliseconds(stats.total),
          absl::ToDoubleMilliseconds(stats.join),
          absl::ToDoubleMilliseconds(stats.connect),
          absl::ToDoubleMilliseconds(stats.connect_store),
          stats.connect_store_calls);
      if (!out) {
        return absl::UnavailableError("cannot write --timing-file " +
                                      opts.timing_file);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) {
  tplaunch::TrainOptions opts;
  CLI::App app{
      "Data-parallel linear regression over worker_lib; run it under tplaunch, "
      "e.g. "
      "`tplaunch --nproc 4 bazel-bin/examples/train`."};
  app.add_option("--backend", opts.backend, "auto, gloo or nccl")
      ->check(CLI::IsMember({"auto", "gloo", "nccl", "ccl", "xccl", "hccl"}))
      ->capture_default_str();
  app.add_option("--group-name", opts.group_name, "process group name")
      ->capture_default_str();
  app.add_option("--steps", opts.steps, "optimizer steps")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--dim", opts.dim, "model size (weights)")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--samples-per-rank", opts.samples_per_rank, "shard size")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--lr", opts.learning_rate, "learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--timeout", opts.timeout_s,
                 "seconds for init and for every collective")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--timing-file", opts.timing_file,
                 "rank 0 writes its timings here as JSON");
  app.add_option(
      "--crash-rank", opts.crash_rank,
      "fault injection: this rank exits with code 3 at --crash-step");
  app.add_option("--crash-step", opts.crash_step,
                 "step of --crash-rank's crash")
      ->check(CLI::NonNegativeNumber);
  app.add_option(
      "--crash-attempt", opts.crash_attempt,
      "crash only in this attempt (TPLAUNCH_ATTEMPT); default every attempt");
  app.add_flag("-v,--verbose", opts.verbose, "debug logs from worker_lib");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return e.get_exit_code() == 0 ? 0 : (code == 0 ? 0 : 2);
  }
  spdlog::set_default_logger(spdlog::stderr_logger_mt("train"));
  spdlog::set_level(opts.verbose ? spdlog::level::debug : spdlog::level::info);

  absl::Status status = tplaunch::Train(opts);
  if (!status.ok()) {
    std::fprintf(stderr, "train: error: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
