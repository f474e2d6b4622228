#include "tools/ovid_gguf/tensor_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/quantize.h"

namespace ovid::tools {

absl::Status ConvertTensor(std::string_view tensor, GgmlType from, std::span<const uint8_t> src,
                           GgmlType to, int64_t n_rows, int64_t row_elements, int threads,
                           std::vector<uint8_t>* out, int64_t* overflowed) {
  if (overflowed != nullptr) *overflowed = 0;
  const int64_t src_row_bytes = GgmlRowBytes(from, row_elements);
  const int64_t dst_row_bytes = GgmlRowBytes(to, row_elements);
  if (static_cast<int64_t>(src.size()) != src_row_bytes * n_rows) {
    return absl::InternalError(absl::StrCat("tensor '", std::string(tensor), "': ", src.size(),
                                            " source bytes, expected ", src_row_bytes * n_rows));
  }
  out->resize(static_cast<size_t>(dst_row_bytes * n_rows));
  if (from == to) {
    if (!src.empty()) std::memcpy(out->data(), src.data(), src.size());
    return absl::OkStatus();
  }
  if (!GgmlInfo(from).dequantizable) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", std::string(tensor),
                                                   "': cannot decode type ", GgmlTypeName(from)));
  }
  if (!GgmlInfo(to).quantizable) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", std::string(tensor), "': cannot encode type ", GgmlTypeName(to)));
  }
  const int64_t rows_per_slice =
      std::max<int64_t>(1, kSliceElements / std::max<int64_t>(1, row_elements));
  std::vector<float> scratch;
  for (int64_t row = 0; row < n_rows; row += rows_per_slice) {
    const int64_t rows = std::min(rows_per_slice, n_rows - row);
    scratch.resize(static_cast<size_t>(rows * row_elements));
    const uint8_t* s = src.data() + row * src_row_bytes;
    uint8_t* d = out->data() + row * dst_row_bytes;
    if (to == GgmlType::kF32) {
      // Straight into the output: no second pass through the scratch buffer.
      if (!DequantizeTensor(from, s, d, FloatFormat::kF32, rows, row_elements, threads)) {
        return absl::InternalError(
            absl::StrCat("tensor '", std::string(tensor), "': decoding failed"));
      }
      continue;
    }
    if (!DequantizeTensor(from, s, scratch.data(), FloatFormat::kF32, rows, row_elements,
                          threads) ||
        !QuantizeTensor(to, scratch.data(), d, rows, row_elements, threads)) {
      return absl::InternalError(absl::StrCat("tensor '", std::string(tensor), "': conversion ",
                                              GgmlTypeName(from), " -> ", GgmlTypeName(to),
                                              " failed"));
    }
    if (overflowed != nullptr && to == GgmlType::kF16) {
      // The smallest magnitude that rounds to inf: halfway between 65504 and the next step.
      constexpr float kF16Overflow = 65520.0f;
      *overflowed += std::count_if(scratch.begin(), scratch.end(), [](float x) {
        return std::isfinite(x) && std::fabs(x) >= kF16Overflow;
      });
    }
  }
  return absl::OkStatus();
}

}  // namespace ovid::tools
