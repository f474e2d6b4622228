// File: engine/text/sentencepiece_model.cc
#include "engine/text/sentencepiece_model.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::text {

absl::StatusOr<std::unique_ptr<SentencePieceModel>> SentencePieceModel::Load(
    std::string_view serialized, std::string_view origin) {
  absl::StatusOr<SpmModelProto> proto = ParseSpmModelProto(serialized, origin);
  if (!proto.ok()) return proto.status();
  return FromProto(std::move(*proto), origin);
}

absl::StatusOr<std::unique_ptr<SentencePieceModel>> SentencePieceModel::FromProto(
    SpmModelProto proto, std::string_view origin) {
  if (proto.trainer.model_type != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(origin), ": model_type ", proto.trainer.model_type,
                     " is not UNIGRAM (1); only unigram models (as umt5's) are implemented"));
  }
  if (proto.pieces.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": no pieces"));
  }
  const SpmTrainerSpec& trainer = proto.trainer;
  absl::StatusOr<SpmUnigram> unigram =
      SpmUnigram::Create(std::move(proto.pieces), trainer.byte_fallback, origin);
  if (!unigram.ok()) return unigram.status();
  absl::StatusOr<SpmNormalizer> normalizer = SpmNormalizer::Create(
      proto.normalizer, trainer.treat_whitespace_as_suffix, unigram->UserDefinedSymbols(), origin);
  if (!normalizer.ok()) return normalizer.status();
  std::unique_ptr<SentencePieceModel> model(
      new SentencePieceModel(std::move(*normalizer), std::move(*unigram)));
  auto control_id = [&model](const std::string& piece) {
    const int id = model->unigram_.Find(piece);
    return id >= 0 && model->unigram_.pieces()[id].type == SpmPieceType::kControl ? id : -1;
  };
  model->eos_id_ = control_id(trainer.eos_piece);
  model->pad_id_ = control_id(trainer.pad_piece);
  model->bos_id_ = control_id(trainer.bos_piece);
  return model;
}

std::vector<int> SentencePieceModel::Encode(std::string_view text) const {
  std::vector<int> ids;
  unigram_.Encode(normalizer_.Normalize(text), &ids);
  return ids;
}

}  // namespace ovid::text
