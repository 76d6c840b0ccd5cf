// The key layout is a wire contract: these strings must not change without
// docs/protocol.md#key-layout changing with them.
#include "common/key_layout.h"

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TEST_CASE("the node rendezvous keys of one attempt") {
  CHECK(AttemptCounterKey("job") == "job/attempt");
  CHECK(AttemptPrefix("job", 3) == "job/a3/");
  CHECK(JoinCountKey("job", 3) == "job/a3/count");
  CHECK(NodeKey("job", 3, 1) == "job/a3/node/1");
  CHECK(HeartbeatKey("job", 3, 1) == "job/a3/hb/1");
  CHECK(ClosedKey("job", 3) == "job/a3/closed");
  CHECK(MasterKey("job", 3) == "job/a3/master");
  CHECK(GoneKey("job", 3, 1) == "job/a3/gone/1");
  CHECK(DoneKey("job", 3, 1) == "job/a3/done/1");
  CHECK(EndKey("job", 3) == "job/a3/end");
  CHECK(LateKey("job", 3) == "job/a3/late");
}

TEST_CASE("the workers' keys") {
  CHECK(WorkerPrefix("job", 0) == "job/a0/w/");
  CHECK(GroupPrefix("job", 2, "tp") == "job/a2/w/tp");
  // A caller's store has no run id.
  CHECK(AttemptPrefix("", 0) == "a0/");
  CHECK(GroupPrefix("", 0, "default") == "a0/w/default");
  CHECK(GroupJoinKey(5) == "join/5");
  CHECK(GroupFailKey(5) == "fail/5");
  CHECK(GroupExitKey(5) == "exit/5");
}

TEST_CASE("attempts and runs never share a prefix") {
  // "a1/" is not a prefix of "a10/": the trailing '/' keeps attempts apart.
  CHECK(NodeKey("job", 10, 0).rfind(AttemptPrefix("job", 1), 0) ==
        std::string::npos);
  CHECK(NodeKey("job2", 1, 0).rfind(AttemptPrefix("job", 1), 0) ==
        std::string::npos);
}

}  // namespace
}  // namespace tplaunch
