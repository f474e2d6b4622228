// File: engine/pipeline/gguf_tokenizer.h
// The UMT5 tokenizer a GGUF text encoder carries in its metadata (llama.cpp's t5 converter, as in
// city96's umt5-xxl-encoder files; spec encoders.md §7): tokenizer.ggml.model "t5" with the
// tokens, scores and token types as arrays, the whitespace flags, eos/padding ids and, when the
// converter had one, the precompiled normalization rules. Used when no --tokenizer file is given.
// Torch-free.
#pragma once

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/text/tokenizer.h"

namespace ovid::pipeline {

// NOT_FOUND when the file has no tokenizer.ggml.tokens; INVALID_ARGUMENT naming the key for a
// tokenizer that is not a SentencePiece unigram ("t5") or arrays of the wrong type or length.
absl::StatusOr<text::TokenizerVocabulary> ReadGgufTokenizer(const gguf::GgufFile& file);

}  // namespace ovid::pipeline
