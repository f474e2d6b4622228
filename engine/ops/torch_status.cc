// File: engine/ops/torch_status.cc
#include "engine/ops/torch_status.h"

#include <c10/util/Exception.h>

#include <new>

#include "absl/strings/str_cat.h"
#include "ovid/host_memory.h"

namespace ovid::ops {

void ThrowStatus(absl::Status status) { throw StatusException(std::move(status)); }

absl::Status StatusFromCurrentException(const char* context) {
  // c10 messages carry a C++ backtrace after the first line; the first line is the useful part.
  auto first_line = [](const char* what) {
    std::string s(what);
    const size_t nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
  };
  try {
    throw;
  } catch (const StatusException& e) {
    const absl::Status& s = e.status();
    return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
  } catch (const c10::OutOfMemoryError& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat(context, ": out of device memory: ", first_line(e.what_without_backtrace())));
  } catch (const c10::ValueError& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": ", first_line(e.what_without_backtrace())));
  } catch (const c10::TypeError& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": ", first_line(e.what_without_backtrace())));
  } catch (const c10::IndexError& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": ", first_line(e.what_without_backtrace())));
  } catch (const c10::Error& e) {
    const std::string what = first_line(e.what_without_backtrace());
    // LibTorch's CPU allocator reports a failed allocation as a plain enforce failure ("...
    // DefaultCPUAllocator: can't allocate memory ..."), not as OutOfMemoryError: it is host
    // memory running out, not a bug.
    if (what.find("can't allocate memory") != std::string::npos) {
      return HostOutOfMemoryError(absl::StrCat(context, ": out of host memory: ", what));
    }
    return absl::InternalError(absl::StrCat(context, ": ", what));
  } catch (const std::bad_alloc&) {
    return HostOutOfMemoryError(absl::StrCat(context, ": out of host memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(context, ": ", first_line(e.what())));
  } catch (...) {
    return absl::InternalError(absl::StrCat(context, ": unknown exception"));
  }
}

}  // namespace ovid::ops
