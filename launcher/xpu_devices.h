// xpu_devices: how many Intel GPUs ("XPUs", PyTorch's torch.xpu) this node has,
// for --nproc-per-node xpu, found without PyTorch or Level Zero: a DRM render
// node (SYSFS/class/drm/renderD*) whose device has PCI vendor 0x8086 and is
// driven by i915 or xe, the kernel drivers Level Zero runs on. When
// ZE_AFFINITY_MASK is set (Level Zero's CUDA_VISIBLE_DEVICES), only the
// devices it names count.
#ifndef TPLAUNCH_LAUNCHER_XPU_DEVICES_H_
#define TPLAUNCH_LAUNCHER_XPU_DEVICES_H_

#include <map>
#include <string>

namespace tplaunch {

// The XPU count; 0 when there are none or `sysfs` cannot be read. `sysfs` is
// "/sys" except in tests.
int XpuCount(const std::map<std::string, std::string>& env,
             const std::string& sysfs = "/sys");

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_XPU_DEVICES_H_
