// XPU detection from a sysfs tree built in a scratch directory
// (launcher/xpu_devices.h).
#include "launcher/xpu_devices.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::WriteFile;

void MakeDirs(const std::string& path) {
  std::string sofar;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      sofar = path.substr(0, i);
      mkdir(sofar.c_str(), 0755);
    }
  }
}

// SYSFS/class/drm/<node>/device with `vendor` and a driver link to `driver`.
void AddRenderNode(const std::string& sysfs, const std::string& node,
                   const std::string& vendor, const std::string& driver) {
  const std::string device =
      absl::StrCat(sysfs, "/class/drm/", node, "/device");
  MakeDirs(device);
  WriteFile(device + "/vendor", vendor + "\n");
  const std::string target = absl::StrCat(sysfs, "/bus/pci/drivers/", driver);
  MakeDirs(target);
  REQUIRE(symlink(target.c_str(), (device + "/driver").c_str()) == 0);
}

TEST_CASE("XPUs are Intel render nodes driven by i915 or xe") {
  const std::string sysfs = MakeTempDir();
  CHECK(XpuCount({}, sysfs) == 0);
  AddRenderNode(sysfs, "renderD128", "0x10de", "nvidia");
  AddRenderNode(sysfs, "renderD129", "0x8086", "xe");
  AddRenderNode(sysfs, "renderD130", "0x8086", "i915");
  AddRenderNode(sysfs, "renderD131", "0x8086", "vfio-pci");
  // The card node of the same device is not counted twice.
  AddRenderNode(sysfs, "card1", "0x8086", "xe");
  CHECK(XpuCount({}, sysfs) == 2);
  CHECK(XpuCount({{"ZE_AFFINITY_MASK", ""}}, sysfs) == 2);
  CHECK(XpuCount({{"ZE_AFFINITY_MASK", "1"}}, sysfs) == 1);
  CHECK(XpuCount({{"ZE_AFFINITY_MASK", "0.0,0.1,1"}}, sysfs) == 2);
  CHECK(XpuCount({{"ZE_AFFINITY_MASK", "5"}}, sysfs) == 0);
  CHECK(XpuCount({}, sysfs + "/missing") == 0);
}

}  // namespace
}  // namespace tplaunch
