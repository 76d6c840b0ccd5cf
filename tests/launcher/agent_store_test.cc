// ClearTorchStoreKeys against a real TorchStoreListener over loopback: removes
// exactly the keys under the prefix (all with ""), reports how many, and names
// the endpoint when nothing listens.
#include "launcher/agent_store.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/rendezvous/torch_store/test_listener.h"

namespace tplaunch {
namespace {

// Its listener serves KvTable job "torch" (the default).
using torch_store::TestListener;

TEST_CASE("ClearTorchStoreKeys removes the keys under the prefix") {
  TestListener l;
  for (const char* key :
       {"//worker/attempt_0/a", "//worker/attempt_1/b", "/other", "init/"}) {
    REQUIRE(l.table.Set("torch", key, "v").ok());
  }
  REQUIRE(l.table.Set("another_job", "//worker/attempt_0/a", "v").ok());

  auto cleared = ClearTorchStoreKeys({"127.0.0.1", l.listener->port()},
                                     "//worker/", absl::Seconds(10));
  REQUIRE(cleared.ok());
  CHECK(*cleared == 2);
  CHECK(*l.table.ListKeys("torch", "") ==
        std::vector<std::string>{"/other", "init/"});

  cleared = ClearTorchStoreKeys({"127.0.0.1", l.listener->port()}, "",
                                absl::Seconds(10));
  REQUIRE(cleared.ok());
  CHECK(*cleared == 2);
  CHECK(*l.table.NumKeys("torch") == 0);
  // Only the listener's job.
  CHECK(*l.table.NumKeys("another_job") == 1);

  cleared = ClearTorchStoreKeys({"127.0.0.1", l.listener->port()}, "",
                                absl::Seconds(10));
  REQUIRE(cleared.ok());
  CHECK(*cleared == 0);
}

TEST_CASE("ClearTorchStoreKeys names the endpoint when nothing listens") {
  int port = 0;
  {
    TestListener l;
    port = l.listener->port();
  }
  auto cleared = ClearTorchStoreKeys({"127.0.0.1", port}, "", absl::Seconds(5));
  REQUIRE_FALSE(cleared.ok());
  CHECK(absl::IsUnavailable(cleared.status()));
  CHECK_THAT(std::string(cleared.status().message()),
             Catch::Contains(absl::StrCat("127.0.0.1:", port)));
}

}  // namespace
}  // namespace tplaunch
