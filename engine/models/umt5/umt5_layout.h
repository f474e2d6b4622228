// File: engine/models/umt5/umt5_layout.h
// What a file holds: which key layout (detected from the tensor names), which configuration
// (inferred from the shapes), and whether the tensor set is complete. Every problem of a file
// is reported in ONE error that names the file and each missing, unexpected and misshaped
// tensor, so a user fixes a conversion in one go. No LibTorch: std + absl + engine/gguf.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/models/umt5/umt5_config.h"
#include "engine/models/umt5/umt5_keys.h"

namespace ovid::umt5 {

struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;  // torch order
};

// The layout most of `tensors`' names belong to. INVALID_ARGUMENT naming `source`, a few of its
// names and the known layouts when none of them matches.
absl::StatusOr<Umt5Layout> DetectUmt5Layout(const std::vector<NamedShape>& tensors,
                                            std::string_view source);

// The shape-visible configuration (vocab, d_model, layers, heads, d_kv, d_ff, buckets) from the
// token embedding, block 0's q, relative bias and FFN gate, and the highest block index.
// max_distance and eps come from `defaults`. INVALID_ARGUMENT naming the tensor it needed.
absl::StatusOr<Umt5Config> InferUmt5Config(const std::vector<NamedShape>& tensors,
                                           Umt5Layout layout, std::string_view source,
                                           const Umt5Config& defaults = {});

// `actual` against `expected` (BuildUmt5Layout): OK, or one INVALID_ARGUMENT starting with
// `source` that lists every missing, unexpected and misshaped tensor (with both shapes).
absl::Status CheckUmt5Tensors(const std::vector<Umt5Tensor>& expected,
                              const std::vector<NamedShape>& actual, std::string_view source,
                              Umt5Layout layout);

struct Umt5FileSpec {
  Umt5Layout layout = Umt5Layout::kGguf;
  Umt5Config config;
  // The layout for `config` with names[0] set to the name the file uses (an alias if that is
  // what it has).
  std::vector<Umt5Tensor> tensors;
};

// Detect + infer + check over a tensor list. Sizes no tensor shows keep their `defaults`
// value for the check, so the one error still lists every missing, unexpected and misshaped
// tensor.
absl::StatusOr<Umt5FileSpec> ReadUmt5Spec(const std::vector<NamedShape>& tensors,
                                          std::string_view source, const Umt5Config& defaults = {});

// Detect + infer over a tensor list, then the layout for that config WITHOUT checking the set
// (ovid-gguf keys compares it itself, to list the problems one by one). Sizes no tensor shows
// keep their `defaults` value; INVALID_ARGUMENT when no layout matches or the shapes do not
// give a buildable config.
absl::StatusOr<Umt5FileSpec> ExpectUmt5Tensors(const std::vector<NamedShape>& tensors,
                                               std::string_view source,
                                               const Umt5Config& defaults = {});

// The same for a GGUF file; eps from "<general.architecture>.attention.layer_norm_rms_epsilon"
// and max_distance from "umt5.relative_attention_max_distance" when present.
absl::StatusOr<Umt5FileSpec> ReadUmt5Spec(const gguf::GgufFile& file);

std::string Umt5ShapeString(const std::vector<int64_t>& shape);  // "[4096, 10240]"

}  // namespace ovid::umt5
