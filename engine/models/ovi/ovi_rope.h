// File: engine/models/ovi/ovi_rope.h
// Ovi's rotary position embeddings (spec ovi.md §3 "RoPE"): 3-D for video tokens (temporal,
// height, width bands of the head's complex pairs), scaled 1-D for audio tokens (temporal band
// only, positions times audio_rope_scale). Angles are computed in fp64 and only then cast, like
// the original's complex128 tables; the tables depend only on the token grid, so RopeCache keeps
// them per shape and dtype for the whole request (and across requests of the same size).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ovid::ovi {

// How the head_dim channels split into bands: t = d - 4*floor(d/6), h = w = 2*floor(d/6)
// channels (at d = 128: 44/42/42 channels = 22/21/21 complex pairs).
struct RopeSplit {
  int64_t t = 0;
  int64_t h = 0;
  int64_t w = 0;
};
RopeSplit SplitRopeDims(int64_t head_dim);

// Angles [n, channels/2] (fp64): pos * scale * theta^(-2k/channels), pos = 0..n-1, theta 10000.
at::Tensor RopeAngles(int64_t n, int64_t channels, double scale = 1.0);

// A rotation table: cos and sin per token and complex pair, [L, head_dim/2], in `dtype`.
struct RopeTable {
  at::Tensor cos;  // [L, head_dim/2]
  at::Tensor sin;  // [L, head_dim/2]
};

// Video tokens of a (f, h, w) grid in row-major order: pair k of token (f,h,w) rotates by
// angles_t[f] ++ angles_h[h] ++ angles_w[w].
RopeTable VideoRopeTable(int64_t frames, int64_t height, int64_t width, int64_t head_dim,
                         at::ScalarType dtype, c10::Device device);
// Audio tokens 0..L-1: the temporal pairs rotate by scale * p * freq; the other pairs do not
// rotate (cos 1, sin 0).
RopeTable AudioRopeTable(int64_t length, int64_t head_dim, double scale, at::ScalarType dtype,
                         c10::Device device);

// Rotates interleaved pairs (2i, 2i+1) of x [B, L, heads, head_dim] by `table` (L rows). The
// product runs in f32 at least, then casts back to x's dtype.
at::Tensor ApplyRope(const at::Tensor& x, const RopeTable& table);

// Thread-safe memo of the tables above by (kind, shape, dtype, device).
// Tables by latent size, device and dtype. Bounded: a daemon sees as many sizes as its clients
// ask for, and a full-size video table is tens of MB of VRAM, so the least recently used table
// goes once kMaxTables are held (a job still using it keeps its tensors alive).
class RopeCache {
 public:
  static constexpr size_t kMaxTables = 8;

  RopeTable Video(int64_t frames, int64_t height, int64_t width, int64_t head_dim,
                  at::ScalarType dtype, c10::Device device);
  RopeTable Audio(int64_t length, int64_t head_dim, double scale, at::ScalarType dtype,
                  c10::Device device);
  size_t size();

 private:
  struct Entry {
    RopeTable table;
    uint64_t last_use = 0;
  };
  template <typename Make>
  RopeTable Lookup(const std::string& key, Make make);

  std::mutex mu_;
  std::map<std::string, Entry> tables_;
  uint64_t uses_ = 0;
};

}  // namespace ovid::ovi
