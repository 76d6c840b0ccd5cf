#include "launcher/worker_output.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "launcher/log_prefix.h"
#include "launcher/logger.h"
#include "launcher/output_filters.h"

namespace tplaunch {

int WriteAll(int fd, const char* data, size_t size, size_t* unwritten) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, 1000);
        continue;
      }
      *unwritten = size;
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  *unwritten = 0;
  return 0;
}

void LastLine::Set(absl::string_view line) {
  absl::MutexLock lock(&mu_);
  line_.assign(line.data(), line.size());
}

std::string LastLine::Get() const {
  absl::MutexLock lock(&mu_);
  return line_;
}

void StreamOutput::set_sinks(StreamSinks sinks) {
  sinks_ = std::move(sinks);
  torch_prefix_ = TorchRankPrefix(sinks_.rank);
}

void StreamOutput::CloseFile() {
  if (sinks_.file_fd >= 0) close(sinks_.file_fd);
  sinks_.file_fd = -1;
}

void StreamOutput::AddLine(absl::string_view line, bool split,
                           OutputScratch& scratch) {
  // `line` has no newline.
  static constexpr absl::string_view kSplitMarker =
      " [tplaunch: line too long, continued on the next line]";
  const absl::string_view marker = split ? kSplitMarker : "";
  const bool to_console = sinks_.console_fd >= 0;
  const bool duplicated = sinks_.duplicate != nullptr &&
                          MatchesAnyFilter(line, sinks_.duplicate_filters);
  if (to_console || duplicated) {
    const absl::string_view prefix =
        LineCarriesPrefix(line, sinks_.console_prefix, torch_prefix_)
            ? ""
            : absl::string_view(sinks_.console_prefix);
    if (to_console) {
      absl::StrAppend(&scratch.console, prefix, line, marker, "\n");
    }
    if (duplicated) {
      absl::StrAppend(&scratch.duplicate, prefix, line, marker, "\n");
    }
  }
  if (sinks_.file_fd >= 0) absl::StrAppend(&scratch.file, line, marker, "\n");
  if (sinks_.last_line != nullptr) sinks_.last_line->Set(line.substr(0, 1024));
  if (sinks_.tail_lines > 0) {
    constexpr size_t kMaxTailLine = 1024;
    tail_.emplace_back(line.substr(0, kMaxTailLine));
    while (tail_.size() > static_cast<size_t>(sinks_.tail_lines)) {
      tail_.pop_front();
    }
  }
}

void StreamOutput::WriteLogFile(const std::string& buf) {
  if (buf.empty()) return;
  if (file_errno_ != 0) {
    file_bytes_lost_ += buf.size();
    return;
  }
  size_t unwritten = 0;
  int err = WriteAll(sinks_.file_fd, buf.data(), buf.size(), &unwritten);
  if (err == 0) return;
  // The rest of the file would have a hole: stop writing it, and count.
  file_errno_ = err;
  file_bytes_lost_ += unwritten;
  LauncherLogger().error(
      "cannot write rank {}'s log file {}: {}; its output from here on is "
      "lost (the console still gets it)",
      sinks_.rank, sinks_.file_path, strerror(err));
}

void StreamOutput::WriteDuplicate(const std::string& buf) {
  SharedOutputFile* d = sinks_.duplicate;
  if (buf.empty() || d == nullptr) return;
  if (d->file_errno != 0) {
    duplicate_bytes_lost_ += buf.size();
    return;
  }
  size_t unwritten = 0;
  int err = WriteAll(d->fd, buf.data(), buf.size(), &unwritten);
  if (err == 0) return;
  d->file_errno = err;
  duplicate_bytes_lost_ += unwritten;
  LauncherLogger().error(
      "cannot write {}: {}; the filtered lines of every rank from here on are "
      "lost (the console still gets them)",
      d->path, strerror(err));
}

void StreamOutput::Append(absl::string_view bytes, bool eof,
                          OutputScratch& scratch) {
  partial_.append(bytes.data(), bytes.size());
  scratch.console.clear();
  scratch.file.clear();
  scratch.duplicate.clear();
  size_t start = 0;
  while (true) {
    size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    AddLine(absl::string_view(partial_).substr(start, nl - start), false,
            scratch);
    start = nl + 1;
  }
  // Lines too long to wait for their end, in pieces of max_line_bytes.
  while (partial_.size() - start >= sinks_.max_line_bytes) {
    AddLine(absl::string_view(partial_).substr(start, sinks_.max_line_bytes),
            true, scratch);
    start += sinks_.max_line_bytes;
  }
  if (eof && start < partial_.size()) {
    AddLine(absl::string_view(partial_).substr(start), false, scratch);
    start = partial_.size();
  }
  partial_.erase(0, start);
  if (!scratch.console.empty()) {
    size_t unwritten;
    WriteAll(sinks_.console_fd, scratch.console.data(), scratch.console.size(),
             &unwritten);
  }
  WriteLogFile(scratch.file);
  WriteDuplicate(scratch.duplicate);
}

}  // namespace tplaunch
