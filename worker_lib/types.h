// Element types and reduction operators shared by every worker_lib backend.
#ifndef TPLAUNCH_WORKER_LIB_TYPES_H_
#define TPLAUNCH_WORKER_LIB_TYPES_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace tplaunch {

enum class DataType {
  kFloat32,
  kFloat64,
  kInt32,
  kInt64,
  // bfloat16 as raw uint16_t bits (the upper half of an IEEE float32).
  kBFloat16,
};

enum class ReduceOp {
  kSum,
  kMax,
  kMin,
};

// Bytes per element.
size_t DataTypeSize(DataType type);
absl::string_view DataTypeName(DataType type);
absl::string_view ReduceOpName(ReduceOp op);

// Maps C++ element types to DataType for the typed helpers on ProcessGroup.
template <typename T>
struct DataTypeOf;
template <>
struct DataTypeOf<float> {
  static constexpr DataType value = DataType::kFloat32;
};
template <>
struct DataTypeOf<double> {
  static constexpr DataType value = DataType::kFloat64;
};
template <>
struct DataTypeOf<int32_t> {
  static constexpr DataType value = DataType::kInt32;
};
template <>
struct DataTypeOf<int64_t> {
  static constexpr DataType value = DataType::kInt64;
};

// bfloat16 <-> float conversions (round to nearest even; NaN stays NaN).
uint16_t FloatToBFloat16(float value);
float BFloat16ToFloat(uint16_t bits);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_TYPES_H_
