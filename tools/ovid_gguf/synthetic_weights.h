// File: tools/ovid_gguf/synthetic_weights.h
// Deterministic random weights for `synth`: counter-based (a hash of seed, tensor name and
// element index), so any split of a tensor across threads gives the same values and a tensor's
// values do not depend on which other tensors the model has.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/models/ovi/ovi_layout.h"

namespace ovid::tools {

// The random stream of one tensor.
uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name);

// Elements [first, first + n) of the stream as N(mean, stddev) values (Box-Muller on pairs).
void FillNormal(uint64_t key, int64_t first, int64_t n, float mean, float stddev, float* dst);

// Mean and standard deviation per role: Linear/Conv weights 1/sqrt(fan_in) (what PyTorch's
// default init gives in scale, so activations keep unit size), modulation 1/sqrt(dim) (Wan's
// own init of the modulation parameters), norm weights 1 +- 0.02, biases and norm biases 0.02.
struct Distribution {
  float mean;
  float stddev;
};
Distribution DistributionFor(const ovi::OviTensor& tensor, int64_t model_dim);

}  // namespace ovid::tools
