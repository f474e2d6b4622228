// File: engine/ops/torch_status.h
// The engine boundary between LibTorch's exceptions and absl::Status.
//
// LibTorch reports failures by throwing c10::Error (a CUDA out-of-memory is the subclass
// c10::OutOfMemoryError). Model code written in LibTorch style may throw too; it does so through
// ThrowStatus, which keeps the absl code. GuardTorch runs such code and turns whatever it threw
// into a Status, so nothing LibTorch does on bad input or a full GPU ever aborts the daemon:
//   OutOfMemoryError, std::bad_alloc      -> RESOURCE_EXHAUSTED
//   StatusException (ThrowStatus)          -> the Status it carries
//   c10::ValueError/TypeError/IndexError   -> INVALID_ARGUMENT
//   any other c10::Error / std::exception  -> INTERNAL
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid::ops {

// An absl::Status travelling as an exception through LibTorch-style code (forward() methods).
class StatusException : public std::exception {
 public:
  explicit StatusException(absl::Status status)
      : status_(std::move(status)), what_(status_.ToString()) {}
  const absl::Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  absl::Status status_;
  std::string what_;
};

// Throws StatusException(status). Call only with a non-OK status.
[[noreturn]] void ThrowStatus(absl::Status status);

// Returns `status` unchanged when OK, else throws it (for forward() methods).
inline void ThrowIfError(absl::Status status) {
  if (!status.ok()) ThrowStatus(std::move(status));
}
template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  if (!value.ok()) ThrowStatus(std::move(value).status());
  return *std::move(value);
}

// The current exception (call inside a catch block) as a Status; `context` prefixes the message.
absl::Status StatusFromCurrentException(const char* context);

namespace internal {
template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};
}  // namespace internal

// Runs `fn` and converts anything it throws. `fn` returning void gives absl::Status; returning
// absl::Status or absl::StatusOr<T>, the same type; returning a plain T, absl::StatusOr<T>.
template <typename Fn>
auto GuardTorch(const char* context, Fn&& fn) {
  using R = std::invoke_result_t<Fn>;
  if constexpr (!std::is_void_v<R> && !std::is_same_v<R, absl::Status> &&
                !internal::IsStatusOr<R>::value) {
    using Out = absl::StatusOr<R>;
    try {
      return Out(fn());
    } catch (...) {
      return Out(StatusFromCurrentException(context));
    }
  } else if constexpr (std::is_void_v<R>) {
    try {
      fn();
      return absl::OkStatus();
    } catch (...) {
      return StatusFromCurrentException(context);
    }
  } else {
    try {
      return R(fn());
    } catch (...) {
      return R(StatusFromCurrentException(context));
    }
  }
}

}  // namespace ovid::ops
