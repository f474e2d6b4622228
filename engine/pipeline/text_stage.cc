// File: engine/pipeline/text_stage.cc
#include "engine/pipeline/text_stage.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/umt5/umt5_encoder.h"
#include "engine/ops/torch_status.h"
#include "engine/text/prompt_tokens.h"

namespace ovid::pipeline {
namespace {

absl::StatusOr<std::vector<int64_t>> Tokens(const TextInput& in, const char* field,
                                            const Components& c) {
  absl::StatusOr<text::TokenizedText> t =
      in.positive_prompt ? text::TokenizePrompt(*c.tokenizer, *in.prompt, c.tag_style)
                         : text::TokenizeNegativePrompt(*c.tokenizer, *in.prompt);
  if (!t.ok()) {
    return absl::Status(t.status().code(), absl::StrCat(field, ".prompt: ", t.status().message()));
  }
  return std::vector<int64_t>(t->ids.begin(), t->ids.end());
}

}  // namespace

absl::StatusOr<TextContexts> EncodeText(const JobPlan& plan, Components& components) {
  const TextInput* inputs[] = {&plan.positive, &plan.video_negative, &plan.audio_negative};
  const char* fields[] = {"conditioning", "video_negative", "audio_negative"};
  at::Tensor* outputs[3];
  TextContexts contexts;
  outputs[0] = &contexts.positive;
  outputs[1] = &contexts.video_negative;
  outputs[2] = &contexts.audio_negative;

  // Prompts go to the encoder as one batch; identical token lists (a negative equal to the
  // positive, say) are encoded once.
  std::vector<std::vector<int64_t>> batch;
  int slot[3] = {-1, -1, -1};
  for (int i = 0; i < 3; ++i) {
    const TextInput& in = *inputs[i];
    if (in.embedding != nullptr) {
      OVID_ASSIGN_OR_RETURN(*outputs[i], ops::GuardTorch("text context", [&] {
                              return EmbeddingTensor(*in.embedding);
                            }));
      continue;
    }
    if (!in.prompt.has_value()) continue;
    OVID_ASSIGN_OR_RETURN(std::vector<int64_t> ids, Tokens(in, fields[i], components));
    for (size_t j = 0; j < batch.size(); ++j) {
      if (batch[j] == ids) slot[i] = static_cast<int>(j);
    }
    if (slot[i] < 0) {
      slot[i] = static_cast<int>(batch.size());
      batch.push_back(std::move(ids));
    }
  }
  if (batch.empty()) return contexts;

  OVID_ASSIGN_OR_RETURN(std::shared_ptr<umt5::Umt5Encoder> encoder,
                        components.text_encoder.Acquire());
  OVID_ASSIGN_OR_RETURN(std::vector<at::Tensor> encoded, encoder->Encode(batch));
  for (int i = 0; i < 3; ++i) {
    if (slot[i] >= 0) *outputs[i] = encoded[static_cast<size_t>(slot[i])];
  }
  return contexts;
}

}  // namespace ovid::pipeline
