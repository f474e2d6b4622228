// File: server/core_dumps.cc
#include "server/core_dumps.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ovid::server {

absl::Status SetCoreDumps(bool allowed) {
  if (allowed) return absl::OkStatus();
  const rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    return absl::InternalError(
        absl::StrCat("setrlimit(RLIMIT_CORE, 0) failed: ", std::strerror(errno)));
  }
  // The limit alone does not stop a dump to a pipe (core_pattern "|..."): the kernel hands the
  // handler the dump whatever the limit.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError(
        absl::StrCat("prctl(PR_SET_DUMPABLE, 0) failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

bool CoreDumpsAllowed() {
  rlimit limit = {};
  if (getrlimit(RLIMIT_CORE, &limit) != 0) return false;
  return limit.rlim_cur > 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

}  // namespace ovid::server
