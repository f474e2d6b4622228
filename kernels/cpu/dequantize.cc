// File: kernels/cpu/dequantize.cc
// Dispatch from GgmlType to the block decoders, the f16/bf16 output rounding, and the threaded
// whole-tensor and selected-row entry points.
#include "kernels/cpu/dequantize.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/float_convert.h"
#include "kernels/cpu/work_shares.h"
#include "kernels/fp16.h"

namespace ovid {
namespace {

using BlockDecoder = void (*)(const void* src, float* dst, int64_t n_blocks);

void DequantizeF32(const void* src, float* dst, int64_t n_blocks) {
  if (n_blocks == 0) return;  // src/dst may be null for an empty tensor
  memcpy(dst, src, static_cast<size_t>(n_blocks) * sizeof(float));
}

// nullptr for every type ovid cannot expand.
BlockDecoder DecoderFor(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return DequantizeF32;
    case GgmlType::kF16:
      return DequantizeF16;
    case GgmlType::kBF16:
      return DequantizeBF16;
    case GgmlType::kQ4_0:
      return DequantizeQ4_0;
    case GgmlType::kQ4_1:
      return DequantizeQ4_1;
    case GgmlType::kQ5_0:
      return DequantizeQ5_0;
    case GgmlType::kQ5_1:
      return DequantizeQ5_1;
    case GgmlType::kQ8_0:
      return DequantizeQ8_0;
    case GgmlType::kQ2_K:
      return DequantizeQ2_K;
    case GgmlType::kQ3_K:
      return DequantizeQ3_K;
    case GgmlType::kQ4_K:
      return DequantizeQ4_K;
    case GgmlType::kQ5_K:
      return DequantizeQ5_K;
    case GgmlType::kQ6_K:
      return DequantizeQ6_K;
    default:
      return nullptr;
  }
}

// f16/bf16 output goes through an fp32 staging buffer that stays in L1: the fp32 value is the
// ggml result, and rounding it once (RNE) is what ggml-cuda's to_fp16/to_bf16 produce.
constexpr int64_t kStageFloats = 4096;

void DecodeBlocks(BlockDecoder decode, int64_t block_size, int64_t type_size, const uint8_t* src,
                  void* dst, FloatFormat out, int64_t n_blocks) {
  if (out == FloatFormat::kF32) {
    decode(src, static_cast<float*>(dst), n_blocks);
    return;
  }
  float stage[kStageFloats];
  const int64_t blocks_per_stage = kStageFloats / block_size;
  auto* out16 = static_cast<uint16_t*>(dst);
  for (int64_t b = 0; b < n_blocks; b += blocks_per_stage) {
    const int64_t nb = std::min(blocks_per_stage, n_blocks - b);
    decode(src + b * type_size, stage, nb);
    const int64_t n = nb * block_size;
    if (out == FloatFormat::kF16) {
      FloatsToHalves(stage, out16, n);
    } else {
      FloatsToBf16s(stage, out16, n);
    }
    out16 += n;
  }
}

// Below this many elements per thread, starting a thread costs more than it saves.
constexpr int64_t kMinElementsPerThread = 1 << 16;

}  // namespace

const char* FloatFormatName(FloatFormat f) {
  switch (f) {
    case FloatFormat::kF32:
      return "f32";
    case FloatFormat::kF16:
      return "f16";
    case FloatFormat::kBF16:
      return "bf16";
  }
  return "(unknown float format)";
}

bool DequantizeRow(GgmlType type, const void* src, void* dst, FloatFormat out, int64_t n_elements) {
  const BlockDecoder decode = DecoderFor(type);
  const GgmlTypeInfo& info = GgmlInfo(type);
  if (decode == nullptr || n_elements < 0 || n_elements % info.block_size != 0) return false;
  DecodeBlocks(decode, info.block_size, info.type_size, static_cast<const uint8_t*>(src), dst, out,
               n_elements / info.block_size);
  return true;
}

bool DequantizeTensor(GgmlType type, const void* src, void* dst, FloatFormat out, int64_t n_rows,
                      int64_t row_elements, int threads) {
  const BlockDecoder decode = DecoderFor(type);
  const GgmlTypeInfo& info = GgmlInfo(type);
  if (decode == nullptr || n_rows < 0 || row_elements < 0 || row_elements % info.block_size != 0) {
    return false;
  }
  // Rows are contiguous, so the tensor is one run of blocks: split it into block ranges. This
  // is a split by rows when there are many rows, and still parallel for a single huge row.
  const int64_t n_blocks = n_rows * (row_elements / info.block_size);
  const int64_t n_elements = n_blocks * info.block_size;
  const int64_t n_threads = UsefulThreads(n_elements, kMinElementsPerThread, threads);
  const auto* in = static_cast<const uint8_t*>(src);
  auto* out_bytes = static_cast<uint8_t*>(dst);
  const int64_t out_block_bytes = info.block_size * FloatFormatBytes(out);
  RunInShares(n_blocks, n_threads, [&](int64_t first, int64_t last) {
    DecodeBlocks(decode, info.block_size, info.type_size, in + first * info.type_size,
                 out_bytes + first * out_block_bytes, out, last - first);
  });
  return true;
}

bool DequantizeRows(GgmlType type, const void* src, int64_t n_rows, int64_t row_elements,
                    const int64_t* row_ids, int64_t n_ids, void* dst, FloatFormat out) {
  const BlockDecoder decode = DecoderFor(type);
  const GgmlTypeInfo& info = GgmlInfo(type);
  if (decode == nullptr || n_rows < 0 || row_elements < 0 || n_ids < 0 ||
      row_elements % info.block_size != 0) {
    return false;
  }
  for (int64_t i = 0; i < n_ids; ++i) {
    if (row_ids[i] < 0 || row_ids[i] >= n_rows) return false;  // checked before any write
  }
  const int64_t blocks_per_row = row_elements / info.block_size;
  const int64_t in_row_bytes = blocks_per_row * info.type_size;
  const int64_t out_row_bytes = row_elements * FloatFormatBytes(out);
  const auto* in = static_cast<const uint8_t*>(src);
  auto* out_bytes = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n_ids; ++i) {
    DecodeBlocks(decode, info.block_size, info.type_size, in + row_ids[i] * in_row_bytes,
                 out_bytes + i * out_row_bytes, out, blocks_per_row);
  }
  return true;
}

}  // namespace ovid
