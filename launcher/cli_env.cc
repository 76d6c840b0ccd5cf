#include "launcher/cli_env.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tplaunch {
namespace {

constexpr char kPetPrefix[] = "PET_";

// PET_ spellings that no long name yields: the Kubeflow training operator's
// code writes PET_N_PROC_PER_NODE.
const std::map<std::string, std::vector<std::string>>& ExtraPetNames() {
  static const auto* extra =
      new std::map<std::string, std::vector<std::string>>{
          {"--nproc-per-node", {"PET_N_PROC_PER_NODE"}},
      };
  return *extra;
}

}  // namespace

std::vector<std::string> PetNames(const OptionDef& def) {
  std::vector<std::string> names;
  for (absl::string_view n : absl::StrSplit(def.names, ',')) {
    if (!absl::ConsumePrefix(&n, "--")) continue;
    std::string name = absl::AsciiStrToUpper(n);
    std::replace(name.begin(), name.end(), '-', '_');
    name = absl::StrCat(kPetPrefix, name);
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  }
  auto extra = ExtraPetNames().find(CanonicalName(def));
  if (extra != ExtraPetNames().end()) {
    names.insert(names.end(), extra->second.begin(), extra->second.end());
  }
  return names;
}

std::optional<RawValue> OptionFromEnvironment(
    const OptionDef& def, const std::map<std::string, std::string>& env) {
  if (auto it = env.find(EnvName(def)); it != env.end()) {
    return RawValue{it->second, it->first};
  }
  for (const std::string& pet : PetNames(def)) {
    if (auto it = env.find(pet); it != env.end() && !it->second.empty()) {
      return RawValue{it->second, it->first};
    }
  }
  if (def.fallback_env != nullptr) {
    if (auto it = env.find(def.fallback_env);
        it != env.end() && !it->second.empty()) {
      return RawValue{it->second, it->first};
    }
  }
  return std::nullopt;
}

std::vector<std::string> UnknownPetVariables(
    const std::map<std::string, std::string>& env) {
  std::set<std::string> known;
  for (const OptionDef& def : CommandLineOptions()) {
    for (std::string& n : PetNames(def)) known.insert(std::move(n));
  }
  std::vector<std::string> unknown;
  for (const auto& [name, value] : env) {
    if (absl::StartsWith(name, kPetPrefix) && known.count(name) == 0) {
      unknown.push_back(name);
    }
  }
  return unknown;
}

}  // namespace tplaunch
