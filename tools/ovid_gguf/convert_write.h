// File: tools/ovid_gguf/convert_write.h
// The two outputs of `ovid-gguf convert`: GGUF and safetensors, written one tensor at a time
// from a TensorSource. Float dtypes are kept (F32, F16, BF16); F64 becomes F32 (ovid has no F64
// kernels); in GGUF, FP8 becomes BF16 (exact) since GGUF has no FP8 type. Safetensors output
// keeps integer and FP8 tensors as they are.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/gguf/metadata.h"
#include "tools/ovid_gguf/tensor_source.h"

namespace ovid::tools {

// Problems that stop a GGUF from being written, checked before anything is: non-float
// tensors, names over GGUF's 63-byte limit (with the hint to write safetensors instead).
absl::Status CheckGgufOutput(const TensorSource& src, const std::string& out);

// `metadata` must not set general.file_type: it is derived from the majority type.
absl::Status WriteGgufOutput(const TensorSource& src, const std::string& out,
                             const std::vector<std::pair<std::string, gguf::Value>>& metadata);

absl::Status WriteSafetensorsOutput(const TensorSource& src, const std::string& out,
                                    const std::map<std::string, std::string>& metadata);

// How many F64 tensors the writers narrow to F32 (convert prints a note).
size_t CountF64(const TensorSource& src);

}  // namespace ovid::tools
