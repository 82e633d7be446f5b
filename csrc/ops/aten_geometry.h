// spectro — the frame geometry of kernels/common.h written with ATen ops: differentiable, symbolic-size friendly and
// device-independent. The autograd formulas (window gradients, forward-mode tangents) and the torch-semantics layer
// (the NOLA check, complex windows) build on these; the kernels implement the same definitions directly.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <string>

namespace spectro {
namespace geometry {

// A size that is static (n_fft, bins) read without touching the tensor's other, possibly symbolic, sizes
// (Tensor::size(d) would materialise all of them and specialise a traced graph on the signal length).
int64_t static_dim(const at::Tensor& t, int64_t d);

// Signal sample read at each padded position p in [0, span), -1 for zero padding (kernels::pad_source).
at::Tensor source_index(const c10::SymInt& length, int64_t pad, const c10::SymInt& span, const std::string& mode,
                        const at::Device& dev);

// sig[:, src(p)] for p in [0, span), zero where src(p) = -1.
at::Tensor padded(const at::Tensor& sig, int64_t pad, const c10::SymInt& span, const std::string& mode);

// The adjoint of padded: v [B, span] over padded positions -> [B, length], each position's value added onto the
// sample it reads (dropped where it reads zero padding).
at::Tensor folded(const at::Tensor& v, int64_t pad, const c10::SymInt& length, const std::string& mode);

// [..., span] -> [..., n_frames, n_fft]: span = n_fft + hop * (n_frames - 1) holds exactly n_frames frames.
at::Tensor frames_of(const at::Tensor& sig, int64_t n_fft, int64_t hop);

// [B, n_frames, n_fft] -> [B, span]: frames summed at n * hop (real or complex). Deterministic, differentiable, and
// free of guards on symbolic sizes.
at::Tensor overlap_add(const at::Tensor& frames, int64_t hop);

// sum_n v[p - n*hop] of a frame v repeated over n_frames frames, at every position p of the span: with v = w * w the
// window envelope (complex for a complex window, as torch.istft's).
at::Tensor frame_sum(const at::Tensor& v, int64_t hop, const c10::SymInt& n_frames);

// h(p) = 1 / envelope(p) of a real window, 0 below the NOLA threshold (kernels::envelope_scale).
at::Tensor envelope_scale(const at::Tensor& window, int64_t hop, const c10::SymInt& n_frames);

}  // namespace geometry
}  // namespace spectro
