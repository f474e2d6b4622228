#include "engine/models/bigvgan/bigvgan_filter.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ovid::bigvgan {
namespace {

// The zeroth-order modified Bessel function of the first kind by its power series (converges
// fast for the beta ~ 4.66 used here; torch.kaiser_window evaluates the same function).
double BesselI0(double x) {
  double sum = 1, term = 1;
  for (int k = 1; k < 60; ++k) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
  }
  return sum;
}

}  // namespace

std::vector<float> KaiserSincFilter(int64_t taps, double cutoff, double half_width) {
  const int64_t half = taps / 2;
  const double a = 2.285 * static_cast<double>(half - 1) * std::numbers::pi * 4 * half_width + 7.95;
  const double beta = a > 50     ? 0.1102 * (a - 8.7)
                      : a >= 21 ? 0.5842 * std::pow(a - 21, 0.4) + 0.07886 * (a - 21)
                                : 0.0;
  std::vector<double> v(static_cast<size_t>(taps));
  double sum = 0;
  for (int64_t n = 0; n < taps; ++n) {
    // Symmetric window (periodic=False) over n = 0..taps-1.
    const double r = taps > 1 ? 2.0 * static_cast<double>(n) / static_cast<double>(taps - 1) - 1.0 : 0.0;
    const double window = BesselI0(beta * std::sqrt(std::max(0.0, 1 - r * r))) / BesselI0(beta);
    const double t = static_cast<double>(n - half) + (taps % 2 == 0 ? 0.5 : 0.0);
    const double x = 2 * cutoff * t;
    const double sinc = x == 0 ? 1.0 : std::sin(std::numbers::pi * x) / (std::numbers::pi * x);
    v[n] = 2 * cutoff * window * sinc;
    sum += v[n];
  }
  std::vector<float> f(v.size());
  for (size_t n = 0; n < v.size(); ++n) f[n] = static_cast<float>(v[n] / sum);
  return f;
}

}  // namespace ovid::bigvgan
