// Helpers for the inference table tests: an environment map and the inferred
// options as a name -> value map.
#ifndef TPLAUNCH_TESTS_LAUNCHER_SCHEDULER_INFERENCE_TESTING_H_
#define TPLAUNCH_TESTS_LAUNCHER_SCHEDULER_INFERENCE_TESTING_H_

#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "launcher/scheduler/inference.h"

namespace tplaunch {
namespace testing {

using Env = std::map<std::string, std::string>;
using OptionValues = std::map<std::string, std::string>;

inline OptionValues Options(const SchedulerInference& inference) {
  OptionValues values;
  for (const InferredOption& o : inference.options) values[o.option] = o.value;
  return values;
}

inline bool IsBinding(const SchedulerInference& inference,
                      const std::string& option) {
  for (const InferredOption& o : inference.options) {
    if (o.option == option) return o.binding;
  }
  return false;
}

// `env` with `changes` applied on top.
inline Env With(Env env, const Env& changes) {
  for (const auto& [k, v] : changes) env[k] = v;
  return env;
}

inline SchedulerInference Infer(
    const Env& env, SchedulerChoice choice = SchedulerChoice::kAuto,
    const std::string& hostname = "",
    const std::map<std::string, std::string>& given = {}) {
  SchedulerInputs in;
  in.env = env;
  in.choice = choice;
  in.hostname = hostname;
  in.parent_pid = 4321;
  in.given = given;
  absl::StatusOr<SchedulerInference> r = InferScheduler(in);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

inline std::string InferError(
    const Env& env, SchedulerChoice choice = SchedulerChoice::kAuto,
    const std::map<std::string, std::string>& given = {}) {
  SchedulerInputs in;
  in.env = env;
  in.choice = choice;
  in.given = given;
  absl::StatusOr<SchedulerInference> r = InferScheduler(in);
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsInvalidArgument(r.status()));
  return std::string(r.status().message());
}

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_LAUNCHER_SCHEDULER_INFERENCE_TESTING_H_
