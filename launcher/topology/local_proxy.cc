#include "launcher/topology/local_proxy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "launcher/logger.h"

namespace tplaunch {
namespace {

constexpr char kPrefix[] = "tplaunch-proxy-";
constexpr char kLockName[] = "lock";
// How long a directory without a lock file may be in the making.
constexpr time_t kUnlockedGraceS = 60;
// "<base>/tplaunch-proxy-<pid>-XXXXXX/store.sock" must fit sun_path.
constexpr size_t kMaxBaseBytes = 60;

// The launcher owns the upstream store and outlives the proxy (see
// StartLocalProxy): the proxy holds it without owning it.
std::shared_ptr<Store> Unowned(Store* store) {
  return std::shared_ptr<Store>(store, [](Store*) {});
}

std::string BaseDir() {
  const char* tmpdir = getenv("TMPDIR");
  if (tmpdir != nullptr && tmpdir[0] == '/' &&
      strlen(tmpdir) <= kMaxBaseBytes) {
    return tmpdir;
  }
  return "/tmp";
}

// The socket (and anything else) in a proxy directory, then the directory.
void RemoveDir(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      unlink(absl::StrCat(dir, "/", name).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

}  // namespace

int RemoveStaleProxyDirs(const std::string& base) {
  int removed = 0;
  DIR* d = opendir(base.c_str());
  if (d == nullptr) return 0;
  while (dirent* entry = readdir(d)) {
    absl::string_view name = entry->d_name;
    if (!absl::ConsumePrefix(&name, kPrefix)) continue;
    const size_t dash = name.find('-');
    int pid = 0;
    if (dash == absl::string_view::npos ||
        !absl::SimpleAtoi(name.substr(0, dash), &pid) || pid <= 0) {
      continue;
    }
    const std::string path = absl::StrCat(base, "/", entry->d_name);
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid()) {
      continue;
    }
    const std::string lock = absl::StrCat(path, "/", kLockName);
    const int fd = open(lock.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      // Being made right now, or left by a launcher killed before it locked.
      if (time(nullptr) - st.st_mtime < kUnlockedGraceS) continue;
    } else {
      const bool in_use = flock(fd, LOCK_EX | LOCK_NB) != 0;
      if (in_use) {
        close(fd);
        continue;
      }
    }
    RemoveDir(path);
    if (fd >= 0) close(fd);
    ++removed;
  }
  closedir(d);
  return removed;
}

LocalProxy::~LocalProxy() {
  Shutdown();
  proxy_.reset();
}

void LocalProxy::Shutdown() {
  if (proxy_ != nullptr) proxy_->Shutdown();
  if (!dir_.empty()) RemoveDir(dir_);
  dir_.clear();
  if (lock_fd_ >= 0) close(lock_fd_);
  lock_fd_ = -1;
}

Endpoint LocalProxy::worker_endpoint() const {
  Endpoint endpoint;
  endpoint.host = proxy_->target();
  return endpoint;
}

absl::StatusOr<std::unique_ptr<LocalProxy>> StartLocalProxy(
    Store* upstream, const std::string& run_id, const std::string& token,
    const Endpoint& daemon) {
  const std::string base = BaseDir();
  if (const int stale = RemoveStaleProxyDirs(base); stale > 0) {
    LauncherLogger().info(
        "removed {} store proxy directories of launchers that are gone", stale);
  }
  std::string pattern = absl::StrCat(base, "/", kPrefix, getpid(), "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the store proxy directory ", pattern, ": ",
                     strerror(errno)));
  }
  auto local = std::unique_ptr<LocalProxy>(new LocalProxy());
  local->dir_ = pattern;  // mkdtemp made it 0700.
  const std::string lock = absl::StrCat(pattern, "/", kLockName);
  local->lock_fd_ =
      open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (local->lock_fd_ < 0 || flock(local->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot lock the store proxy directory ", lock, ": ", strerror(errno)));
  }
  StoreProxyOptions options;
  options.socket_dir = local->dir_;
  options.job = run_id;
  options.token = token;
  options.upstream_name = absl::StrCat("tprdzvd at ", daemon.ToString());
  absl::StatusOr<std::unique_ptr<StoreProxy>> proxy =
      StartStoreProxy(options, Unowned(upstream));
  if (!proxy.ok()) return proxy.status();  // ~LocalProxy removes the dir.
  local->proxy_ = *std::move(proxy);
  LauncherLogger().info("store proxy for the local workers on {} (upstream {})",
                        local->proxy_->target(), options.upstream_name);
  return local;
}

}  // namespace tplaunch
