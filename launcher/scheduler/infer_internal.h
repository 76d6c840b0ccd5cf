// infer_internal: what the per-scheduler inference files (infer_slurm.cc,
// infer_kubernetes.cc, infer_mpi.cc) share. Not part of the package's
// interface.
#ifndef TPLAUNCH_LAUNCHER_SCHEDULER_INFER_INTERNAL_H_
#define TPLAUNCH_LAUNCHER_SCHEDULER_INFER_INTERNAL_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "launcher/scheduler/inference.h"

namespace tplaunch {
namespace scheduler_internal {

// A variable as read: its name and value.
struct EnvValue {
  std::string name;
  std::string value;
  // "NAME=value", for messages and InferredOption::source.
  std::string Describe() const;
};

// Reads variables and remembers which were used, for the summary.
class EnvReader {
 public:
  explicit EnvReader(const std::map<std::string, std::string>& env)
      : env_(env) {}

  // Whether any of names is set and non-empty; reads nothing.
  bool Has(std::initializer_list<const char*> names) const;
  // The first of names that is set and non-empty, recorded as used.
  std::optional<EnvValue> First(std::initializer_list<const char*> names);
  // First(names) as an integer in [min, max]; nullopt when none is set.
  // InvalidArgument "NAME 'v': expected an integer in MIN..MAX".
  absl::StatusOr<std::optional<int64_t>> Int(
      std::initializer_list<const char*> names, int64_t min, int64_t max);
  // Int(names), and InvalidArgument naming every name when none is set.
  absl::StatusOr<int64_t> RequiredInt(std::initializer_list<const char*> names,
                                      int64_t min, int64_t max,
                                      absl::string_view what);

  const std::vector<std::string>& used() const { return used_; }

 private:
  const std::map<std::string, std::string>& env_;
  std::vector<std::string> used_;
};

// InferredOption constructors.
InferredOption Binding(const char* option, std::string value,
                       std::string source, std::string hint = "");
InferredOption Chosen(const char* option, std::string value,
                      std::string source);

// Each returns kind kNone when its scheduler's variables are absent.
absl::StatusOr<SchedulerInference> InferSlurm(const SchedulerInputs& in);
absl::StatusOr<SchedulerInference> InferKubernetes(const SchedulerInputs& in);
absl::StatusOr<SchedulerInference> InferMpi(const SchedulerInputs& in);

}  // namespace scheduler_internal
}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_SCHEDULER_INFER_INTERNAL_H_
