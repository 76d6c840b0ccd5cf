#include "launcher/file_timer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

// A JSON value of a flat object: a string, or the text of a number, true,
// false or null (kept as text, converted by the caller).
struct JsonValue {
  bool is_string = false;
  std::string text;
};

// The minimal JSON reader a flat object of scalars needs: FileTimerClient's
// requests are json.dumps of one dict of ints, floats and one string.
class FlatJsonObject {
 public:
  explicit FlatJsonObject(absl::string_view in) : in_(in) {}

  absl::StatusOr<std::map<std::string, JsonValue>> Parse() {
    std::map<std::string, JsonValue> out;
    SkipSpace();
    if (!Eat('{')) return Error("expected a JSON object");
    SkipSpace();
    if (Eat('}')) return Finish(out);
    while (true) {
      SkipSpace();
      std::string key;
      if (!ReadString(key)) return Error("expected a quoted key");
      SkipSpace();
      if (!Eat(':')) return Error("expected ':' after a key");
      SkipSpace();
      JsonValue v;
      if (Peek() == '"') {
        v.is_string = true;
        if (!ReadString(v.text)) return Error("bad string value");
      } else {
        size_t start = pos_;
        while (pos_ < in_.size() && in_[pos_] != ',' && in_[pos_] != '}' &&
               !absl::ascii_isspace(static_cast<unsigned char>(in_[pos_]))) {
          ++pos_;
        }
        v.text = std::string(in_.substr(start, pos_ - start));
        if (v.text.empty()) return Error("expected a value");
      }
      out[key] = std::move(v);
      SkipSpace();
      if (Eat(',')) continue;
      if (Eat('}')) return Finish(out);
      return Error("expected ',' or '}'");
    }
  }

 private:
  absl::StatusOr<std::map<std::string, JsonValue>> Finish(
      std::map<std::string, JsonValue>& out) {
    SkipSpace();
    if (pos_ != in_.size()) return Error("text after the object");
    return std::move(out);
  }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at byte ", pos_));
  }
  char Peek() const { return pos_ < in_.size() ? in_[pos_] : '\0'; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < in_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(in_[pos_]))) {
      ++pos_;
    }
  }
  bool ReadString(std::string& out) {
    if (!Eat('"')) return false;
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= in_.size()) return false;
      char e = in_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          // json.dumps escapes non-ASCII as \uXXXX; kept as UTF-8 (a
          // surrogate pair stays two code points: a scope name is a label).
          unsigned cp = 0;
          if (pos_ + 4 > in_.size()) return false;
          for (int i = 0; i < 4; ++i) {
            char h = in_[pos_++];
            if (!absl::ascii_isxdigit(static_cast<unsigned char>(h))) {
              return false;
            }
            cp = cp * 16 +
                 (absl::ascii_isdigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
          }
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  absl::string_view in_;
  size_t pos_ = 0;
};

absl::Status Field(const std::map<std::string, JsonValue>& obj,
                   const char* name, const JsonValue** out) {
  auto it = obj.find(name);
  if (it == obj.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing field \"", name, "\""));
  }
  *out = &it->second;
  return absl::OkStatus();
}

absl::Status IntField(const std::map<std::string, JsonValue>& obj,
                      const char* name, int64_t* out) {
  const JsonValue* v = nullptr;
  absl::Status s = Field(obj, name, &v);
  if (!s.ok()) return s;
  if (v->is_string || !absl::SimpleAtoi(v->text, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", name, "\" must be an integer"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TimerRequest> ParseTimerRequest(absl::string_view line) {
  if (line.size() > kMaxTimerRequestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request of ", line.size(), " bytes is over the ",
                     kMaxTimerRequestBytes, "-byte limit"));
  }
  auto obj = FlatJsonObject(line).Parse();
  if (!obj.ok()) return obj.status();
  TimerRequest r;
  int64_t pid = 0;
  int64_t signal = 0;
  absl::Status s = IntField(*obj, "pid", &pid);
  if (s.ok()) s = IntField(*obj, "signal", &signal);
  if (!s.ok()) return s;
  if (pid <= 0 || pid > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"pid\" must be a process id, not ", pid));
  }
  if (signal > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"signal\" ", signal, " is not a signal"));
  }
  if (auto version = obj->find("version"); version != obj->end()) {
    if (version->second.is_string || version->second.text != "1") {
      return absl::InvalidArgumentError(absl::StrCat(
          "version ", version->second.text, " is not supported (only 1)"));
    }
  }
  const JsonValue* scope = nullptr;
  s = Field(*obj, "scope_id", &scope);
  if (!s.ok()) return s;
  if (!scope->is_string) {
    return absl::InvalidArgumentError("field \"scope_id\" must be a string");
  }
  const JsonValue* expiration = nullptr;
  s = Field(*obj, "expiration_time", &expiration);
  if (!s.ok()) return s;
  if (expiration->is_string ||
      !absl::SimpleAtod(expiration->text, &r.expiration_time) ||
      !std::isfinite(r.expiration_time)) {
    return absl::InvalidArgumentError(
        "field \"expiration_time\" must be a number (seconds since the "
        "epoch)");
  }
  r.pid = static_cast<pid_t>(pid);
  r.signal = static_cast<int>(signal);
  r.scope_id = scope->text;
  return r;
}

absl::Status FileTimerTable::Apply(const TimerRequest& request) {
  auto key = std::make_pair(request.pid, request.scope_id);
  if (request.is_release()) {
    timers_.erase(key);
    return absl::OkStatus();
  }
  if (timers_.count(key) == 0 && timers_.size() >= options_.max_timers) {
    return absl::ResourceExhaustedError(
        absl::StrCat(timers_.size(), " timers are live (the limit)"));
  }
  timers_[key] = request;
  return absl::OkStatus();
}

std::vector<ExpiredTimer> FileTimerTable::TakeExpired(absl::Time now) {
  std::map<pid_t, std::vector<const TimerRequest*>> expired;
  for (const auto& [key, r] : timers_) {
    if (r.deadline() <= now) expired[key.first].push_back(&r);
  }
  std::vector<ExpiredTimer> out;
  for (auto& [pid, list] : expired) {
    std::stable_sort(list.begin(), list.end(), [](auto* a, auto* b) {
      return a->expiration_time < b->expiration_time;
    });
    const TimerRequest* chosen = list.front();
    for (const TimerRequest* r : list) {
      if (r->signal > 0) {
        chosen = r;
        break;
      }
    }
    ExpiredTimer e;
    e.pid = pid;
    e.scope_id = chosen->scope_id;
    e.deadline = chosen->deadline();
    e.signal = std::max(chosen->signal, 0);
    out.push_back(std::move(e));
  }
  for (const ExpiredTimer& e : out) Forget(e.pid);
  return out;
}

void FileTimerTable::Forget(pid_t pid) {
  auto it = timers_.lower_bound({pid, std::string()});
  while (it != timers_.end() && it->first.first == pid) it = timers_.erase(it);
}

std::optional<absl::Time> FileTimerTable::NextDeadline() const {
  std::optional<absl::Time> next;
  for (const auto& [key, r] : timers_) {
    if (!next || r.deadline() < *next) next = r.deadline();
  }
  return next;
}

}  // namespace tplaunch
