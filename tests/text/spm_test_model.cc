// File: tests/text/spm_test_model.cc
// Includes SentencePiece's trainer and nothing of abseil (see the header).
#include "tests/text/spm_test_model.h"

#include <sentencepiece_trainer.h>

#include <vector>

namespace ovid::text::testing {
namespace {

// Sentences covering the tests' prompts: English words, the tags, accents, CJK and an emoji,
// so those become pieces rather than <unk>.
class Corpus : public sentencepiece::SentenceIterator {
 public:
  Corpus() {
    const std::vector<std::string> base = {
        "A dog runs across the park while the sun sets.",
        "<S>Hello there, how are you?<E> Audio: birds sing and wind blows.",
        "<AUDCAP>rain falls on a tin roof<ENDAUDCAP> a man speaks slowly",
        "Café au lait, crème brûlée, naïve façade, señor.",
        "東京の夜景 城市 夜晚 音乐 😀 🎵",
        "The cat sat on the mat and looked at the quiet street.",
    };
    for (int i = 0; i < 40; ++i) {
      for (const std::string& s : base) lines_.push_back(s + " " + std::to_string(i));
    }
  }
  bool done() const override { return index_ >= lines_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return lines_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> lines_;
  size_t index_ = 0;
};

}  // namespace

std::string TrainTinyModel(int eos_id, std::string* error) {
  return TrainTinyModelWithFlags(
      "--vocab_size=100 --normalization_rule_name=nmt_nfkc --eos_id=" + std::to_string(eos_id),
      error);
}

std::string TrainTinyModelWithFlags(const std::string& flags, std::string* error) {
  Corpus corpus;
  std::string model;
  // Each flag once: the caller's flags are not repeated here, so none has to override another.
  const std::string shared =
      "--model_type=unigram --character_coverage=1.0 --pad_id=0 --bos_id=2 --unk_id=3 "
      "--minloglevel=2 --num_threads=1 ";
  const std::string args = shared + flags;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &corpus, &model);
  if (!status.ok()) {
    *error = status.ToString();
    return "";
  }
  return model;
}

}  // namespace ovid::text::testing
