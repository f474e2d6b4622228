// File: server/core_dumps.h
// Core dumps off at start (--core-dumps=off, the default). A dump of the daemon holds what its
// memory holds: the bearer tokens, the TLS private key, the page-token key, and the prompts and
// outputs of every job kept for re-attach. Where it lands (a file beside the binary, the node's
// systemd-coredump, a crash collector) is the node's choice, read by whoever reads those, so
// the daemon does not leave that choice to the node.
#pragma once

#include "absl/status/status.h"

namespace ovid::server {

// With `allowed` false: no core file (RLIMIT_CORE 0) and not dumpable (PR_SET_DUMPABLE 0, which
// also stops a core pipe handler such as systemd-coredump, and same-user debuggers and
// /proc/PID/mem readers). With true: nothing changes, the node's settings apply. Errors name the
// call that failed.
absl::Status SetCoreDumps(bool allowed);

// Whether this process may dump core now: RLIMIT_CORE above 0 and dumpable.
bool CoreDumpsAllowed();

}  // namespace ovid::server
