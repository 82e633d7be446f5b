// spectro — the CPU backend's direct FFT: MKL's DFTI, called from the process where torch's CPU library carries it
// (torch's x86-64 Linux builds link MKL and export its DFTI entry points), with committed descriptors kept per thread.
// It writes a chunk's spectrum straight into the op's result, where ATen's FFT returns a new tensor that must then be
// copied there (a second pass over the result's bytes, which do not fit in cache). Elsewhere (no MKL in the process,
// other platforms) the callers take ATen's FFT; both are MKL's transforms with the same configuration.
#pragma once

#include <ATen/ATen.h>

#include "ops.h"

namespace spectro {

// Whether this process's torch carries MKL's DFTI (decided once).
bool mkl_dft_available();

// The forward FFT of `frames` ([rows, n_fft] contiguous, a.signal_type: real for the rfft modes, complex for Fft) by
// a.mode (Rfft, RfftDouble, Fft) into `out` ([rows, a.bins] of a.complex_type, rows contiguous), what
// frames_to_spectrum(a, frames) returns, without an intermediate tensor. False where the direct path does not apply
// (no MKL, another mode or layout, a DFTI error): the caller then writes `out` from frames_to_spectrum.
bool frames_to_spectrum_into(const OpArgs& a, const at::Tensor& frames, const at::Tensor& out);

}  // namespace spectro
