// spectro — the elementary functions the epilogues (the mel stages, the spectral losses) apply to real values, on the
// host and the device, one overload per precision (float: the single-precision function, not the double one).
#pragma once

#include <cmath>

#include "common.h"

namespace spectro {
namespace kernels {

SPECTRO_HD float real_sqrt(float v) { return sqrtf(v); }
SPECTRO_HD double real_sqrt(double v) { return sqrt(v); }
SPECTRO_HD float real_pow(float v, float e) { return powf(v, e); }
SPECTRO_HD double real_pow(double v, double e) { return pow(v, e); }
SPECTRO_HD float real_log(float v) { return logf(v); }
SPECTRO_HD double real_log(double v) { return log(v); }
SPECTRO_HD float real_log1p(float v) { return log1pf(v); }
SPECTRO_HD double real_log1p(double v) { return log1p(v); }
// a - b rounded once, never fused with a product that formed b: the device compiler would contract a - s * t into one
// FMA, which differs from the difference of the rounded values (by s * t's rounding error where a == s * t). For a
// kernel that compares a value it formed with one stored before (the mel loss' terms).
SPECTRO_HD float real_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
SPECTRO_HD double real_sub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

}  // namespace kernels
}  // namespace spectro
