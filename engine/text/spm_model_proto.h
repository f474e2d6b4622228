// File: engine/text/spm_model_proto.h
// SentencePiece's ModelProto (a serialized `spiece.model`) read from the protobuf wire format
// directly. ovid does not link libsentencepiece at run time: its builtin protobuf-lite 3.14 clashes
// with gRPC's libprotobuf 3.21 in one process. Only the fields that encoding needs are kept; the
// field numbers are those of sentencepiece_model.proto:
//   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece   1 piece, 2 score (float), 3 type (enum, default NORMAL)
//   TrainerSpec     3 model_type, 24 treat_whitespace_as_suffix, 35 byte_fallback,
//                   45..48 unk/bos/eos/pad piece
//   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4
//                   remove_extra_whitespaces, 5 escape_whitespaces
// Everything else is skipped by wire type, as a protobuf parser keeps unknown fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ovid::text {

// SentencePiece::Type. Only NORMAL, USER_DEFINED (and UNUSED, skipped) are matched in text.
enum class SpmPieceType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct SpmPiece {
  std::string piece;
  float score = 0;
  SpmPieceType type = SpmPieceType::kNormal;
};

// NormalizerSpec, with the proto's defaults.
struct SpmNormalizerSpec {
  std::string name;
  std::string precompiled_charsmap;  // empty: no character rules (the "identity" normalizer)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// The TrainerSpec fields that change encoding, with the proto's defaults.
struct SpmTrainerSpec {
  int32_t model_type = 1;  // UNIGRAM; BPE=2, WORD=3, CHAR=4
  bool treat_whitespace_as_suffix = false;
  bool byte_fallback = false;
  std::string unk_piece = "<unk>";
  std::string bos_piece = "<s>";
  std::string eos_piece = "</s>";
  std::string pad_piece = "<pad>";
};

struct SpmModelProto {
  std::vector<SpmPiece> pieces;
  SpmTrainerSpec trainer;
  SpmNormalizerSpec normalizer;
};

// INVALID_ARGUMENT naming `origin` and the byte offset when the bytes are not well-formed
// protobuf (bad varint or wire type, a length past the end) or a piece has an unknown type.
// Semantic checks (a unigram model, an <unk> piece, ...) are the model's (sentencepiece_model.h).
absl::StatusOr<SpmModelProto> ParseSpmModelProto(std::string_view bytes, std::string_view origin);

}  // namespace ovid::text
