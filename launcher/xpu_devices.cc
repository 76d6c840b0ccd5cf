#include "launcher/xpu_devices.h"

#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tplaunch {
namespace {

std::string ReadSmallFile(const std::string& path) {
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr) return "";
  char buf[64];
  size_t n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  return std::string(absl::StripAsciiWhitespace(absl::string_view(buf, n)));
}

// The basename of the driver symlink (".../drivers/xe" -> "xe").
std::string DriverName(const std::string& device) {
  char target[PATH_MAX];
  ssize_t n = readlink(absl::StrCat(device, "/driver").c_str(), target,
                       sizeof(target) - 1);
  if (n <= 0) return "";
  absl::string_view t(target, static_cast<size_t>(n));
  size_t slash = t.rfind('/');
  return std::string(slash == absl::string_view::npos ? t
                                                      : t.substr(slash + 1));
}

}  // namespace

int XpuCount(const std::map<std::string, std::string>& env,
             const std::string& sysfs) {
  const std::string drm = absl::StrCat(sysfs, "/class/drm");
  DIR* dir = opendir(drm.c_str());
  if (dir == nullptr) return 0;
  int count = 0;
  while (dirent* e = readdir(dir)) {
    if (!absl::StartsWith(e->d_name, "renderD")) continue;
    const std::string device = absl::StrCat(drm, "/", e->d_name, "/device");
    const std::string driver = DriverName(device);
    if (ReadSmallFile(absl::StrCat(device, "/vendor")) == "0x8086" &&
        (driver == "i915" || driver == "xe")) {
      ++count;
    }
  }
  closedir(dir);
  auto mask = env.find("ZE_AFFINITY_MASK");
  if (mask == env.end() || mask->second.empty()) return count;
  // "0,2" or sub-devices "0.1,1": the distinct device indices that exist.
  std::set<int> named;
  for (absl::string_view item :
       absl::StrSplit(mask->second, ',', absl::SkipWhitespace())) {
    int index = -1;
    std::string device(item.substr(0, item.find('.')));
    if (absl::SimpleAtoi(device, &index) && index >= 0 && index < count) {
      named.insert(index);
    }
  }
  return static_cast<int>(named.size());
}

}  // namespace tplaunch
