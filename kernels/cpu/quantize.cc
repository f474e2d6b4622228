// File: kernels/cpu/quantize.cc
// Dispatch from GgmlType to the block quantizers, the plain float conversions, and the threaded
// whole-tensor entry point.
#include "kernels/cpu/quantize.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/float_convert.h"
#include "kernels/cpu/work_shares.h"

namespace ovid {
namespace {

using BlockEncoder = void (*)(const float* src, void* dst, int64_t n_blocks);

void QuantizeF32(const float* src, void* dst, int64_t n) {
  memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void QuantizeF16(const float* src, void* dst, int64_t n) {
  FloatsToHalves(src, static_cast<uint16_t*>(dst), n);
}
void QuantizeBF16(const float* src, void* dst, int64_t n) {
  FloatsToBf16s(src, static_cast<uint16_t*>(dst), n);
}

// nullptr for every type ovid cannot produce.
BlockEncoder EncoderFor(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return QuantizeF32;
    case GgmlType::kF16:
      return QuantizeF16;
    case GgmlType::kBF16:
      return QuantizeBF16;
    case GgmlType::kQ4_0:
      return QuantizeQ4_0;
    case GgmlType::kQ4_1:
      return QuantizeQ4_1;
    case GgmlType::kQ5_0:
      return QuantizeQ5_0;
    case GgmlType::kQ5_1:
      return QuantizeQ5_1;
    case GgmlType::kQ8_0:
      return QuantizeQ8_0;
    case GgmlType::kQ2_K:
      return QuantizeQ2_K;
    case GgmlType::kQ3_K:
      return QuantizeQ3_K;
    case GgmlType::kQ4_K:
      return QuantizeQ4_K;
    case GgmlType::kQ5_K:
      return QuantizeQ5_K;
    case GgmlType::kQ6_K:
      return QuantizeQ6_K;
    default:
      return nullptr;
  }
}

// K-quant fitting costs ~1 us per block, so small tensors are not worth a thread.
constexpr int64_t kMinElementsPerThread = 1 << 15;

}  // namespace

bool QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n_elements) {
  const BlockEncoder encode = EncoderFor(type);
  const GgmlTypeInfo& info = GgmlInfo(type);
  if (encode == nullptr || n_elements < 0 || n_elements % info.block_size != 0) return false;
  encode(src, dst, n_elements / info.block_size);
  return true;
}

bool QuantizeTensor(GgmlType type, const float* src, void* dst, int64_t n_rows,
                    int64_t row_elements, int threads) {
  const BlockEncoder encode = EncoderFor(type);
  const GgmlTypeInfo& info = GgmlInfo(type);
  if (encode == nullptr || n_rows < 0 || row_elements < 0 || row_elements % info.block_size != 0) {
    return false;
  }
  // Blocks are independent and rows contiguous, so split the whole run of blocks.
  const int64_t n_blocks = n_rows * (row_elements / info.block_size);
  const int64_t n_threads =
      UsefulThreads(n_blocks * info.block_size, kMinElementsPerThread, threads);
  auto* out = static_cast<uint8_t*>(dst);
  RunInShares(n_blocks, n_threads, [&](int64_t first, int64_t last) {
    encode(src + first * info.block_size, out + first * info.type_size, last - first);
  });
  return true;
}

}  // namespace ovid
