// File: tests/engine/test_gguf.cc
#include "tests/engine/test_gguf.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/gguf/gguf_writer.h"
#include "kernels/cpu/quantize.h"

namespace ovid::testing {

std::vector<float> RandomValues(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

int64_t TensorBytes(GgmlType type, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const int64_t row = shape.empty() ? 1 : shape.back();
  return row == 0 ? 0 : n / row * GgmlRowBytes(type, row);
}

absl::StatusOr<std::string> WriteTestGguf(
    const std::string& file_name, std::vector<TestTensor> tensors,
    std::vector<std::pair<std::string, gguf::Value>> metadata) {
  const char* dir = std::getenv("TEST_TMPDIR");
  // The pid keeps parallel ctest processes (one per test case) off each other's files.
  const std::string path =
      absl::StrCat(dir != nullptr ? dir : "/tmp", "/ovid_", getpid(), "_", file_name);
  gguf::GgufWriter writer;
  for (auto& [key, value] : metadata) {
    if (absl::Status s = writer.AddMetadata(key, std::move(value)); !s.ok()) return s;
  }
  uint32_t seed = 1;
  for (TestTensor& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (t.values.empty() && !t.zero_bytes) t.values = RandomValues(n, seed++);
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    if (absl::Status s = writer.AddTensor(t.name, t.type, ne); !s.ok()) return s;
  }
  absl::Status s = writer.Write(
      path, [&](const gguf::GgufWriter::PlannedTensor& planned, std::vector<uint8_t>* out) {
        for (const TestTensor& t : tensors) {
          if (t.name != planned.name) continue;
          out->assign(planned.nbytes, 0);
          if (t.zero_bytes || planned.nbytes == 0) return absl::OkStatus();
          const int64_t row = t.shape.empty() ? 1 : t.shape.back();
          const int64_t rows = static_cast<int64_t>(t.values.size()) / row;
          if (t.type == GgmlType::kF32) {
            std::memcpy(out->data(), t.values.data(), planned.nbytes);
          } else if (!QuantizeTensor(t.type, t.values.data(), out->data(), rows, row)) {
            return absl::InvalidArgumentError(
                absl::StrCat("cannot quantize test tensor to ", GgmlTypeName(t.type)));
          }
          return absl::OkStatus();
        }
        return absl::InternalError("unknown tensor " + planned.name);
      });
  if (!s.ok()) return s;
  return path;
}

}  // namespace ovid::testing
