// File: engine/pipeline/text_stage.h
// The "text_encode" stage: the job's text inputs as [tokens, text_dim] contexts. Embeddings given
// in the request are used as they are; prompts (the user's, with the checkpoint's audio-tag
// style, and the negatives, Ovi's defaults included) are cleaned, tokenized and run through UMT5
// in one batch, as Ovi's generate() step 1 runs [prompt, video_neg, audio_neg].
#pragma once

#include "absl/status/statusor.h"
#include "engine/pipeline/components.h"
#include "engine/pipeline/denoise_job.h"
#include "engine/pipeline/request_plan.h"

namespace ovid::pipeline {

// INVALID_ARGUMENT naming the field for a prompt that is not valid UTF-8.
absl::StatusOr<TextContexts> EncodeText(const JobPlan& plan, Components& components);

}  // namespace ovid::pipeline
