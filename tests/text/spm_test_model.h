// File: tests/text/spm_test_model.h
// A small SentencePiece unigram model trained in memory for the C++ tests, set up like umt5's
// (<pad>=0, </s>=1, <s>=2, <unk>=3, nmt_nfkc, full character coverage). Its own file because
// Debian 12's SentencePiece headers declare `namespace absl { using std::string_view; }`, which
// collides with Debian's abseil, so they cannot share a file with abseil.
#pragma once

#include <string>

namespace ovid::text::testing {

// The serialized model, or "" with *error set. eos_id -1 trains a model without </s>.
std::string TrainTinyModel(int eos_id, std::string* error);

// The same corpus and special ids (<pad>=0, <s>=2, <unk>=3), trained with `flags` added to the
// shared ones: flags must give --vocab_size, --eos_id and the normalization
// (--normalization_rule_name=... or --normalization_rule_tsv=...), and may set anything else of
// the trainer's (byte_fallback, user-defined symbols, ...). The fuzz seed maker varies them.
std::string TrainTinyModelWithFlags(const std::string& flags, std::string* error);

}  // namespace ovid::text::testing
