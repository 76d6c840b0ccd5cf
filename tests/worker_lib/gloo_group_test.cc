// The Gloo backend with ranks as threads over one MemoryStore: collectives at
// 2, 4 and 8 ranks, a rank that never arrives, a rank that dies mid-allreduce,
// and stale keys of an earlier attempt.
#include "worker_lib/gloo_group.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gloo/allreduce.h"
#include "gloo/allreduce_halving_doubling.h"
#include "gloo/allreduce_ring.h"
#include "gloo/allreduce_ring_chunked.h"
#include "gloo/math.h"
#include "store/memory_store.h"
#include "store/prefix_store.h"
#include "tests/worker_lib/rank_threads.h"
#include "worker_lib/group_join.h"

namespace tplaunch {
namespace {

// What InitProcessGroup does for gloo, minus the registry and the environment.
absl::StatusOr<std::unique_ptr<ProcessGroup>> Connect(Store& base, int rank,
                                                      int n,
                                                      absl::Duration timeout,
                                                      int attempt = 0) {
  std::shared_ptr<Store> store =
      NewPrefixStore(absl::StrCat("a", attempt, "/w/default"), &base);
  MemberRecord self;
  self.rank = rank;
  self.world_size = n;
  self.backend = "gloo";
  self.host = "test";
  absl::StatusOr<std::vector<MemberRecord>> members =
      JoinGroup(*store, self, timeout, "test group");
  if (!members.ok()) return members.status();
  GlooGroupOptions options;
  options.rank = rank;
  options.world_size = n;
  options.timeout = timeout;
  options.where = "test group";
  return CreateGlooGroup(store, options);
}

TEST_CASE("gloo collectives at 2, 4 and 8 ranks") {
  const int n = GENERATE(2, 4, 8);
  std::unique_ptr<Store> store = NewMemoryStore();
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        absl::StatusOr<std::unique_ptr<ProcessGroup>> group =
            Connect(*store, rank, n, absl::Seconds(20));
        if (!group.ok()) return group.status();
        ProcessGroup& g = **group;
        if (g.rank() != rank || g.world_size() != n || g.backend() != "gloo") {
          return absl::InternalError("identity");
        }
        if (GlooContextOf(g) == nullptr || GlooContextOf(g)->size != n) {
          return absl::InternalError("native handle");
        }
        if (absl::Status s = g.Barrier(); !s.ok()) return s;

        // Sum, max and min over every element type.
        std::vector<float> f = {1.0f * rank, 2.0f, -1.0f * rank};
        if (auto s = g.AllReduce(absl::MakeSpan(f), ReduceOp::kSum); !s.ok())
          return s;
        const float tri = n * (n - 1) / 2.0f;
        if (f[0] != tri || f[1] != 2.0f * n || f[2] != -tri) {
          return absl::InternalError("float sum");
        }
        std::vector<double> d = {static_cast<double>(rank)};
        if (auto s = g.AllReduce(absl::MakeSpan(d), ReduceOp::kMax); !s.ok())
          return s;
        if (d[0] != n - 1) return absl::InternalError("double max");
        std::vector<int32_t> i32 = {rank + 10};
        if (auto s = g.AllReduce(absl::MakeSpan(i32), ReduceOp::kMin); !s.ok())
          return s;
        if (i32[0] != 10) return absl::InternalError("int32 min");
        std::vector<int64_t> i64(1000, int64_t{1} << 40);
        if (auto s = g.AllReduce(absl::MakeSpan(i64), ReduceOp::kSum); !s.ok())
          return s;
        for (int64_t v : i64) {
          if (v != (int64_t{1} << 40) * n)
            return absl::InternalError("int64 sum");
        }
        std::vector<uint16_t> bf = {FloatToBFloat16(1.5f),
                                    FloatToBFloat16(rank)};
        if (auto s =
                g.AllReduce(bf.data(), 2, DataType::kBFloat16, ReduceOp::kSum);
            !s.ok()) {
          return s;
        }
        if (BFloat16ToFloat(bf[0]) != 1.5f * n ||
            BFloat16ToFloat(bf[1]) != tri) {
          return absl::InternalError("bf16 sum");
        }

        // Broadcast from every root.
        for (int root = 0; root < n; ++root) {
          std::vector<int64_t> b(5, rank == root ? 100 + root : -1);
          if (auto s = g.Broadcast(absl::MakeSpan(b), root); !s.ok()) return s;
          for (int64_t v : b) {
            if (v != 100 + root) return absl::InternalError("broadcast");
          }
        }

        // AllGather.
        std::vector<int32_t> in = {rank, rank * rank};
        std::vector<int32_t> out(2 * n, -1);
        if (auto s = g.AllGather(absl::MakeConstSpan(in), absl::MakeSpan(out));
            !s.ok()) {
          return s;
        }
        for (int r = 0; r < n; ++r) {
          if (out[2 * r] != r || out[2 * r + 1] != r * r) {
            return absl::InternalError("allgather");
          }
        }
        return absl::OkStatus();
      });
  for (int r = 0; r < n; ++r) {
    INFO("n=" << n << " rank " << r << ": " << statuses[r].ToString());
    CHECK(statuses[r].ok());
  }
}

TEST_CASE("argument errors are InvalidArgument and leave the group usable") {
  std::unique_ptr<Store> store = NewMemoryStore();
  std::vector<absl::Status> statuses =
      RunRanks(2, [&](int rank) -> absl::Status {
        auto group = Connect(*store, rank, 2, absl::Seconds(20));
        if (!group.ok()) return group.status();
        std::vector<float> x(3, 1.0f);
        if (!absl::IsInvalidArgument(
                (*group)->Broadcast(absl::MakeSpan(x), 2))) {
          return absl::InternalError("root 2 accepted");
        }
        if (!absl::IsInvalidArgument((*group)->AllReduce(
                nullptr, 3, DataType::kFloat32, ReduceOp::kSum))) {
          return absl::InternalError("null buffer accepted");
        }
        std::vector<float> out(5);
        if (!absl::IsInvalidArgument((*group)->AllGather(
                absl::MakeConstSpan(x), absl::MakeSpan(out)))) {
          return absl::InternalError("short output accepted");
        }
        return (*group)->AllReduce(absl::MakeSpan(x), ReduceOp::kSum);
      });
  CHECK(statuses[0].ok());
  CHECK(statuses[1].ok());
}

TEST_CASE("a rank that never arrives is named by every other rank") {
  const int n = 4;
  const absl::Duration timeout = absl::Milliseconds(1500);
  std::unique_ptr<Store> store = NewMemoryStore();
  const absl::Time start = absl::Now();
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        if (rank == 2) return absl::OkStatus();  // Never arrives.
        return Connect(*store, rank, n, timeout).status();
      });
  const absl::Duration elapsed = absl::Now() - start;
  CHECK(elapsed < timeout + absl::Seconds(3));
  for (int r : {0, 1, 3}) {
    INFO(statuses[r].ToString());
    REQUIRE(absl::IsDeadlineExceeded(statuses[r]));
    CHECK_THAT(
        std::string(statuses[r].message()),
        Catch::Contains("rank(s) 2 of 4") && Catch::Contains("joined: 0,1,3"));
  }
}

TEST_CASE("a rank missing in Gloo's own exchange is named (adapter level)") {
  // No join step: the adapter must name the rank whose address never appeared.
  const int n = 3;
  std::shared_ptr<Store> store = NewMemoryStore();
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        if (rank == 1) return absl::OkStatus();
        GlooGroupOptions options;
        options.rank = rank;
        options.world_size = n;
        options.timeout = absl::Milliseconds(800);
        options.where = "adapter test";
        return CreateGlooGroup(store, options).status();
      });
  for (int r : {0, 2}) {
    INFO(statuses[r].ToString());
    REQUIRE(absl::IsDeadlineExceeded(statuses[r]));
    CHECK_THAT(std::string(statuses[r].message()),
               Catch::Contains("of 3") && Catch::Contains("never arrived: 1;"));
  }
}

// The SIGPIPE disposition of this process, and a way to set it.
void (*SigpipeHandler())(int) {
  struct sigaction current {};
  REQUIRE(sigaction(SIGPIPE, nullptr, &current) == 0);
  return current.sa_handler;
}
void SetSigpipeHandler(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  REQUIRE(sigaction(SIGPIPE, &action, nullptr) == 0);
}
void CountingHandler(int) {}

TEST_CASE("a Gloo rank ignores SIGPIPE unless the program handles it") {
  SetSigpipeHandler(SIG_DFL);
  IgnoreSigpipeUnlessHandled();
  CHECK(SigpipeHandler() == SIG_IGN);

  SetSigpipeHandler(&CountingHandler);
  IgnoreSigpipeUnlessHandled();
  CHECK(SigpipeHandler() == &CountingHandler);

  // CreateGlooGroup does it before any pair exists.
  SetSigpipeHandler(SIG_DFL);
  std::unique_ptr<Store> store = NewMemoryStore();
  auto group = Connect(*store, 0, 1, absl::Seconds(5));
  REQUIRE(group.ok());
  CHECK(SigpipeHandler() == SIG_IGN);
}

TEST_CASE("a rank dying mid-allreduce makes the others fail, not hang") {
  // As a C++ worker starts (tplaunch restores SIGPIPE's default in workers):
  // a write to the dead rank must be an error, not a SIGPIPE death (exit 141).
  SetSigpipeHandler(SIG_DFL);
  const int n = 4;
  // Long enough that passing proves the failure came from the broken
  // connection.
  const absl::Duration timeout = absl::Seconds(60);
  std::unique_ptr<Store> store = NewMemoryStore();
  const absl::Time start = absl::Now();
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        auto group = Connect(*store, rank, n, timeout);
        if (!group.ok()) return group.status();
        std::vector<float> x(1 << 16, 1.0f);
        if (auto s = (*group)->AllReduce(absl::MakeSpan(x), ReduceOp::kSum);
            !s.ok()) {
          return s;
        }
        if (rank == 3) {
          // Dies: its connections close, as a crashed process's would.
          GlooContextOf(**group)->closeConnections();
          return absl::OkStatus();
        }
        absl::Status s = (*group)->AllReduce(absl::MakeSpan(x), ReduceOp::kSum);
        group->reset();  // A failed rank goes away too, as tplaunch would make
                         // it.
        return s;
      });
  CHECK(absl::Now() - start < absl::Seconds(20));
  for (int r = 0; r < 3; ++r) {
    INFO(statuses[r].ToString());
    CHECK(absl::IsUnavailable(statuses[r]));
  }
}

TEST_CASE("a restarted attempt never reads the previous attempt's keys") {
  const int n = 3;
  std::unique_ptr<Store> store = NewMemoryStore();
  // Attempt 0 crashed half way: garbage join records and Gloo addresses.
  std::unique_ptr<Store> stale = NewPrefixStore("a0/w/default", store.get());
  for (int r = 0; r < n; ++r) {
    REQUIRE(stale->Set(absl::StrCat("join/", r), "garbage").ok());
    REQUIRE(stale->Set(absl::StrCat("rank_", r), "garbage").ok());
    REQUIRE(stale->Set(absl::StrCat(r), std::string(400, 'x')).ok());
  }
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        auto group = Connect(*store, rank, n, absl::Seconds(20), /*attempt=*/1);
        if (!group.ok()) return group.status();
        std::vector<int32_t> x = {1};
        if (auto s = (*group)->AllReduce(absl::MakeSpan(x), ReduceOp::kSum);
            !s.ok()) {
          return s;
        }
        return x[0] == n ? absl::OkStatus() : absl::InternalError("sum");
      });
  for (int r = 0; r < n; ++r) {
    INFO(statuses[r].ToString());
    CHECK(statuses[r].ok());
  }
}

TEST_CASE("ranks that disagree on the backend fail at join") {
  std::unique_ptr<Store> store = NewMemoryStore();
  std::vector<absl::Status> statuses =
      RunRanks(2, [&](int rank) -> absl::Status {
        MemberRecord self;
        self.rank = rank;
        self.world_size = 2;
        self.backend = rank == 0 ? "gloo" : "nccl";
        return JoinGroup(*store, self, absl::Seconds(10), "g").status();
      });
  for (const absl::Status& s : statuses) {
    INFO(s.ToString());
    REQUIRE(absl::IsFailedPrecondition(s));
    CHECK_THAT(std::string(s.message()), Catch::Contains("backend"));
  }
}

TEST_CASE("two workers claiming one rank fail with AlreadyExists") {
  std::unique_ptr<Store> store = NewMemoryStore();
  MemberRecord self;
  self.rank = 0;
  self.world_size = 2;
  self.backend = "gloo";
  self.pid = 111;
  std::unique_ptr<Store> prefixed = NewPrefixStore("g", store.get());
  REQUIRE(prefixed->Set("join/0", self.Encode()).ok());
  self.pid = 222;
  absl::Status s = JoinGroup(*prefixed, self, absl::Seconds(1), "g").status();
  REQUIRE(absl::IsAlreadyExists(s));
  CHECK_THAT(std::string(s.message()), Catch::Contains("pid 111"));
}

TEST_CASE("FormatRanks compresses runs") {
  CHECK(FormatRanks({}) == "");
  CHECK(FormatRanks({3}) == "3");
  CHECK(FormatRanks({0, 1}) == "0,1");
  CHECK(FormatRanks({0, 2, 5, 6, 7}) == "0,2,5-7");
}

TEST_CASE("bfloat16 conversion rounds to nearest even") {
  CHECK(BFloat16ToFloat(FloatToBFloat16(1.0f)) == 1.0f);
  CHECK(BFloat16ToFloat(FloatToBFloat16(-2.5f)) == -2.5f);
  // 1 + 2^-8 is halfway between two bfloat16 values: ties go to the even one
  // (1.0).
  CHECK(BFloat16ToFloat(FloatToBFloat16(1.0f + 1.0f / 256)) == 1.0f);
  CHECK(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
}

}  // namespace
}  // namespace tplaunch

namespace tplaunch {
namespace {

// Hidden (run with `gloo_group_test "[bench]"`): allreduce latency per Gloo
// algorithm.
template <typename Algo>
absl::Duration TimeAlgo(gloo::Context* raw, std::vector<float>& x,
                        int iterations) {
  std::shared_ptr<gloo::Context> ctx(std::shared_ptr<gloo::Context>(), raw);
  const absl::Time start = absl::Now();
  for (int i = 0; i < iterations; ++i) {
    Algo algo(ctx, std::vector<float*>{x.data()}, static_cast<int>(x.size()));
    algo.run();
  }
  return (absl::Now() - start) / iterations;
}

TEST_CASE("allreduce latency", "[.][bench]") {
  const int n = 4;
  std::unique_ptr<Store> store = NewMemoryStore();
  std::vector<std::string> lines(n);
  std::vector<absl::Status> statuses =
      RunRanks(n, [&](int rank) -> absl::Status {
        auto group = Connect(*store, rank, n, absl::Seconds(60));
        if (!group.ok()) return group.status();
        gloo::Context* raw = GlooContextOf(**group);
        for (int count : {32, 1 << 20}) {
          const int iterations = count > 1000 ? 10 : 200;
          std::vector<float> x(count, 1.0f);
          const absl::Time start = absl::Now();
          for (int i = 0; i < iterations; ++i) {
            if (auto s = (*group)->AllReduce(absl::MakeSpan(x), ReduceOp::kSum);
                !s.ok()) {
              return s;
            }
          }
          const absl::Duration group_time = (absl::Now() - start) / iterations;
          const absl::Duration ring =
              TimeAlgo<gloo::AllreduceRing<float>>(raw, x, iterations);
          const absl::Duration chunked =
              TimeAlgo<gloo::AllreduceRingChunked<float>>(raw, x, iterations);
          const absl::Duration hd =
              TimeAlgo<gloo::AllreduceHalvingDoubling<float>>(raw, x,
                                                              iterations);
          lines[rank] += absl::StrCat(
              " count=", count, " group=", absl::FormatDuration(group_time),
              " ring=", absl::FormatDuration(ring),
              " chunked=", absl::FormatDuration(chunked),
              " hd=", absl::FormatDuration(hd));
        }
        return absl::OkStatus();
      });
  REQUIRE(statuses[0].ok());
  WARN("n=" << n << lines[0]);
}

}  // namespace
}  // namespace tplaunch
