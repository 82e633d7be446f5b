// spectro — the frame geometry with ATen ops (see aten_geometry.h).
#include "aten_geometry.h"

#include "../kernels/common.h"

namespace spectro {
namespace geometry {

int64_t static_dim(const at::Tensor& t, int64_t d) { return t.sym_size(d).guard_int(__FILE__, __LINE__); }

at::Tensor source_index(const c10::SymInt& length, int64_t pad, const c10::SymInt& span, const std::string& mode,
                        const at::Device& dev) {
  const at::Tensor i = at::arange(c10::Scalar(span), at::TensorOptions().dtype(at::kLong).device(dev)) - pad;
  const c10::Scalar len(length);
  const c10::Scalar last2(2 * (length - 1));
  if (mode == "reflect") return at::where(i < 0, -i, at::where(i >= len, at::neg(i).add(last2), i));
  if (mode == "replicate") return at::clamp(i, c10::Scalar(0), c10::Scalar(length - 1));
  if (mode == "circular") return at::where(i < 0, i.add(len), at::where(i >= len, i.sub(len), i));
  return at::where((i >= 0).logical_and(i < len), i, at::full_like(i, -1));
}

at::Tensor padded(const at::Tensor& sig, int64_t pad, const c10::SymInt& span, const std::string& mode) {
  const at::Tensor idx = source_index(sig.sym_size(-1), pad, span, mode, sig.device());
  const at::Tensor out = sig.index_select(1, idx.clamp_min(0));
  return at::where(idx >= 0, out, at::zeros({}, out.options()));
}

at::Tensor folded(const at::Tensor& v, int64_t pad, const c10::SymInt& length, const std::string& mode) {
  const at::Tensor idx = source_index(length, pad, v.sym_size(1), mode, v.device());
  const at::Tensor src = at::where(idx >= 0, v, at::zeros({}, v.options()));
  return at::zeros_symint({v.sym_size(0), length}, v.options()).index_add(1, idx.clamp_min(0), src);
}

at::Tensor frames_of(const at::Tensor& sig, int64_t n_fft, int64_t hop) { return sig.unfold(-1, n_fft, hop); }

// Written as ceil(n_fft / hop) shifted sums of hop-wide column blocks (pads and adds), unlike col2im, whose shape
// check specialises the number of frames under torch.compile(dynamic=True).
at::Tensor overlap_add(const at::Tensor& frames, int64_t hop) {
  const c10::SymInt b = frames.sym_size(0), n_frames = frames.sym_size(1);
  const int64_t n_fft = static_dim(frames, 2);
  const int64_t blocks = (n_fft + hop - 1) / hop;
  at::Tensor f = blocks * hop == n_fft ? frames : at::constant_pad_nd(frames, {0, blocks * hop - n_fft});
  f = f.reshape_symint({b, n_frames, c10::SymInt(blocks), c10::SymInt(hop)});
  at::Tensor out;
  for (int64_t j = 0; j < blocks; ++j) {
    const at::Tensor piece = at::constant_pad_nd(f.select(2, j).reshape_symint({b, n_frames * hop}),
                                                 {j * hop, (blocks - 1 - j) * hop});
    out = out.defined() ? out + piece : piece;
  }
  // out has (n_frames - 1) * hop + blocks * hop samples; the last blocks * hop - n_fft are zero padding.
  return blocks * hop == n_fft ? out : out.narrow_symint(1, 0, (n_frames - 1) * hop + n_fft);
}

at::Tensor frame_sum(const at::Tensor& v, int64_t hop, const c10::SymInt& n_frames) {
  return overlap_add(v.reshape({1, 1, -1}).expand_symint({c10::SymInt(1), n_frames, v.sym_size(0)}), hop)[0];
}

at::Tensor envelope_scale(const at::Tensor& window, int64_t hop, const c10::SymInt& n_frames) {
  const at::Tensor env = frame_sum(window * window, hop, n_frames);
  const at::Tensor small = env < kernels::kEnvelopeEps;
  return at::where(small, at::zeros_like(env), 1.0 / at::where(small, at::ones_like(env), env));
}

}  // namespace geometry
}  // namespace spectro
