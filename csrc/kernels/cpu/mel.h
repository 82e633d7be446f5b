// spectro — the CPU mel frontend's stages around its projection, on one chunk of frames (torch-free): the analysis
// runs a chunk at a time (frame_ola.h's analysis_chunked), and in the thread that transformed a chunk its spectrum
// becomes powers, the backend projects them onto the mel bands (mel_project, or a matrix product where the basis is
// dense), and the log stage writes them to the result. The backward recomputes the chunk's spectrum the same way,
// forms the coefficients dL/d(band sums), the backend projects them back onto the bins (mel_project_back, or the
// basis' transpose), and the last stage writes dL/dX of the chunk's rows. Per value, the stages are mel_log.h's.
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

// The projection onto the bands and back, over each band's nonzero bins: a triangular filterbank touches a short
// run of bins per band (each bin lies in at most two bands), so this does a small share of a dense product's work.
// band[2m], band[2m + 1]: the first and one past the last bin of band m whose weight is not zero (NaN counts as not
// zero); an all-zero band gets [0, 0). basis [n_mels, basis_bins] contiguous.
template <typename R>
void mel_band_ranges(const R* basis, int64_t n_mels, int64_t basis_bins, int64_t* band) {
  for (int64_t m = 0; m < n_mels; ++m) {
    const R* w = basis + m * basis_bins;
    int64_t lo = 0, hi = 0;
    for (int64_t k = 0; k < basis_bins; ++k) {
      if (!(w[k] == R(0))) {
        if (hi == 0) lo = k;
        hi = k + 1;
      }
    }
    band[2 * m] = lo;
    band[2 * m + 1] = hi;
  }
}

// The number of bin weights the band ranges cover (the work of mel_project per row).
inline int64_t mel_band_work(const int64_t* band, int64_t n_mels) {
  int64_t n = 0;
  for (int64_t m = 0; m < n_mels; ++m) n += band[2 * m + 1] - band[2 * m];
  return n;
}

// mel[r, m] = sum over k in band m's range of basis[m, k] P[r, k]  (P [rows, basis_bins], mel [rows, n_mels]).
template <typename R>
void mel_project(const R* P, int64_t rows, int64_t basis_bins, const R* basis, const int64_t* band, int64_t n_mels,
                 R* mel) {
  for (int64_t r = 0; r < rows; ++r) {
    const R* p = P + r * basis_bins;
    for (int64_t m = 0; m < n_mels; ++m) {
      const R* w = basis + m * basis_bins;
      R acc = R(0);
      for (int64_t k = band[2 * m]; k < band[2 * m + 1]; ++k) acc += w[k] * p[k];
      mel[r * n_mels + m] = acc;
    }
  }
}

// The transpose: gP[r, k] = sum over the bands m whose range holds k of basis[m, k] coef[r, m]  (coef
// [rows, n_mels], gP [rows, basis_bins]; bins no band covers get 0).
template <typename R>
void mel_project_back(const R* coef, int64_t rows, int64_t n_mels, const R* basis, const int64_t* band,
                      int64_t basis_bins, R* gP) {
  for (int64_t r = 0; r < rows; ++r) {
    R* __restrict__ g = gP + r * basis_bins;
    for (int64_t k = 0; k < basis_bins; ++k) g[k] = R(0);
    for (int64_t m = 0; m < n_mels; ++m) {
      const R* w = basis + m * basis_bins;
      const R c = coef[r * n_mels + m];
      for (int64_t k = band[2 * m]; k < band[2 * m + 1]; ++k) g[k] += w[k] * c;
    }
  }
}

// For the rows r in [begin, end) of a chunk (r = b * n_frames + n): fn(e, o) for each band j of each row, with
// e = (r - begin) * n_mels + j its index in the chunk's [end - begin, n_mels] band sums and o = (b * n_mels + j) *
// n_frames + n its index in a [batch, n_mels, n_frames] tensor; band by band within each batch row, so that o runs
// along contiguous frames.
template <class Fn>
void for_chunk_bands(int64_t begin, int64_t end, int64_t n_frames, int64_t n_mels, Fn&& fn) {
  for (int64_t r = begin; r < end;) {
    const int64_t b = r / n_frames, n0 = r % n_frames, count = std::min(end - r, n_frames - n0);
    const int64_t row0 = r - begin;
    for (int64_t j = 0; j < n_mels; ++j) {
      const int64_t o0 = (b * n_mels + j) * n_frames + n0;
      for (int64_t f = 0; f < count; ++f) fn((row0 + f) * n_mels + j, o0 + f);
    }
    r += count;
  }
}

// out[b, j, n] = st.log_of(mel[r - begin, j]) for the chunk's rows; out is [batch, n_mels, n_frames] contiguous.
template <typename R>
void mel_log_store(const R* mel, int64_t begin, int64_t end, int64_t n_frames, int64_t n_mels, const MelStages<R>& st,
                   R* out) {
  for_chunk_bands(begin, end, n_frames, n_mels, [&](int64_t e, int64_t o) { out[o] = st.log_of(mel[e]); });
}

// Backward, first stage, for the chunk's rows: coef[r - begin, j] = grad[b, j, n] * st.log_grad(mel[r - begin, j]);
// grad [batch, n_mels, n_frames] contiguous. mel may be null where the log stage is None (its derivative is 1).
template <typename R>
void mel_grad_coefs(const R* grad, const R* mel, int64_t begin, int64_t end, int64_t n_frames, int64_t n_mels,
                    const MelStages<R>& st, R* coef) {
  for_chunk_bands(begin, end, n_frames, n_mels, [&](int64_t e, int64_t o) {
    coef[e] = mel == nullptr ? grad[o] : grad[o] * st.log_grad(mel[e]);
  });
}

// The same for an L1 loss against target values (a mel loss' backward): dL/d out[b, j, n] = sign(out - target) *
// g_loss with out = st.log_of(mel) (sign of NaN: 0, as torch's), so coef[r - begin, j] = sign(st.log_of(mel[e]) -
// target[b, j, n]) * g_loss * st.log_grad(mel[e]).
template <typename R>
void mel_l1_coefs(const R* target, const R* mel, int64_t begin, int64_t end, int64_t n_frames, int64_t n_mels,
                  R g_loss, const MelStages<R>& st, R* coef) {
  for_chunk_bands(begin, end, n_frames, n_mels, [&](int64_t e, int64_t o) {
    const R v = st.log_of(mel[e]) - target[o];
    const R sign = v > R(0) ? R(1) : (v < R(0) ? R(-1) : R(0));
    coef[e] = sign * g_loss * st.log_grad(mel[e]);
  });
}

// Backward, second stage: out[r, k] = gP[r, k] * st.power_grad(X) * X with X = spec[r, k] for bins k < basis_bins,
// and 0 past them (dL/dX, torch's convention for a complex gradient); spec and out rows have `bins` entries, gP
// [rows, basis_bins].
template <typename R>
void mel_grad_spectrum(const Complex<R>* spec, const R* gP, int64_t rows, int64_t bins, int64_t basis_bins,
                       const MelStages<R>& st, Complex<R>* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const Complex<R>* x = spec + r * bins;
    const R* gp = gP + r * basis_bins;
    Complex<R>* o = out + r * bins;
    for (int64_t k = 0; k < basis_bins; ++k) {
      const R d = gp[k] * st.power_grad(x[k].re, x[k].im);
      o[k] = Complex<R>{d * x[k].re, d * x[k].im};
    }
    for (int64_t k = basis_bins; k < bins; ++k) o[k] = Complex<R>{R(0), R(0)};
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace spectro
