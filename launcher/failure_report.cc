#include "launcher/failure_report.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "launcher/signals.h"

namespace tplaunch {
namespace {

// The error file is PyTorch's; a larger one is not worth reading for a line.
constexpr size_t kErrorFileLimit = 1 << 20;

std::string ReadSmallFile(const std::string& path, size_t limit) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out(limit, '\0');
  ssize_t n = read(fd, out.data(), limit);
  close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace

std::string JsonEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrCat("\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string ErrorFileMessage(absl::string_view contents) {
  size_t pos = 0;
  while ((pos = contents.find("\"message\"", pos)) != absl::string_view::npos) {
    pos += 9;
    size_t colon = contents.find_first_not_of(" \t\r\n", pos);
    if (colon == absl::string_view::npos || contents[colon] != ':') continue;
    size_t q = contents.find_first_not_of(" \t\r\n", colon + 1);
    if (q == absl::string_view::npos || contents[q] != '"') continue;
    std::string out;
    for (size_t i = q + 1; i < contents.size() && contents[i] != '"'; ++i) {
      if (contents[i] == '\\' && i + 1 < contents.size()) {
        ++i;
        out.push_back(contents[i] == 'n' ? '\n' : contents[i]);
      } else {
        out.push_back(contents[i]);
      }
    }
    return out;
  }
  return "";
}

std::string ReadErrorFileMessage(const std::string& path) {
  if (path.empty()) return "";
  return ErrorFileMessage(ReadSmallFile(path, kErrorFileLimit));
}

std::string RootCauseSummary(const FailureContext& c, const WorkerExit& f,
                             const std::string& error_message) {
  std::string out = absl::StrCat(
      "worker failed: rank ", f.rank, " on node ", c.node_rank, " (", c.host,
      ") ", f.signal ? "died of " : "exited with ", f.Describe(), "\n",
      "  root cause (first failure):\n", "    time       : ",
      absl::FormatTime("%Y-%m-%d %H:%M:%E3S %Z", f.time, absl::LocalTimeZone()),
      "\n", "    node       : ", c.node_rank, " of ", c.num_nodes, " (", c.host,
      ", ", c.local_addr, ")\n", "    rank       : ", f.rank, " (local rank ",
      f.local_rank, ")\n", "    ", f.signal ? "signal     : " : "exit code  : ",
      f.signal ? absl::StrCat(SignalName(f.signal), " (", f.signal, ")")
               : absl::StrCat(f.exit_code),
      "\n", "    pid        : ", f.pid, "\n", "    attempt    : ", c.attempt,
      "\n");
  if (!error_message.empty()) {
    absl::StrAppend(&out, "    error      : ", error_message, "\n");
  }
  if (!f.stderr_tail.empty()) {
    absl::StrAppend(&out, "    last stderr lines:\n");
    for (const auto& line : f.stderr_tail)
      absl::StrAppend(&out, "      | ", line, "\n");
  }
  return out;
}

std::string FailureReason(const FailureContext& c, const WorkerExit& f,
                          const std::string& error_message) {
  const std::string last_line = !error_message.empty()   ? error_message
                                : !f.stderr_tail.empty() ? f.stderr_tail.back()
                                                         : "";
  return absl::StrCat("rank ", f.rank, " (local rank ", f.local_rank, ", node ",
                      c.node_rank, ", ", c.host, ", pid ", f.pid, ") ",
                      f.signal ? "died of " : "exited with ", f.Describe(),
                      last_line.empty() ? "" : ": ", last_line);
}

std::string FailureJson(const FailureContext& c, const WorkerExit& f,
                        const std::string& error_file,
                        const std::string& error_message) {
  std::vector<std::string> tail;
  for (const auto& l : f.stderr_tail) tail.push_back(JsonEscape(l));
  return absl::StrCat(
      "{\n  \"run_id\": ", JsonEscape(c.run_id),
      ",\n  \"attempt\": ", c.attempt, ",\n  \"node_rank\": ", c.node_rank,
      ",\n  \"host\": ", JsonEscape(c.host),
      ",\n  \"address\": ", JsonEscape(c.local_addr), ",\n  \"rank\": ", f.rank,
      ",\n  \"local_rank\": ", f.local_rank, ",\n  \"pid\": ", f.pid,
      ",\n  \"exit_code\": ", f.ShellCode(),
      ",\n  \"signal\": ", f.signal ? JsonEscape(SignalName(f.signal)) : "null",
      ",\n  \"time\": ",
      JsonEscape(
          absl::FormatTime(absl::RFC3339_full, f.time, absl::UTCTimeZone())),
      ",\n  \"error_file\": ", JsonEscape(error_file),
      ",\n  \"error_message\": ", JsonEscape(error_message),
      ",\n  \"stderr_tail\": [", absl::StrJoin(tail, ", "), "]\n}\n");
}

}  // namespace tplaunch
