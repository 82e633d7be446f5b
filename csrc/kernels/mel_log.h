// spectro — the stages of the mel frontend around its projection (torch-free, host and device; the one definition
// used by the op layer, the CPU and CUDA kernels and, through the schema's `log` string, Python): the power of each
// bin, P = (|X|^2 + mag_eps)^(power / 2), and the log stage applied to each mel value m:
//   None   m
//   Clamp  log_scale * log(max(m, log_eps))
//   Add    log_scale * log(m + log_eps)
//   Log1p  log_scale * log1p(m)
// log_scale is 1 for ln, 1 / ln 10 for log10, 20 / (power ln 10) for dB.
#pragma once

#include <cstdint>
#include <cstring>

#include "common.h"
#include "real_math.h"

namespace spectro {
namespace kernels {

enum class MelLog : int32_t { None = 0, Clamp = 1, Add = 2, Log1p = 3 };
constexpr int kMelLogs = 4;

// Names, as the op schema spells them, indexed by the enum's value.
constexpr const char* kMelLogNames[kMelLogs] = {"none", "clamp", "add", "log1p"};

// The stage named `s`, or false.
inline bool parse_mel_log(const char* s, MelLog* out) {
  for (int i = 0; i < kMelLogs; ++i) {
    if (std::strcmp(s, kMelLogNames[i]) == 0) {
      *out = static_cast<MelLog>(i);
      return true;
    }
  }
  return false;
}

// P of one bin X = re + i im.
template <typename R>
SPECTRO_HD R mel_power(R re, R im, R power, R mag_eps) {
  const R s = re * re + im * im + mag_eps;
  if (power == R(2)) return s;
  if (power == R(1)) return real_sqrt(s);
  return real_pow(s, power / R(2));
}

// dP/dX as a real factor of X: dL/dX = dL/dP * mel_power_grad(X) * X (torch's convention for a complex gradient,
// dL/dRe + i dL/dIm); power 1 at s = |X|^2 + mag_eps = 0: 0, as the magnitude's gradient at 0.
template <typename R>
SPECTRO_HD R mel_power_grad(R re, R im, R power, R mag_eps) {
  const R s = re * re + im * im + mag_eps;
  if (power == R(2)) return R(2);
  if (power == R(1)) return s == R(0) ? R(0) : R(1) / real_sqrt(s);
  return power * real_pow(s, power / R(2) - R(1));
}

// The log stage of one mel value (NaN propagates: max(NaN, eps) is NaN, as torch's clamp_min).
template <typename R>
SPECTRO_HD R mel_log(R m, MelLog log, R log_eps, R log_scale) {
  switch (log) {
    case MelLog::Clamp: return log_scale * real_log(m < log_eps ? log_eps : m);
    case MelLog::Add: return log_scale * real_log(m + log_eps);
    case MelLog::Log1p: return log_scale * real_log1p(m);
    default: return m;
  }
}

// The derivative of the log stage at m (NaN m: 0, as torch's clamp_min / log backward).
template <typename R>
SPECTRO_HD R mel_log_grad(R m, MelLog log, R log_eps, R log_scale) {
  switch (log) {
    case MelLog::Clamp: return m >= log_eps ? log_scale / m : R(0);
    case MelLog::Add: return log_scale / (m + log_eps);
    case MelLog::Log1p: return log_scale / (R(1) + m);
    default: return R(1);
  }
}

// The stages' parameters, one bundle for every backend (the op layer holds them in double, a kernel in its real
// type): what the frontend applies per value around its projection onto the bands.
template <typename R>
struct MelStages {
  R power = R(2);  // P = (|X|^2 + mag_eps)^(power / 2)
  R mag_eps = R(0);
  MelLog log = MelLog::None;
  R log_eps = R(0);
  R log_scale = R(1);

  template <typename T>
  MelStages<T> as() const {
    return MelStages<T>{static_cast<T>(power), static_cast<T>(mag_eps), log, static_cast<T>(log_eps),
                        static_cast<T>(log_scale)};
  }
  SPECTRO_HD R power_of(R re, R im) const { return mel_power(re, im, power, mag_eps); }
  SPECTRO_HD R power_grad(R re, R im) const { return mel_power_grad(re, im, power, mag_eps); }
  SPECTRO_HD R log_of(R m) const { return mel_log(m, log, log_eps, log_scale); }
  SPECTRO_HD R log_grad(R m) const { return mel_log_grad(m, log, log_eps, log_scale); }
};

}  // namespace kernels
}  // namespace spectro
