#include "common/token_file.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/status/status.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

// A file under the test's private TEST_TMPDIR holding `contents`.
std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = testing::TestTmpDir() + "/" + name;
  testing::WriteFile(path, contents);
  return path;
}

TEST_CASE("token file: the token is the file's text without whitespace",
          "[token_file]") {
  CHECK(*ReadTokenFile(WriteFile("echoed", "s3cret\n")) == "s3cret");
  CHECK(*ReadTokenFile(WriteFile("padded", "  s3cret \r\n\t")) == "s3cret");
  const absl::StatusOr<std::string> longest =
      ReadTokenFile(WriteFile("max", std::string(kMaxTokenFileBytes, 'x')));
  REQUIRE(longest.ok());
  CHECK(longest->size() == kMaxTokenFileBytes);
}

TEST_CASE(
    "token file: missing, empty and oversized files are errors naming "
    "the flag and path",
    "[token_file]") {
  const std::string missing = WriteFile("dir-placeholder", "") + ".absent";
  absl::StatusOr<std::string> r = ReadTokenFile(missing, "--token-file");
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()),
             Catch::Contains("--token-file " + missing + ": cannot read: "));

  const std::string blank = WriteFile("blank", " \n\n");
  r = ReadTokenFile(blank);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()),
             Catch::Contains(blank + " holds an empty token"));

  const std::string big =
      WriteFile("big", std::string(kMaxTokenFileBytes + 1, 'x'));
  r = ReadTokenFile(big);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()),
             Catch::Contains(big + " is over 4096 bytes"));
}

TEST_CASE("token: a file wins over the variable; a blank variable is no token",
          "[token_file]") {
  const std::string file = WriteFile("from-file", "file-token\n");
  CHECK(*ResolveToken(file, std::string("env-token")) == "file-token");
  CHECK(*ResolveToken("", std::string(" env-token\n")) == "env-token");
  CHECK(ResolveToken("", std::string("  "))->empty());
  CHECK(ResolveToken("", std::nullopt)->empty());
  CHECK_FALSE(ResolveToken(WriteFile("empty", ""), std::string("x")).ok());
}

}  // namespace
}  // namespace tplaunch
