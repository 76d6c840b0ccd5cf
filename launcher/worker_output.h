// worker_output: one worker stream (stdout or stderr) from the bytes its pipe
// gives to whole lines: on the console with the worker's prefix (unless the
// line already carries one, log_prefix.h), in the worker's log file without
// it, and, when the line matches a --duplicate-*-filters filter, in the node's
// filtered file with the prefix, as on the console. What one read() brought
// goes out with one write() per destination, so lines of different workers
// never interleave and a chatty worker costs a few syscalls per read, not one
// per line. Worker output never stops the launcher: a failed console write is
// dropped, a failed file write ends that file and counts what it missed.
//
// Not thread-safe; the supervisor's one thread drives every stream.
#ifndef TPLAUNCH_LAUNCHER_WORKER_OUTPUT_H_
#define TPLAUNCH_LAUNCHER_WORKER_OUTPUT_H_

#include <stdint.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace tplaunch {

// A file that the streams of several workers append to (the node's
// filtered_stdout.log). Owned by the group, outlives its streams.
struct SharedOutputFile {
  int fd = -1;
  std::string path;
  int file_errno = 0;  // The write error that ended it; 0 while it works.
};

// The last line a worker wrote to either stream, for the live view
// (tplaunch --http-port), which reads it from its HTTP threads.
class LastLine {
 public:
  void Set(absl::string_view line) ABSL_LOCKS_EXCLUDED(mu_);
  std::string Get() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::string line_ ABSL_GUARDED_BY(mu_);
};

// Where one stream's lines go.
struct StreamSinks {
  int rank = 0;  // For the torch "[rankN]:" rule and error messages.
  // Console, or -1 when the stream is not shown.
  int console_fd = -1;
  // Rendered prefix of console (and filtered file) lines; "" for none.
  std::string console_prefix;
  // Log file (lines without prefix), or -1. Not owned: see CloseFile().
  int file_fd = -1;
  std::string file_path;
  // Lines that contain any of `duplicate_filters` are also appended here
  // (nullptr: not duplicated).
  SharedOutputFile* duplicate = nullptr;
  std::vector<std::string> duplicate_filters;
  // Last lines kept for the failure summary (stderr); 0: none.
  int tail_lines = 0;
  // A line longer than this without a newline is split, with a marker.
  size_t max_line_bytes = 64 * 1024;
  // Told every line (its first 1 KiB); nullptr: nobody asks.
  std::shared_ptr<LastLine> last_line;
};

// Buffers shared by every stream of a group, so a read costs no allocation
// and a group of many workers keeps one set of them, not one per stream.
struct OutputScratch {
  std::string console;
  std::string file;
  std::string duplicate;
};

class StreamOutput {
 public:
  void set_sinks(StreamSinks sinks);
  const StreamSinks& sinks() const { return sinks_; }

  // Takes bytes from the pipe and writes every complete line; with `eof` the
  // rest as a last line too.
  void Append(absl::string_view bytes, bool eof, OutputScratch& scratch);

  // Last stderr lines (up to 1 KiB each), oldest first.
  const std::deque<std::string>& tail() const { return tail_; }

  // Write errors: the log file's (0: none) and the bytes it missed since, and
  // the bytes of this stream the shared duplicate file missed.
  int file_errno() const { return file_errno_; }
  uint64_t file_bytes_lost() const { return file_bytes_lost_; }
  uint64_t duplicate_bytes_lost() const { return duplicate_bytes_lost_; }

  // Closes the log file, if any.
  void CloseFile();

 private:
  void AddLine(absl::string_view line, bool split, OutputScratch& scratch);
  void WriteLogFile(const std::string& buf);
  void WriteDuplicate(const std::string& buf);

  StreamSinks sinks_;
  std::string torch_prefix_;  // TorchRankPrefix(sinks_.rank).
  std::string partial_;       // Bytes after the last newline.
  std::deque<std::string> tail_;
  int file_errno_ = 0;
  uint64_t file_bytes_lost_ = 0;
  uint64_t duplicate_bytes_lost_ = 0;
};

// Writes all of data to fd, retrying on EINTR, EAGAIN and short writes.
// Returns 0, or the errno that stopped it with `*unwritten` bytes left.
int WriteAll(int fd, const char* data, size_t size, size_t* unwritten);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_WORKER_OUTPUT_H_
