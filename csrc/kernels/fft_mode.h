// spectro — the FFT modes: which FFT an op applies between its frames and its spectrum (torch-free, the one
// definition used by the op layer, the kernels, the autograd and, through spectro._C, the Python tests).
//
// Each analysis mode's transpose is one synthesis mode (side by side below), which is how the backward of one op is
// the other op with the adjoint mode.
//   analysis (frames -> spectrum)                  synthesis (spectrum -> frames)
//   Rfft:       onesided rfft                      IrfftHalf: irfft of the spectrum with interior bins halved
//   RfftFull:   rfft returning all n_fft bins      IfftReal:  real part of the (unnormalised) ifft
//   Fft:        complex fft                        Ifft:      complex ifft
//   RfftDouble: onesided rfft, interior bins x2    Irfft:     irfft (onesided spectrum, real frames)
// Every FFT here is unnormalised; the op's `scale` carries the normalisation.
#pragma once

#include <cstdint>
#include <cstring>

namespace spectro {
namespace kernels {

enum class FftMode : int32_t { Rfft = 0, RfftFull = 1, Fft = 2, RfftDouble = 3, Irfft = 4, IrfftHalf = 5, IfftReal = 6, Ifft = 7 };
constexpr int kFftModes = 8;

// Names, as the op schemas spell them, indexed by the enum's value.
constexpr const char* kFftModeNames[kFftModes] = {"rfft",  "rfft_full",  "fft",       "rfft_double",
                                                  "irfft", "irfft_half", "ifft_real", "ifft"};

inline const char* name_of(FftMode m) { return kFftModeNames[static_cast<int>(m)]; }

// The mode named `s`, or false.
inline bool parse_fft_mode(const char* s, FftMode* out) {
  for (int i = 0; i < kFftModes; ++i) {
    if (std::strcmp(s, kFftModeNames[i]) == 0) {
      *out = static_cast<FftMode>(i);
      return true;
    }
  }
  return false;
}

// An analysis mode (frames -> spectrum) or a synthesis mode (spectrum -> frames).
constexpr bool is_analysis(FftMode m) { return static_cast<int>(m) < 4; }

// The transpose's mode.
constexpr FftMode adjoint(FftMode m) {
  switch (m) {
    case FftMode::Rfft: return FftMode::IrfftHalf;
    case FftMode::RfftFull: return FftMode::IfftReal;
    case FftMode::Fft: return FftMode::Ifft;
    case FftMode::RfftDouble: return FftMode::Irfft;
    case FftMode::Irfft: return FftMode::RfftDouble;
    case FftMode::IrfftHalf: return FftMode::Rfft;
    case FftMode::IfftReal: return FftMode::RfftFull;
    case FftMode::Ifft:
    default: return FftMode::Fft;
  }
}

// Whether the signal side (x for analysis, y for synthesis) is real.
constexpr bool real_signal(FftMode m) { return m != FftMode::Fft && m != FftMode::Ifft; }

// Whether the mode's FFT is a complex n_fft-point FFT (else a real FFT, computed as an n_fft/2-point complex one).
constexpr bool complex_fft(FftMode m) {
  return m == FftMode::Fft || m == FftMode::Ifft || m == FftMode::IfftReal;
}

// Spectrum bins the mode produces / consumes.
constexpr int64_t spectrum_bins(FftMode m, int64_t n_fft) {
  return (m == FftMode::Rfft || m == FftMode::RfftDouble || m == FftMode::Irfft || m == FftMode::IrfftHalf)
             ? n_fft / 2 + 1
             : n_fft;
}

}  // namespace kernels
}  // namespace spectro
