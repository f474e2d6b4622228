// File: tools/ovidctl/request_flags.h
// `ovidctl generate` flags -> GenerateRequest. Only flags that were given are set: the request's
// fields are optional, so the daemon applies its own defaults (and reports them in Final).
#pragma once

#include <vector>

#include "ovid/v1/generation.pb.h"
#include "tools/ovidctl/args.h"

namespace ovidctl {

// The flags that shape the request (generate also takes --out-dir and --job).
const std::vector<FlagSpec>& RequestFlags();

// Reads --embedding / --prompt and the tunables; throws UsageError for a bad value or a
// conditioning that is missing, doubled or unreadable.
ovid::v1::GenerateRequest RequestFromFlags(const Args& args);

}  // namespace ovidctl
