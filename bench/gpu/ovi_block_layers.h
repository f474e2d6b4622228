// File: bench/gpu/ovi_block_layers.h
// The linear layers of one Ovi fusion block, for the "goal" sums of ovid-bench-gpu: which weight
// shape each layer has, which ggml type a Q4_K_M file gives it, and how many tokens it sees.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ggml_types.h"

namespace ovid::bench {

struct BlockLayer {
  std::string name;
  int64_t out, in;  // weight [out, in]
  GgmlType type;    // under Q4_K_M
  int64_t tokens;   // rows of x
  // Text cross-attention k/v: OviModel::PrepareContext projects the text once per request and
  // every denoising step reuses the result, so a step runs the block's other 10 layers.
  bool once_per_request = false;
};

// One block of a tower that runs `self_tokens` tokens while the other tower runs
// `other_tokens`, with `text_tokens` of T5 context. Q4_K_M (tools/ovid_gguf/quant_rules.h)
// keeps `.v.weight` (self and text cross-attention) and `.ffn.2.weight` at Q6_K; everything
// else, the fusion projections included, is Q4_K. The text cross-attention's k/v project the
// text; k_fusion/v_fusion project the other tower's tokens.
inline std::vector<BlockLayer> OviBlockLayers(int64_t self_tokens, int64_t other_tokens,
                                              int64_t text_tokens) {
  const GgmlType q4 = GgmlType::kQ4_K, q6 = GgmlType::kQ6_K;
  return {
      {"self_attn.q", 3072, 3072, q4, self_tokens},
      {"self_attn.k", 3072, 3072, q4, self_tokens},
      {"self_attn.v", 3072, 3072, q6, self_tokens},
      {"self_attn.o", 3072, 3072, q4, self_tokens},
      {"cross_attn.q", 3072, 3072, q4, self_tokens},
      {"cross_attn.k", 3072, 3072, q4, text_tokens, true},
      {"cross_attn.v", 3072, 3072, q6, text_tokens, true},
      {"cross_attn.o", 3072, 3072, q4, self_tokens},
      {"cross_attn.k_fusion", 3072, 3072, q4, other_tokens},
      {"cross_attn.v_fusion", 3072, 3072, q4, other_tokens},
      {"ffn.0", 14336, 3072, q4, self_tokens},
      {"ffn.2", 3072, 14336, q6, self_tokens},
  };
}

}  // namespace ovid::bench
