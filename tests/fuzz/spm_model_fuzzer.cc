// libFuzzer target for reading a SentencePiece model file (engine/text: spm_model_proto.cc's
// protobuf wire reader, SentencePieceModel's checks, the charsmap trie check, the piece trie):
// any bytes must load or fail with INVALID_ARGUMENT, never crash, leak, hit undefined behaviour
// or read outside the buffer (ASan + UBSan). A model that loads then encodes a few texts that
// reach every normalizer and segmentation path (spaces, accents, NFKC-sensitive forms, CJK,
// emoji, U+2581, control characters, the audio tags), as a damaged but accepted model would on
// the server, and its ids must stay inside its vocabulary.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/text/spm_model_proto.h"
#include "engine/text/tokenizer.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr std::string_view kTexts[] = {
    "",
    "  A dog  runs\tacross the park.  ",
    "<S>Hello there<E> <AUDCAP>rain on a tin roof<ENDAUDCAP> Audio: birds",
    "Caf\u00e9 cre\u0300me \uff21\uff22\uff43 \ufb01 \u2460 \u00bd x\u00b2",
    "\u6771\u4eac\u306e\u591c\u666f \U0001F600\U0001F3B5 \u2581\u2581x\u2581",
    "\x01\x1f\x7f \u00a0\u3000\u200b\u00ad end",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The wire reader on its own (what a GGUF-embedded or other container's model would go
  // through), then the whole load with the model's semantic checks.
  const auto proto = ovid::text::ParseSpmModelProto(bytes, "fuzz.model");
  if (!proto.ok()) Check(proto.status().code() == absl::StatusCode::kInvalidArgument);
  auto tokenizer = ovid::text::Tokenizer::FromSerialized(bytes, "fuzz.model", /*max_length=*/64);
  if (!tokenizer.ok()) {
    Check(tokenizer.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  Check(proto.ok());  // the loader parses the same bytes
  for (const std::string_view text : kTexts) {
    const auto ids = tokenizer->Encode(text);
    Check(ids.ok() && !ids->ids.empty() && ids->ids.back() == tokenizer->eos_id());
    for (const int32_t id : ids->ids) Check(id >= 0 && id < tokenizer->vocab_size());
  }
  return 0;
}
