#include "tests/testing/files.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace testing {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  INFO("writing " << path);
  REQUIRE(out.good());
}

std::string TestTmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string MakeTempDir() {
  std::string path = absl::StrCat(TestTmpDir(), "/t-XXXXXX");
  const bool made = mkdtemp(path.data()) != nullptr;
  INFO("mkdtemp " << path << ": " << std::strerror(errno));
  REQUIRE(made);
  return path;
}

}  // namespace testing
}  // namespace tplaunch
