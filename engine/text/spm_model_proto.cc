// File: engine/text/spm_model_proto.cc
// A protobuf wire-format reader just big enough for ModelProto: varints, fixed32 (the score),
// length-delimited fields (strings, nested messages), and skipping of everything else.
#include "engine/text/spm_model_proto.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ovid::text {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads one message's bytes. `base` is the message's offset in the whole buffer, so errors name
// the absolute byte offset.
class WireReader {
 public:
  WireReader(std::string_view bytes, size_t base, std::string_view origin)
      : bytes_(bytes), base_(base), origin_(origin) {}

  bool done() const { return pos_ >= bytes_.size(); }
  size_t offset() const { return base_ + pos_; }

  absl::Status Error(std::string_view why) const { return ErrorAt(offset(), why); }
  absl::Status ErrorAt(size_t at, std::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin_),
                                                   ": malformed SentencePiece ModelProto at byte ",
                                                   at, ": ", std::string(why)));
  }

  absl::Status Varint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) return Error("varint runs past the end");
      const auto byte = static_cast<uint8_t>(bytes_[pos_++]);
      *value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return absl::OkStatus();
    }
    return Error("varint longer than 10 bytes");
  }

  // A field's tag: its number and wire type.
  absl::Status Tag(uint32_t* field, uint32_t* wire_type) {
    const size_t at = offset();
    uint64_t tag = 0;
    if (absl::Status s = Varint(&tag); !s.ok()) return s;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire_type = static_cast<uint32_t>(tag & 7);
    if (*field == 0 || (tag >> 3) > 0x1FFFFFFF) return ErrorAt(at, "field number 0 or too large");
    return absl::OkStatus();
  }

  // A length-delimited field's bytes and their absolute offset.
  absl::Status Bytes(std::string_view* out, size_t* at) {
    uint64_t length = 0;
    if (absl::Status s = Varint(&length); !s.ok()) return s;
    if (length > bytes_.size() - pos_) {
      return Error(absl::StrCat("length ", length, " runs past the end (", bytes_.size() - pos_,
                                " bytes left)"));
    }
    *at = offset();
    *out = bytes_.substr(pos_, length);
    pos_ += length;
    return absl::OkStatus();
  }

  absl::Status Fixed32(uint32_t* value) {
    if (bytes_.size() - pos_ < 4) return Error("fixed32 runs past the end");
    uint8_t b[4];
    std::memcpy(b, bytes_.data() + pos_, 4);
    *value = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    pos_ += 4;
    return absl::OkStatus();
  }

  // Skips a field this reader does not keep. Groups (wire types 3 and 4) are not in the schema.
  absl::Status Skip(uint32_t wire_type) {
    uint64_t ignored = 0;
    std::string_view bytes;
    size_t at = 0;
    switch (wire_type) {
      case kVarint:
        return Varint(&ignored);
      case kFixed64:
        if (bytes_.size() - pos_ < 8) return Error("fixed64 runs past the end");
        pos_ += 8;
        return absl::OkStatus();
      case kLengthDelimited:
        return Bytes(&bytes, &at);
      case kFixed32:
        if (bytes_.size() - pos_ < 4) return Error("fixed32 runs past the end");
        pos_ += 4;
        return absl::OkStatus();
      default:
        return Error(absl::StrCat("wire type ", wire_type, " is not valid here"));
    }
  }

  // Reads a field that must have `want` as its wire type, else an error naming it.
  absl::Status Expect(uint32_t wire_type, uint32_t want, std::string_view name) const {
    if (wire_type == want) return absl::OkStatus();
    return Error(absl::StrCat(std::string(name), " has wire type ", wire_type, ", not ", want));
  }

  std::string_view origin() const { return origin_; }

 private:
  std::string_view bytes_;
  size_t base_;
  std::string_view origin_;
  size_t pos_ = 0;
};

// Calls on_field(reader, field, wire_type) for each field of a message; it returns false for a
// field it did not read, which is then skipped.
template <typename OnField>
absl::Status ForEachField(WireReader& reader, OnField on_field) {
  while (!reader.done()) {
    uint32_t field = 0;
    uint32_t wire_type = 0;
    if (absl::Status s = reader.Tag(&field, &wire_type); !s.ok()) return s;
    bool read = false;
    if (absl::Status s = on_field(field, wire_type, &read); !s.ok()) return s;
    if (!read) {
      if (absl::Status s = reader.Skip(wire_type); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ReadString(WireReader& r, uint32_t wire_type, std::string_view name,
                        std::string* out) {
  if (absl::Status s = r.Expect(wire_type, kLengthDelimited, name); !s.ok()) return s;
  std::string_view bytes;
  size_t at = 0;
  if (absl::Status s = r.Bytes(&bytes, &at); !s.ok()) return s;
  out->assign(bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::Status ReadVarintField(WireReader& r, uint32_t wire_type, std::string_view name,
                             uint64_t* out) {
  if (absl::Status s = r.Expect(wire_type, kVarint, name); !s.ok()) return s;
  return r.Varint(out);
}

absl::Status ReadBool(WireReader& r, uint32_t wire_type, std::string_view name, bool* out) {
  uint64_t v = 0;
  if (absl::Status s = ReadVarintField(r, wire_type, name, &v); !s.ok()) return s;
  *out = v != 0;
  return absl::OkStatus();
}

// A nested message's reader (its bytes, with their absolute offset).
absl::StatusOr<WireReader> Nested(WireReader& r, uint32_t wire_type, std::string_view name) {
  if (absl::Status s = r.Expect(wire_type, kLengthDelimited, name); !s.ok()) return s;
  std::string_view bytes;
  size_t at = 0;
  if (absl::Status s = r.Bytes(&bytes, &at); !s.ok()) return s;
  return WireReader(bytes, at, r.origin());
}

absl::Status ReadPiece(WireReader& r, SpmPiece* piece) {
  return ForEachField(r, [&](uint32_t field, uint32_t wire_type, bool* read) -> absl::Status {
    *read = true;
    switch (field) {
      case 1:
        return ReadString(r, wire_type, "SentencePiece.piece", &piece->piece);
      case 2: {
        if (absl::Status s = r.Expect(wire_type, kFixed32, "SentencePiece.score"); !s.ok()) {
          return s;
        }
        uint32_t bits = 0;
        if (absl::Status s = r.Fixed32(&bits); !s.ok()) return s;
        std::memcpy(&piece->score, &bits, sizeof(bits));
        return absl::OkStatus();
      }
      case 3: {
        const size_t at = r.offset();
        uint64_t type = 0;
        if (absl::Status s = ReadVarintField(r, wire_type, "SentencePiece.type", &type); !s.ok()) {
          return s;
        }
        if (type < 1 || type > 6) {
          return r.ErrorAt(at, absl::StrCat("piece type ", type, " is not one of 1..6"));
        }
        piece->type = static_cast<SpmPieceType>(type);
        return absl::OkStatus();
      }
      default:
        *read = false;
        return absl::OkStatus();
    }
  });
}

absl::Status ReadTrainerSpec(WireReader& r, SpmTrainerSpec* spec) {
  return ForEachField(r, [&](uint32_t field, uint32_t wire_type, bool* read) -> absl::Status {
    *read = true;
    uint64_t v = 0;
    switch (field) {
      case 3:
        if (absl::Status s = ReadVarintField(r, wire_type, "TrainerSpec.model_type", &v); !s.ok()) {
          return s;
        }
        spec->model_type = static_cast<int32_t>(v);
        return absl::OkStatus();
      case 24:
        return ReadBool(r, wire_type, "TrainerSpec.treat_whitespace_as_suffix",
                        &spec->treat_whitespace_as_suffix);
      case 35:
        return ReadBool(r, wire_type, "TrainerSpec.byte_fallback", &spec->byte_fallback);
      case 45:
        return ReadString(r, wire_type, "TrainerSpec.unk_piece", &spec->unk_piece);
      case 46:
        return ReadString(r, wire_type, "TrainerSpec.bos_piece", &spec->bos_piece);
      case 47:
        return ReadString(r, wire_type, "TrainerSpec.eos_piece", &spec->eos_piece);
      case 48:
        return ReadString(r, wire_type, "TrainerSpec.pad_piece", &spec->pad_piece);
      default:
        *read = false;
        return absl::OkStatus();
    }
  });
}

absl::Status ReadNormalizerSpec(WireReader& r, SpmNormalizerSpec* spec) {
  return ForEachField(r, [&](uint32_t field, uint32_t wire_type, bool* read) -> absl::Status {
    *read = true;
    switch (field) {
      case 1:
        return ReadString(r, wire_type, "NormalizerSpec.name", &spec->name);
      case 2:
        return ReadString(r, wire_type, "NormalizerSpec.precompiled_charsmap",
                          &spec->precompiled_charsmap);
      case 3:
        return ReadBool(r, wire_type, "NormalizerSpec.add_dummy_prefix", &spec->add_dummy_prefix);
      case 4:
        return ReadBool(r, wire_type, "NormalizerSpec.remove_extra_whitespaces",
                        &spec->remove_extra_whitespaces);
      case 5:
        return ReadBool(r, wire_type, "NormalizerSpec.escape_whitespaces",
                        &spec->escape_whitespaces);
      default:
        *read = false;
        return absl::OkStatus();
    }
  });
}

}  // namespace

absl::StatusOr<SpmModelProto> ParseSpmModelProto(std::string_view bytes, std::string_view origin) {
  SpmModelProto model;
  WireReader r(bytes, 0, origin);
  // A sub-message that occurs twice is merged into one, as protobuf does.
  absl::Status status =
      ForEachField(r, [&](uint32_t field, uint32_t wire_type, bool* read) -> absl::Status {
        *read = field == 1 || field == 2 || field == 3;
        if (!*read) return absl::OkStatus();
        static constexpr const char* kNames[] = {"", "ModelProto.pieces", "ModelProto.trainer_spec",
                                                 "ModelProto.normalizer_spec"};
        absl::StatusOr<WireReader> nested = Nested(r, wire_type, kNames[field]);
        if (!nested.ok()) return nested.status();
        if (field == 1) {
          model.pieces.emplace_back();
          return ReadPiece(*nested, &model.pieces.back());
        }
        if (field == 2) return ReadTrainerSpec(*nested, &model.trainer);
        return ReadNormalizerSpec(*nested, &model.normalizer);
      });
  if (!status.ok()) return status;
  return model;
}

}  // namespace ovid::text
