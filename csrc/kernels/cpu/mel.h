// spectro — the CPU mel frontend's stages around its projection, on one chunk of frames (torch-free): the analysis
// runs a chunk at a time (frame_ola.h's analysis_chunked), and in the thread that transformed a chunk its spectrum
// becomes powers, the backend projects them onto the mel bands (a matrix product), and the log stage writes them to
// the result. Per value, the stages are mel_log.h's.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../common.h"
#include "../mel_log.h"

namespace spectro {
namespace kernels {
namespace cpu {

template <typename R>
struct MelStages {
  int64_t n_mels = 0;
  int64_t basis_bins = 0;  // bins used, <= the spectrum's bins
  R power = R(2);          // P = (|X|^2 + mag_eps)^(power / 2)
  R mag_eps = R(0);
  MelLog log = MelLog::None;
  R log_eps = R(0);
  R log_scale = R(1);
};

// P[r, k] = mel_power(spec[r, k]) for rows r < rows and bins k < basis_bins; spec rows have `bins` entries.
template <typename R>
void mel_powers(const Complex<R>* spec, int64_t rows, int64_t bins, const MelStages<R>& st, R* P) {
  for (int64_t r = 0; r < rows; ++r) {
    const Complex<R>* x = spec + r * bins;
    R* __restrict__ p = P + r * st.basis_bins;
    for (int64_t k = 0; k < st.basis_bins; ++k) p[k] = mel_power(x[k].re, x[k].im, st.power, st.mag_eps);
  }
}

// out[b, m, n] = mel_log(mel[r - begin, m]) for the rows r = b * n_frames + n in [begin, end); out is
// [batch, n_mels, n_frames] contiguous, mel [end - begin, n_mels]. Written band by band, each a contiguous run of
// frames per batch row.
template <typename R>
void mel_log_store(const R* mel, int64_t begin, int64_t end, int64_t n_frames, const MelStages<R>& st, R* out) {
  for (int64_t r = begin; r < end;) {
    const int64_t b = r / n_frames, n0 = r % n_frames, count = std::min(end - r, n_frames - n0);
    const R* m = mel + (r - begin) * st.n_mels;
    for (int64_t j = 0; j < st.n_mels; ++j) {
      R* __restrict__ o = out + (b * st.n_mels + j) * n_frames + n0;
      for (int64_t f = 0; f < count; ++f) o[f] = mel_log(m[f * st.n_mels + j], st.log, st.log_eps, st.log_scale);
    }
    r += count;
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace spectro
