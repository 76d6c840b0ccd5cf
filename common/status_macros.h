// Early-return helpers for absl::Status, which Abseil 20220623 does not ship.
#ifndef TPLAUNCH_COMMON_STATUS_MACROS_H_
#define TPLAUNCH_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TPL_CONCAT_INNER_(a, b) a##b
#define TPL_CONCAT_(a, b) TPL_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status tpl_status_ = (expr);       \
    if (!tpl_status_.ok()) return tpl_status_; \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr());` assigns the value or returns the
// status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  TPL_ASSIGN_OR_RETURN_IMPL_(TPL_CONCAT_(tpl_statusor_, __LINE__), lhs, expr)

#define TPL_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // TPLAUNCH_COMMON_STATUS_MACROS_H_
