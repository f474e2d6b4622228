// File: tests/gguf/sample_gguf.h
// The deterministic sample file written by GgufWriter in the tests: every metadata type, nested
// and empty arrays, tensors of F32/F16/BF16/Q4_0/Q8_0/Q4_K/Q6_K and a 5-dim F32 tensor.
// tests/gguf/test_gguf_interop.py describes the same file independently and checks that gguf-py
// reads exactly this back; keep the two in step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/gguf/gguf_writer.h"

namespace ovid::gguf::testing {

// Metadata and tensor plan of the sample.
absl::Status PlanSample(GgufWriter* writer);
// Byte j of the tensor at plan index i is (131*j + 17*i + 7) mod 256.
std::vector<uint8_t> SampleTensorBytes(size_t index, uint64_t nbytes);
// Writes the sample to `path`.
absl::Status WriteSample(const std::string& path, uint32_t alignment = 32);

}  // namespace ovid::gguf::testing
