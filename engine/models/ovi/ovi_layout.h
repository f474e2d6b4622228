// File: engine/models/ovi/ovi_layout.h
// The tensor set of Ovi's FusionModel (shared spec ovi.md §2) for a given configuration: every
// state-dict key, its PyTorch shape and its role. Data-driven: one table of per-block suffixes
// and one per tower, so the format tool (convert, quantize --rules ovi, synth) and the LibTorch
// model loader agree on one description. No LibTorch: std + absl only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid::ovi {

// The hyper-parameters that decide Ovi's tensor shapes. Video and audio towers share every
// field except their in/out dims and patch embeddings.
struct OviConfig {
  int64_t dim = 3072;
  int64_t ffn_dim = 14336;
  int64_t num_heads = 24;
  int64_t head_dim = 128;  // dim == num_heads * head_dim; not visible in any tensor shape
  int64_t num_layers = 30;
  int64_t text_dim = 4096;
  int64_t freq_dim = 256;
  int64_t video_in_dim = 48;
  int64_t video_out_dim = 48;
  int64_t video_patch[3] = {1, 2, 2};  // (t, h, w): Conv3d kernel == stride
  int64_t audio_in_dim = 20;
  int64_t audio_out_dim = 20;
  int64_t audio_patch = 1;
  int64_t audio_conv_kernel = 7;  // ChannelLastConv1d kernel of the audio patch embedding
  int64_t audio_convmlp_hidden = 8192;

  int64_t VideoPatchVolume() const { return video_patch[0] * video_patch[1] * video_patch[2]; }
  // OK if the numbers are positive and consistent (dim == heads * head_dim).
  absl::Status Validate() const;
};

// Ovi 11B as released (spec ovi.md §1-2): 2073 tensors, 11,660,753,108 parameters.
OviConfig OviFullConfig();
// Structurally complete and small: dim 256, ffn 512, 2 heads x 128, 3 layers, text/freq 256,
// the real in/out dims and patch sizes, ConvMLP hidden 512. Every Linear row length is a
// multiple of 256 so K-quants apply.
OviConfig OviTinyConfig();

// The run-time specs of a checkpoint variant (spec ovi.md §1 and §4, Ovi's
// NAME_TO_MODEL_SPECS_MAP): the tensors are the same for all of them; the variant fixes the pixel
// area sizes are snapped at, the clip length and the latent lengths. `128x128_5s` is ovid's own
// test variant (what `ovid-gguf synth --preset ovi-tiny` writes): Ovi's 5 s lengths at a 128²
// area, so a whole CPU generation with the tiny model takes well under a second.
struct OviVariant {
  const char* name;             // "720x720_5s"
  int64_t side;                 // the default (square) width and height in pixels
  int64_t area;                 // side²: requests are snapped to multiples of 32 at this area
  float duration_seconds;       // 5 or 10; the only length the checkpoint generates
  int64_t video_latent_frames;  // 31 or 61 (= (pixel frames - 1) / 4 + 1)
  int64_t audio_latents;        // 157 or 314 (31.25 latents per second)
  bool test_only;               // not a released checkpoint (convert refuses it)

  int64_t VideoFrames() const { return 4 * (video_latent_frames - 1) + 1; }  // 121, 241
  int64_t AudioSamples() const { return audio_latents * 512; }  // 16 kHz: 157 -> 80,384
};

// Every known variant, released ones first.
const std::vector<OviVariant>& OviVariants();
// The variant called `name`, or null.
const OviVariant* FindOviVariant(std::string_view name);

enum class OviTower : uint8_t { kVideo, kAudio };
const char* OviTowerName(OviTower t);  // "video_model", "audio_model"

// Which module a tensor belongs to: decides quantization (only kBlock Linear weights are
// quantized under the Ovi rules) and the scale of synthetic weights.
enum class OviPart : uint8_t {
  kBlock,           // blocks.N.*
  kPatchEmbedding,  // patch_embedding.* (Conv3d for video, Conv1d + ConvMLP for audio)
  kTextEmbedding,   // text_embedding.{0,2}
  kTimeEmbedding,   // time_embedding.{0,2}
  kTimeProjection,  // time_projection.1
  kHead,            // head.head, head.modulation
};
const char* OviPartName(OviPart p);

enum class OviRole : uint8_t {
  kLinearWeight,  // nn.Linear weight [out, in]
  kLinearBias,    // nn.Linear / Conv bias [out]
  kConvWeight,    // Conv1d/Conv3d weight [out, in, k...]
  kNormWeight,    // RMSNorm / affine LayerNorm scale [dim]
  kNormBias,      // affine LayerNorm shift [dim]
  kModulation,    // plain Parameter [1, n, dim] added to the time embedding
};
const char* OviRoleName(OviRole r);

struct OviTensor {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order
  OviRole role;
  OviPart part;
  OviTower tower;
  int layer = -1;  // block index for kBlock, -1 otherwise

  int64_t Elements() const;
  // Input features of a Linear/Conv weight (product of all dims but the first); 0 otherwise.
  int64_t FanIn() const;
};

// Every tensor of the model in a fixed order: for each tower (video, audio) the non-block
// tensors, then blocks 0..num_layers-1 in table order. The config is not validated here.
std::vector<OviTensor> BuildOviLayout(const OviConfig& config);

// Role, part, tower and layer of a state-dict key from its name alone (no shapes), or nullopt
// if the name is not an Ovi key (wrong prefix, unknown suffix, malformed block index).
struct OviKeyInfo {
  OviRole role;
  OviPart part;
  OviTower tower;
  int layer = -1;
};
std::optional<OviKeyInfo> ClassifyOviKey(std::string_view name);

// Infers the shape-visible configuration from a checkpoint's tensor shapes. `shape_of` returns
// the PyTorch shape of a key, or nullopt if absent. `head_dim` is not visible in shapes; it
// sets num_heads = dim / head_dim. Errors name the key that was needed and what was wrong.
using ShapeLookup = std::function<std::optional<std::vector<int64_t>>(const std::string&)>;
absl::StatusOr<OviConfig> InferOviConfig(const ShapeLookup& shape_of,
                                         const std::vector<std::string>& names,
                                         int64_t head_dim = 128);

// Compares a tensor set against the layout. Every problem goes into ONE InvalidArgument
// message: each missing key, each unexpected key, each key whose shape differs (with both
// shapes). `source` (a file path) starts the message.
struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;
};
absl::Status CheckOviTensors(const std::vector<OviTensor>& layout,
                             const std::vector<NamedShape>& actual, std::string_view source);

std::string ShapeString(const std::vector<int64_t>& shape);  // "[3072, 48, 1, 2, 2]"

}  // namespace ovid::ovi
