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

// P[r, k] = st.power_of(spec[r, k]) for rows r < rows and bins k < basis_bins (P: [rows, basis_bins]); spec rows
// have `bins` entries.
template <typename R>
void mel_powers(const Complex<R>* spec, int64_t rows, int64_t bins, int64_t basis_bins, const MelStages<R>& st,
                R* P) {
  for (int64_t r = 0; r < rows; ++r) {
    const Complex<R>* x = spec + r * bins;
    R* __restrict__ p = P + r * basis_bins;
    for (int64_t k = 0; k < basis_bins; ++k) p[k] = st.power_of(x[k].re, x[k].im);
  }
}

// out[b, m, n] = st.log_of(mel[r - begin, m]) for the rows r = b * n_frames + n in [begin, end); out is
// [batch, n_mels, n_frames] contiguous, mel [end - begin, n_mels]. Written band by band, each a contiguous run of
// frames per batch row.
template <typename R>
void mel_log_store(const R* mel, int64_t begin, int64_t end, int64_t n_frames, int64_t n_mels, const MelStages<R>& st,
                   R* out) {
  for (int64_t r = begin; r < end;) {
    const int64_t b = r / n_frames, n0 = r % n_frames, count = std::min(end - r, n_frames - n0);
    const R* m = mel + (r - begin) * n_mels;
    for (int64_t j = 0; j < n_mels; ++j) {
      R* __restrict__ o = out + (b * n_mels + j) * n_frames + n0;
      for (int64_t f = 0; f < count; ++f) o[f] = st.log_of(m[f * n_mels + j]);
    }
    r += count;
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace spectro
