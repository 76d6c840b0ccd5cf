// Files for tests: whole-file reads and writes, and scratch directories under
// the test's TEST_TMPDIR (which Bazel cleans), so nothing outlives the run.
#ifndef TPLAUNCH_TESTS_TESTING_FILES_H_
#define TPLAUNCH_TESTS_TESTING_FILES_H_

#include <string>

namespace tplaunch {
namespace testing {

// The file's bytes; "" when it is missing or unreadable (tests poll for files
// a child has not written yet, so a missing file is not an error).
std::string ReadFile(const std::string& path);

// Replaces the file's contents with `contents`; fails the test when it cannot.
void WriteFile(const std::string& path, const std::string& contents);

// TEST_TMPDIR, or /tmp outside Bazel.
std::string TestTmpDir();

// A fresh, empty directory under TestTmpDir(); fails the test when it cannot.
std::string MakeTempDir();

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_TESTING_FILES_H_
