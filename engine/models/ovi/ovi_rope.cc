#include "engine/models/ovi/ovi_rope.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/cos.h>
#include <ATen/ops/full.h>
#include <ATen/ops/outer.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/ops/shared_tensors.h"

namespace ovid::ovi {
namespace {

constexpr double kTheta = 10000.0;

at::TensorOptions F64() { return at::TensorOptions().dtype(at::kDouble); }

RopeTable Finish(const at::Tensor& angles, at::ScalarType dtype, c10::Device device) {
  // angles [L, head_dim/2] fp64
  return {at::cos(angles).to(device, dtype).contiguous(),   // [L, head_dim/2]
          at::sin(angles).to(device, dtype).contiguous()};  // [L, head_dim/2]
}

}  // namespace

RopeSplit SplitRopeDims(int64_t head_dim) {
  const int64_t hw = 2 * (head_dim / 6);
  return {head_dim - 2 * hw, hw, hw};
}

at::Tensor RopeAngles(int64_t n, int64_t channels, double scale) {
  const at::Tensor exponent = at::arange(0, channels, 2, F64()).div(static_cast<double>(channels));
  const at::Tensor freqs = at::pow(kTheta, exponent.neg()).mul(scale);  // [channels/2]
  return at::outer(at::arange(n, F64()), freqs);                        // [n, channels/2]
}

RopeTable VideoRopeTable(int64_t frames, int64_t height, int64_t width, int64_t head_dim,
                         at::ScalarType dtype, c10::Device device) {
  const RopeSplit s = SplitRopeDims(head_dim);
  const at::Tensor at_t = RopeAngles(frames, s.t);  // [F, t/2]
  const at::Tensor at_h = RopeAngles(height, s.h);  // [H, h/2]
  const at::Tensor at_w = RopeAngles(width, s.w);   // [W, w/2]
  const at::Tensor grid =
      at::cat({at_t.view({frames, 1, 1, s.t / 2}).expand({frames, height, width, s.t / 2}),
               at_h.view({1, height, 1, s.h / 2}).expand({frames, height, width, s.h / 2}),
               at_w.view({1, 1, width, s.w / 2}).expand({frames, height, width, s.w / 2})},
              3);  // [F, H, W, head_dim/2]
  return Finish(grid.reshape({frames * height * width, head_dim / 2}), dtype, device);
}

RopeTable AudioRopeTable(int64_t length, int64_t head_dim, double scale, at::ScalarType dtype,
                         c10::Device device) {
  const RopeSplit s = SplitRopeDims(head_dim);
  const at::Tensor rotated = RopeAngles(length, s.t, scale);             // [L, t/2]
  const at::Tensor still = at::zeros({length, (s.h + s.w) / 2}, F64());  // [L, (h+w)/2]
  return Finish(at::cat({rotated, still}, 1), dtype, device);            // [L, head_dim/2]
}

at::Tensor ApplyRope(const at::Tensor& x, const RopeTable& table) {
  const int64_t b = x.size(0), l = x.size(1), n = x.size(2), d = x.size(3);
  const at::ScalarType work =
      x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;     // never below f32
  const at::Tensor pairs = x.to(work).reshape({b, l, n, d / 2, 2});  // [B, L, heads, d/2, 2]
  const at::Tensor re = pairs.select(4, 0);                          // [B, L, heads, d/2]
  const at::Tensor im = pairs.select(4, 1);                          // [B, L, heads, d/2]
  const at::Tensor c = table.cos.to(work).view({1, l, 1, d / 2});    // [1, L, 1, d/2]
  const at::Tensor s = table.sin.to(work).view({1, l, 1, d / 2});    // [1, L, 1, d/2]
  const at::Tensor out =
      at::stack({re.mul(c).sub(im.mul(s)), re.mul(s).add(im.mul(c))}, 4);  // [B, L, heads, d/2, 2]
  return out.reshape({b, l, n, d}).to(x.scalar_type());                    // [B, L, heads, d]
}

template <typename Make>
RopeTable RopeCache::Lookup(const std::string& key, Make make) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tables_.find(key);
  if (it == tables_.end()) {
    if (tables_.size() >= kMaxTables) {
      auto oldest = tables_.begin();
      for (auto e = tables_.begin(); e != tables_.end(); ++e) {
        if (e->second.last_use < oldest->second.last_use) oldest = e;
      }
      tables_.erase(oldest);
    }
    RopeTable made = make();
    // Made on this worker's stream while other workers read the cache on theirs: its values
    // must be there before it is shared (a device error shows in the caller's next op).
    if (!ops::WaitForCurrentStream(made.cos.device(), "RoPE table").ok()) return made;
    it = tables_.emplace(key, Entry{std::move(made), 0}).first;
  }
  it->second.last_use = ++uses_;
  // Perhaps made on another worker's stream: an evicted table's memory must outlast the reads
  // this worker queues, or that stream's allocator could hand it out under them.
  ops::MarkReadOnCurrentStream(it->second.table.cos);
  ops::MarkReadOnCurrentStream(it->second.table.sin);
  return it->second.table;
}

RopeTable RopeCache::Video(int64_t frames, int64_t height, int64_t width, int64_t head_dim,
                           at::ScalarType dtype, c10::Device device) {
  const std::string key = absl::StrCat("v", frames, "x", height, "x", width, "/", head_dim, "/",
                                       static_cast<int>(dtype), "/", device.str());
  return Lookup(key, [&] { return VideoRopeTable(frames, height, width, head_dim, dtype, device); });
}

RopeTable RopeCache::Audio(int64_t length, int64_t head_dim, double scale, at::ScalarType dtype,
                           c10::Device device) {
  const std::string key = absl::StrCat("a", length, "/", head_dim, "/", scale, "/",
                                       static_cast<int>(dtype), "/", device.str());
  return Lookup(key, [&] { return AudioRopeTable(length, head_dim, scale, dtype, device); });
}

size_t RopeCache::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return tables_.size();
}

}  // namespace ovid::ovi
