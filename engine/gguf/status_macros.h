// File: engine/gguf/status_macros.h
// Early-return helpers for absl::Status code. abseil 20220623 (Debian 12) has no
// ABSL_RETURN_IF_ERROR / ABSL_ASSIGN_OR_RETURN, so ovid defines its own here, once.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the calling function if not ok.
#define OVID_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status ovid_status_ = (expr);        \
    if (!ovid_status_.ok()) return ovid_status_; \
  } while (false)

#define OVID_STATUS_CONCAT_INNER(a, b) a##b
#define OVID_STATUS_CONCAT(a, b) OVID_STATUS_CONCAT_INNER(a, b)

// `lhs` is a declaration or an lvalue; `expr` an absl::StatusOr<T>. Returns the status if not ok.
#define OVID_ASSIGN_OR_RETURN(lhs, expr) \
  OVID_ASSIGN_OR_RETURN_IMPL(OVID_STATUS_CONCAT(ovid_statusor_, __LINE__), lhs, expr)

#define OVID_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)    \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
