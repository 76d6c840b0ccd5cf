// grpc_load: drives tprdzvd's gRPC API from one process, for bench/run.
//
//   --mode ops:  --clients C threads, each with its own channel (its own TCP
//                connection), in a closed loop of one call for --seconds after
//                --warmup-seconds: `get` (Get of an existing key: one round
//                trip, it blocks only while the key is missing) or `add`.
//                Per-call latency and calls/s.
//   --mode rdzv: --ranks N simulated ranks doing the NCCL id pattern (Add to a
//                counter; rank 0 Sets a 128-byte id; every rank Gets it, parked
//                until it exists) as async calls over --channels connections
//                (default: one per rank), drained by one completion queue.
//
// Prints one JSON object.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "proto/rendezvous.grpc.pb.h"

namespace tplaunch {
namespace {

namespace pb = ::tplaunch::rendezvous::v1;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode = "ops";
  std::string endpoint;
  std::string job = "bench";
  std::string op = "get";
  int clients = 1;
  double seconds = 2;
  double warmup_seconds = 0.3;
  int ranks = 1024;
  int channels = 0;
  double timeout_s = 120;
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& endpoint) {
  grpc::ChannelArguments args;
  // A connection of its own, as a separate client process would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(),
                                   args);
}

// gRPC deadlines are system_clock time points.
std::chrono::system_clock::time_point Deadline(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             std::chrono::duration<double>(seconds));
}

int RunOps(const Options& o) {
  {
    auto stub = pb::Rendezvous::NewStub(NewChannel(o.endpoint));
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    pb::SetRequest request;
    pb::SetResponse response;
    request.set_job(o.job);
    request.set_key("existing");
    request.set_value(std::string(64, 'v'));
    grpc::Status status = stub->Set(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "grpc_load: seed Set: %s\n",
                   status.error_message().c_str());
      return 1;
    }
  }
  std::vector<std::vector<double>> latencies(o.clients);
  std::vector<int64_t> completed(o.clients, 0);  // Warm-up included.
  std::vector<std::string> errors(o.clients);
  std::vector<std::unique_ptr<pb::Rendezvous::Stub>> stubs;
  for (int c = 0; c < o.clients; ++c) {
    auto channel = NewChannel(o.endpoint);
    channel->WaitForConnected(Deadline(30));
    stubs.push_back(pb::Rendezvous::NewStub(channel));
  }
  const Clock::time_point start =
      Clock::now() + bench::Seconds(o.warmup_seconds);
  const Clock::time_point end = start + bench::Seconds(o.seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      pb::GetRequest get;
      get.set_job(o.job);
      get.set_key("existing");
      pb::AddRequest add;
      add.set_job(o.job);
      add.set_key(absl::StrCat("counter", c % 8));
      add.set_delta(1);
      for (;;) {
        const Clock::time_point begin = Clock::now();
        if (begin >= end) break;
        grpc::ClientContext context;
        context.set_deadline(Deadline(30));
        grpc::Status status;
        if (o.op == "add") {
          pb::AddResponse response;
          status = stubs[c]->Add(&context, add, &response);
        } else {
          pb::GetResponse response;
          status = stubs[c]->Get(&context, get, &response);
          if (status.ok() && response.value().size() != 64) {
            status = grpc::Status(grpc::StatusCode::INTERNAL, "bad value");
          }
        }
        if (!status.ok()) {
          errors[c] = status.error_message();
          return;
        }
        ++completed[c];
        const Clock::time_point now = Clock::now();
        if (begin >= start && now < end) {
          latencies[c].push_back(
              std::chrono::duration<double, std::micro>(now - begin).count());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<double> all;
  int64_t total = 0;
  for (int64_t n : completed) total += n;
  std::string error;
  for (int c = 0; c < o.clients; ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    if (error.empty()) error = errors[c];
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "{\"mode\": \"ops\", \"ok\": %s, \"error\": \"%s\", \"op\": \"%s\", "
      "\"clients\": %d, \"measured_ops\": %zu, \"ops_per_s\": %.1f, "
      "\"total_ops\": %lld, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
      error.empty() ? "true" : "false", error.c_str(), o.op.c_str(), o.clients,
      all.size(), all.size() / o.seconds, static_cast<long long>(total),
      bench::Quantile(all, 0.5), bench::Quantile(all, 0.99));
  return error.empty() ? 0 : 1;
}

// One rank's outstanding call.
struct Call {
  int rank = 0;
  int step = 0;  // 0: Add, 1: Set (rank 0), 2: Get.
  std::unique_ptr<grpc::ClientContext> context;
  grpc::Status status;
  pb::AddResponse add;
  pb::SetResponse set;
  pb::GetResponse get;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::AddResponse>> add_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::SetResponse>> set_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::GetResponse>> get_reader;
};

int RunRdzv(const Options& o) {
  const int channels = o.channels > 0 ? std::min(o.channels, o.ranks) : o.ranks;
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<pb::Rendezvous::Stub>> stubs;
  const Clock::time_point begin = Clock::now();
  for (int c = 0; c < channels; ++c) {
    stubs.push_back(pb::Rendezvous::NewStub(NewChannel(o.endpoint)));
  }
  const auto deadline = Deadline(o.timeout_s);
  std::vector<Call> calls(o.ranks);
  pb::AddRequest add;
  add.set_job(o.job);
  add.set_key("count");
  add.set_delta(1);
  pb::SetRequest set;
  set.set_job(o.job);
  set.set_key("id");
  set.set_value(std::string(128, 'i'));
  pb::GetRequest get;
  get.set_job(o.job);
  get.set_key("id");
  auto issue = [&](Call* call) {
    call->context = std::make_unique<grpc::ClientContext>();
    call->context->set_deadline(deadline);
    call->context->set_wait_for_ready(true);
    pb::Rendezvous::Stub* stub = stubs[call->rank % channels].get();
    if (call->step == 0) {
      call->add_reader = stub->AsyncAdd(call->context.get(), add, &queue);
      call->add_reader->Finish(&call->add, &call->status, call);
    } else if (call->step == 1) {
      call->set_reader = stub->AsyncSet(call->context.get(), set, &queue);
      call->set_reader->Finish(&call->set, &call->status, call);
    } else {
      call->get_reader = stub->AsyncGet(call->context.get(), get, &queue);
      call->get_reader->Finish(&call->get, &call->status, call);
    }
  };
  for (int r = 0; r < o.ranks; ++r) {
    calls[r].rank = r;
    issue(&calls[r]);
  }
  int done = 0;
  int64_t requests = o.ranks;
  std::string error;
  Clock::time_point last = begin;
  void* tag = nullptr;
  bool ok = false;
  while (done < o.ranks && queue.Next(&tag, &ok)) {
    Call* call = static_cast<Call*>(tag);
    if (!call->status.ok()) {
      error = absl::StrCat("rank ", call->rank, " step ", call->step, ": ",
                           call->status.error_message());
      break;
    }
    if (call->step == 2) {
      if (call->get.value().size() != 128) error = "bad id";
      ++done;
      last = Clock::now();
      continue;
    }
    call->step = call->step == 0 && call->rank == 0 ? 1 : 2;
    ++requests;
    issue(call);
  }
  const double seconds = std::chrono::duration<double>(last - begin).count();
  std::printf(
      "{\"mode\": \"rdzv\", \"ok\": %s, \"timed_out\": false, \"error\": "
      "\"%s\", \"pattern\": \"nccl\", \"ranks\": %d, \"channels\": %d, "
      "\"requests\": %lld, \"done\": %d, \"seconds\": %.4f}\n",
      error.empty() ? "true" : "false", error.c_str(), o.ranks, channels,
      static_cast<long long>(requests), done, seconds);
  std::fflush(stdout);
  // Exit without tearing down thousands of channels one by one.
  std::_Exit(error.empty() ? 0 : 1);
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) {
  tplaunch::Options o;
  CLI::App app{"grpc_load: tprdzvd gRPC load from one process", "grpc_load"};
  app.add_option("--mode", o.mode, "ops or rdzv")->capture_default_str();
  app.add_option("--endpoint", o.endpoint, "HOST:PORT of tprdzvd")->required();
  app.add_option("--job", o.job, "Job of every key")->capture_default_str();
  app.add_option("--op", o.op, "ops: get or add")->capture_default_str();
  app.add_option("--clients", o.clients, "ops: threads, one channel each")
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "ops: measured seconds")
      ->capture_default_str();
  app.add_option("--warmup-seconds", o.warmup_seconds, "ops: unmeasured first")
      ->capture_default_str();
  app.add_option("--ranks", o.ranks, "rdzv: simulated ranks")
      ->capture_default_str();
  app.add_option("--channels", o.channels, "rdzv: connections (0: one a rank)")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "Give up after, seconds")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  tplaunch::bench::RaiseFdLimit();
  if (o.mode == "ops") return tplaunch::RunOps(o);
  if (o.mode == "rdzv") return tplaunch::RunRdzv(o);
  std::fprintf(stderr, "grpc_load: unknown --mode %s\n", o.mode.c_str());
  return 2;
}
