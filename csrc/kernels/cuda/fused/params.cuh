// spectro — fused kernels: the parameters of the analysis and synthesis kernels, and the padded positions a synthesis
// computes (torch-free).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "../../common.h"
#include "../../fft_mode.h"

namespace spectro {
namespace kernels {
namespace cuda {
template <typename V>
struct FusedAnalysisParams {
  using R = typename RealOf<V>::type;
  AnalysisParams<V> a;     // a.frames is unused: the spectrum goes to `spec`
  Complex<R>* spec = nullptr;  // [batch, n_frames, bins], contiguous
  FftMode mode = FftMode::Rfft;
  // Single precision only (kernel_dtype "mixed"): when set, the spectrum is stored here as complex32 (each part
  // rounded once to float16, the same layout as `spec`) and `spec` is unused.
  __half2* spec_half = nullptr;
  // Single precision only: the signal in half precision, read instead of a.x (same layout) and converted to float
  // on load (exactly): float16 (x_half_bf16 false) or bfloat16 for a real signal, complex32 for a complex one.
  // (One untyped pointer: every byte of this struct is a kernel parameter, and three typed ones made the
  // power-of-two analysis spill registers.)
  const void* x_half = nullptr;
  bool x_half_bf16 = false;
};

template <typename V>
struct FusedSynthesisParams {
  using R = typename RealOf<V>::type;
  SynthesisParams<V> s;           // s.frames is unused: frames come from `spec`
  const Complex<R>* spec = nullptr;  // element (b, bin, n) at spec[b * stride_b + bin * stride_bin + n * stride_n]
  int64_t stride_b = 0, stride_bin = 0, stride_n = 0;
  FftMode mode = FftMode::Irfft;
  // Scratch [batch, fused_side_length(s.g)] for the padded positions outside the signal; required (and only used)
  // when that length is not 0 (pad modes other than Constant).
  V* side = nullptr;
  // float only, constant padding only (kernel_dtype "mixed"): when one is set, the output is stored there, each
  // sample rounded once to float16 / bfloat16, and s.out is unused.
  __half* out_half = nullptr;
  __nv_bfloat16* out_bf16 = nullptr;
  // Single precision only: a complex32 spectrum, read instead of `spec` (same strides, in elements) and converted to
  // complex64 on load (exactly).
  const __half2* spec_c32 = nullptr;
  // Syntheses with an analysis prologue only (the mel and loss backwards to the signal): scratch of edge_capacity
  // values where the blocks own frames (pow2_synthesis.cuh): each block but a row's last stores there the sums of its
  // frames at the positions its successor's frames also cover (n_fft - hop of them), and the synthesis' finish
  // (finish_synthesis.cuh) adds them onto the output. Null (or too small for the launch): the blocks own output
  // segments instead, and the frames that straddle two segments are transformed by both.
  V* edge = nullptr;
  int64_t edge_capacity = 0;
  // Syntheses with an analysis prologue only: add the result to s.out (an earlier scale's gradient) instead of
  // storing it; the side buffer is written as usual and folded onto the sum.
  bool accumulate = false;
};


// The padded positions a fused synthesis computes, [synthesis_lo, synthesis_hi). Zero padding: the signal's own
// positions [pad, pad + T) (the padding is trimmed, or zeros appended past the span). Other pad modes: also the
// positions outside the signal, [0, pad) and [pad + T, span), whose values go to the side buffer; the synthesis'
// finish (finish_synthesis.cuh) then adds each onto the sample its position reads (pad_source): the transpose of
// reflect / replicate / circular padding.
SPECTRO_HD int64_t synthesis_lo(const Geometry& g) { return g.mode == PadMode::Constant ? g.pad : 0; }
SPECTRO_HD int64_t synthesis_hi(const Geometry& g) {
  const int64_t end = g.pad + g.length, span = g.span();
  return g.mode == PadMode::Constant || end >= span ? end : span;
}
// Length of one row of the side buffer: [0, pad) then [pad + T, span).
SPECTRO_HD int64_t fused_side_length(const Geometry& g) {
  if (g.mode == PadMode::Constant) return 0;
  const int64_t right = g.span() - g.pad - g.length;
  return g.pad + (right > 0 ? right : 0);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
