// File: engine/media/jpeg_ycc.cc
#include "engine/media/jpeg_ycc.h"

#include <algorithm>
#include <array>
#include <vector>

namespace ovid::media {
namespace {

// jdcolor's tables: 16 fractional bits, coefficients rounded to the nearest 1/65536, R and B's
// terms rounded once per table entry, G's summed and then shifted (arithmetic, rounding down,
// with the half added to the Cb term).
struct YccTables {
  std::array<int, 256> cr_r, cb_b, cr_g, cb_g;
  YccTables() {
    constexpr int kHalf = 1 << 15;
    auto fix = [](double v) { return static_cast<int>(v * 65536.0 + 0.5); };
    for (int i = 0; i < 256; ++i) {
      const int x = i - 128;
      cr_r[i] = (fix(1.40200) * x + kHalf) >> 16;
      cb_b[i] = (fix(1.77200) * x + kHalf) >> 16;
      cr_g[i] = -fix(0.71414) * x;
      cb_g[i] = -fix(0.34414) * x + kHalf;
    }
  }
};

const YccTables& Tables() {
  static const YccTables tables;
  return tables;
}

uint8_t Clamp(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

// One chroma row widened 2x (libjpeg's h2v1/h2v2 fancy upsampling), for n >= 3 samples: each
// output is 3/4 of its own input and 1/4 of the nearer neighbour, with biases alternating
// between the two outputs so that rounding does not drift one way; the outermost outputs take
// their own input alone. kSums: the inputs are already 3 * row + neighbouring row (2x vertical
// too), so everything is in sixteenths instead of quarters.
template <bool kSums>
void Widen(const int* in, int n, int* out) {
  constexpr int kShift = kSums ? 4 : 2;
  constexpr int kLeftBias = kSums ? 8 : 1, kRightBias = kSums ? 7 : 2;
  out[0] = kSums ? (in[0] * 4 + 8) >> 4 : in[0];
  out[1] = (in[0] * 3 + in[1] + kRightBias) >> kShift;
  for (int i = 1; i < n - 1; ++i) {
    out[2 * i] = (in[i] * 3 + in[i - 1] + kLeftBias) >> kShift;
    out[2 * i + 1] = (in[i] * 3 + in[i + 1] + kRightBias) >> kShift;
  }
  out[2 * n - 2] = (in[n - 1] * 3 + in[n - 2] + kLeftBias) >> kShift;
  out[2 * n - 1] = kSums ? (in[n - 1] * 4 + 7) >> 4 : in[n - 1];
}

// Full-size chroma row `y` of one plane into `out` (at least h_sub * chroma width entries).
void ChromaRow(const YccPlanes& p, const uint8_t* plane, int y, std::vector<int>& sums,
               std::vector<int>& out) {
  const int cw = (p.width + p.h_sub - 1) / p.h_sub;
  const int ch = (p.height + p.v_sub - 1) / p.v_sub;
  const uint8_t* row = plane + static_cast<ptrdiff_t>(y / p.v_sub) * p.c_stride;
  // libjpeg replicates 2x horizontal chroma of fewer than 3 columns (4:2:0 without the
  // vertical filter too).
  if (p.h_sub == 2 && cw <= 2) {
    for (int x = 0; x < cw; ++x) out[2 * x] = out[2 * x + 1] = row[x];
    return;
  }
  if (p.h_sub == 1 && p.v_sub == 1) {
    std::copy(row, row + cw, out.begin());
    return;
  }
  if (p.h_sub == 4) {
    // 4:1:1 is no case of the triangle filter: libjpeg replicates each sample 4x.
    for (int x = 0; x < cw; ++x) std::fill_n(out.begin() + p.h_sub * x, p.h_sub, row[x]);
    return;
  }
  if (p.h_sub == 1) {
    // 4:4:0: the vertical half of the 4:2:0 filter alone, 3/4 of the own row and 1/4 of the one
    // above (even output rows, rounding bias 1) or below (odd ones, bias 2), at any width
    // (unlike 4:2:x, libjpeg filters 4:4:0 of 1-2 columns too: measured against Pillow).
    const int cy = y / 2;
    const bool upper = y % 2 == 0;
    const int ny = upper ? std::max(cy - 1, 0) : std::min(cy + 1, ch - 1);
    const uint8_t* near = plane + static_cast<ptrdiff_t>(ny) * p.c_stride;
    const int bias = upper ? 1 : 2;
    for (int x = 0; x < cw; ++x) out[x] = (row[x] * 3 + near[x] + bias) >> 2;
    return;
  }
  if (p.v_sub == 1) {
    std::copy(row, row + cw, sums.begin());
    Widen<false>(sums.data(), cw, out.data());
    return;
  }
  // 2x vertical: 3/4 of the own row and 1/4 of the row above (even output rows) or below (odd
  // ones); the image's first and last chroma rows stand in for the missing neighbour.
  const int cy = y / 2;
  const int ny = (y % 2 == 0) ? std::max(cy - 1, 0) : std::min(cy + 1, ch - 1);
  const uint8_t* near = plane + static_cast<ptrdiff_t>(ny) * p.c_stride;
  for (int x = 0; x < cw; ++x) sums[x] = row[x] * 3 + near[x];
  Widen<true>(sums.data(), cw, out.data());
}

}  // namespace

bool YccSubsamplingSupported(int h_sub, int v_sub) {
  return (h_sub == 1 && (v_sub == 1 || v_sub == 2)) || (h_sub == 2 && (v_sub == 1 || v_sub == 2)) ||
         (h_sub == 4 && v_sub == 1);
}

RgbImage YccToRgb(const YccPlanes& p) {
  const YccTables& t = Tables();
  RgbImage out;
  out.width = p.width;
  out.height = p.height;
  out.rgb.resize(static_cast<size_t>(p.width) * p.height * 3);
  const int cw = (p.width + p.h_sub - 1) / p.h_sub;
  std::vector<int> sums(cw), cb(4 * cw), cr(4 * cw);
  for (int y = 0; y < p.height; ++y) {
    ChromaRow(p, p.cb, y, sums, cb);
    ChromaRow(p, p.cr, y, sums, cr);
    const uint8_t* luma = p.y + static_cast<ptrdiff_t>(y) * p.y_stride;
    uint8_t* dst = out.rgb.data() + static_cast<size_t>(y) * p.width * 3;
    for (int x = 0; x < p.width; ++x, dst += 3) {
      const int l = luma[x], b = cb[x], r = cr[x];
      dst[0] = Clamp(l + t.cr_r[r]);
      dst[1] = Clamp(l + ((t.cb_g[b] + t.cr_g[r]) >> 16));
      dst[2] = Clamp(l + t.cb_b[b]);
    }
  }
  return out;
}

}  // namespace ovid::media
