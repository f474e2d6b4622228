// File: engine/models/umt5/umt5_weights.cc
#include "engine/models/umt5/umt5_weights.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"

namespace ovid::umt5 {
namespace {

// Canonical name -> the file's name, shape from the spec.
class Binder {
 public:
  Binder(const WeightStore& store, const Umt5FileSpec& spec) : store_(store) {
    for (const Umt5Tensor& t : spec.tensors) by_canonical_.emplace(t.canonical, &t);
  }

  absl::StatusOr<const Umt5Tensor*> Find(const std::string& canonical) const {
    auto it = by_canonical_.find(canonical);
    if (it == by_canonical_.end()) {
      return absl::InternalError(
          absl::StrCat(store_.file().path(), ": the UMT5 spec has no '", canonical, "'"));
    }
    return it->second;
  }
  absl::StatusOr<at::Tensor> Plain(const std::string& canonical) const {
    OVID_ASSIGN_OR_RETURN(const Umt5Tensor* t, Find(canonical));
    return store_.Tensor(t->names[0], t->shape);
  }
  absl::StatusOr<QuantizedLinear> Linear(const std::string& canonical) const {
    OVID_ASSIGN_OR_RETURN(const Umt5Tensor* t, Find(canonical));
    return store_.Linear(t->names[0], "", t->shape[0], t->shape[1]);
  }

 private:
  const WeightStore& store_;
  std::map<std::string, const Umt5Tensor*> by_canonical_;
};

}  // namespace

absl::StatusOr<Umt5Weights> BindUmt5Weights(const WeightStore& store, const Umt5FileSpec& spec) {
  const Binder bind(store, spec);
  Umt5Weights w;
  OVID_ASSIGN_OR_RETURN(const Umt5Tensor* emb, bind.Find("token_embedding"));
  OVID_ASSIGN_OR_RETURN(w.embedding,
                        TokenEmbedding::Bind(store, emb->names[0], emb->shape[0], emb->shape[1]));
  OVID_ASSIGN_OR_RETURN(w.final_norm, bind.Plain("final_norm"));
  w.blocks.resize(spec.config.layers);
  for (int i = 0; i < spec.config.layers; ++i) {
    const std::string p = absl::StrCat("blocks.", i, ".");
    Umt5BlockWeights& b = w.blocks[i];
    OVID_ASSIGN_OR_RETURN(b.norm1, bind.Plain(p + "norm1"));
    OVID_ASSIGN_OR_RETURN(b.rel_bias, bind.Plain(p + "rel_bias"));
    OVID_ASSIGN_OR_RETURN(b.q, bind.Linear(p + "attn.q"));
    OVID_ASSIGN_OR_RETURN(b.k, bind.Linear(p + "attn.k"));
    OVID_ASSIGN_OR_RETURN(b.v, bind.Linear(p + "attn.v"));
    OVID_ASSIGN_OR_RETURN(b.o, bind.Linear(p + "attn.o"));
    OVID_ASSIGN_OR_RETURN(b.norm2, bind.Plain(p + "norm2"));
    OVID_ASSIGN_OR_RETURN(b.gate, bind.Linear(p + "ffn.gate"));
    OVID_ASSIGN_OR_RETURN(b.up, bind.Linear(p + "ffn.up"));
    OVID_ASSIGN_OR_RETURN(b.down, bind.Linear(p + "ffn.down"));
  }
  return w;
}

}  // namespace ovid::umt5
