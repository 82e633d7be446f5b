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

}  // namespace kernels
}  // namespace spectro
