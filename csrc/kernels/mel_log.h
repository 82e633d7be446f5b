// spectro — the log stages of the mel frontend (torch-free, the one definition used by the op layer, the kernels and,
// through the schema's `log` string, Python): what is applied to each mel value m.
//   None   m
//   Clamp  log_scale * log(max(m, log_eps))
//   Add    log_scale * log(m + log_eps)
//   Log1p  log_scale * log1p(m)
// log_scale is 1 for ln, 1 / ln 10 for log10, 20 / (power ln 10) for dB.
#pragma once

#include <cstdint>
#include <cstring>

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

}  // namespace kernels
}  // namespace spectro
