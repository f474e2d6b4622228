// File: engine/models/bigvgan/bigvgan_filter.h
// The low-pass filter of BigVGAN's alias-free activations (alias_free_activation/torch/filter.py,
// kaiser_sinc_filter1d; spec encoders.md §5): computed here for files without the filter buffers,
// and written into synthetic files. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace ovid::bigvgan {

// `taps` coefficients summing to 1: a Kaiser window (beta from Kaiser's attenuation formula for
// a transition band of 4 * half_width) times a sinc at 2 * cutoff, sampled at half-integer
// times for an even `taps`. The default is what UpSample1d/DownSample1d(ratio 2) use: cutoff
// 0.25, half width 0.3, 12 taps.
std::vector<float> KaiserSincFilter(int64_t taps = 12, double cutoff = 0.25,
                                    double half_width = 0.3);

}  // namespace ovid::bigvgan
