// spectro — the CPU backend of the core ops and of the mel frontend: ATen's FFT (frames_fft.cpp) a chunk of frames at
// a time, with the framing / overlap-add kernels of kernels/cpu/frame_ola.h around each chunk in the thread that
// transforms it (at::parallel_for), so that the frames stay in that core's cache and never reach memory as a whole;
// for the mel frontend the chunk's spectrum goes on, in the same thread, to powers, the projection onto the bands and
// the log stage (kernels/cpu/mel.h), so that no spectrum reaches memory either; its backwards recompute each chunk's
// spectrum and write that chunk's dL/dX.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "../kernels/cpu/frame_ola.h"
#include "../kernels/cpu/mel.h"
#include "cpu_parallel.h"
#include "mkl_dft.h"
#include "ops.h"

namespace spectro {

namespace {

at::Tensor analysis_cpu(const at::Tensor& x_in, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                        int64_t n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                        c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const OpArgs a = check_analysis(x_in, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode),
                                  env_normalize, std::string(fft_mode), scale, out_dtype);
  if (x_in.size(0) == 0) return empty_analysis(a);
  const at::Tensor x = signal_for_fft(a);
  const int64_t rows = x.size(0) * n_frames;
  at::Tensor spec = at::empty({x.size(0), n_frames, a.bins}, x.options().dtype(a.complex_type));
  const at::Tensor spec_rows = spec.view({rows, a.bins});
  at::Tensor no_frames;
  with_analysis_params(x, a.window, no_frames, a.g, a.scale, [&](auto& p) {
    using V = std::remove_const_t<std::remove_pointer_t<decltype(p.x)>>;
    const int64_t per_chunk = kernels::cpu::chunk_rows<V>(a.g, p.batch, at::get_num_threads());
    kernels::cpu::analysis_chunked(p, per_chunk, AtenParallelFor{}, [&](int64_t begin, int64_t end, const V* f) {
      const at::Tensor frames = at::from_blob(const_cast<V*>(f), {end - begin, n_fft}, x.options());
      const at::Tensor dst = spec_rows.narrow(0, begin, end - begin);
      if (!frames_to_spectrum_into(a, frames, dst)) dst.copy_(frames_to_spectrum(a, frames));
    });
  });
  // out_dtype: computed in single precision, then rounded once per element (a conversion pass).
  return to_out_dtype(a, spec.transpose(1, 2));
}

at::Tensor synthesis_cpu(const at::Tensor& spec_in, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                         int64_t length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                         c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const OpArgs a = check_synthesis(spec_in, window, n_fft, hop_length, length, pad, std::string(pad_mode),
                                   env_normalize, std::string(fft_mode), scale, out_dtype);
  if (spec_in.size(0) == 0) return empty_synthesis(a);
  const at::Tensor spec = spectrum_for_fft(a);
  const at::Tensor spec_frames = spec.transpose(1, 2);  // [batch, frames, bins]
  const int64_t n_frames = a.g.n_frames;
  const at::ScalarType frame_type = a.mode == FftMode::Ifft ? a.complex_type : a.signal_type;
  at::Tensor out = at::empty({spec.size(0), length}, spec.options().dtype(frame_type));
  at::Tensor no_frames;
  with_synthesis_params(no_frames, a.window, out, a.g, a.scale, [&](auto& p) {
    using V = std::remove_pointer_t<decltype(p.out)>;
    const int64_t per_chunk = kernels::cpu::chunk_rows<V>(a.g, p.batch, 2 * at::get_num_threads());
    kernels::cpu::synthesis_chunked(p, per_chunk, AtenParallelFor{}, [&](int64_t begin, int64_t end, auto&& add) {
      for (int64_t r = begin; r < end;) {  // one FFT per batch row the chunk touches
        const int64_t b = r / n_frames, n = r % n_frames, count = std::min(end - r, n_frames - n);
        const at::Tensor frames = spectrum_to_frames(a, spec_frames.select(0, b).narrow(0, n, count)).contiguous();
        add(r, r + count, reinterpret_cast<const V*>(frames.const_data_ptr()));
        r += count;
      }
    });
  });
  // out_dtype: computed in single precision, then rounded once per element (a conversion pass).
  return to_out_dtype(a, out);
}

// A chunk's projection onto the mel bands and back: over each band's nonzero bins where the basis is sparse (a
// triangular filterbank: kernels/cpu/mel.h), else ATen's matrix product with the dense basis. Decided once per call
// from the basis alone (both give the same sums to float rounding).
template <typename R>
class MelProjection {
 public:
  explicit MelProjection(const at::Tensor& basis) : basis_(basis), n_mels_(basis.size(0)), bins_(basis.size(1)) {
    band_.resize(2 * n_mels_);
    kernels::cpu::mel_band_ranges(basis.const_data_ptr<R>(), n_mels_, bins_, band_.data());
    sparse_ = 8 * kernels::cpu::mel_band_work(band_.data(), n_mels_) <= n_mels_ * bins_;
    if (!sparse_) basis_t_ = basis.t().contiguous();
  }
  // powers [rows, bins'] -> band sums [rows, n_mels]
  at::Tensor forward(const at::Tensor& powers) const {
    if (!sparse_) return at::mm(powers, basis_t_);
    at::Tensor mel = at::empty({powers.size(0), n_mels_}, powers.options());
    kernels::cpu::mel_project(powers.const_data_ptr<R>(), powers.size(0), bins_, basis_.const_data_ptr<R>(),
                              band_.data(), n_mels_, mel.mutable_data_ptr<R>());
    return mel;
  }
  // coefficients [rows, n_mels] -> dL/dP [rows, bins']
  at::Tensor backward(const at::Tensor& coef) const {
    if (!sparse_) return at::mm(coef, basis_);
    at::Tensor gp = at::empty({coef.size(0), bins_}, coef.options());
    kernels::cpu::mel_project_back(coef.const_data_ptr<R>(), coef.size(0), n_mels_, basis_.const_data_ptr<R>(),
                                   band_.data(), bins_, gp.mutable_data_ptr<R>());
    return gp;
  }

 private:
  at::Tensor basis_, basis_t_;
  int64_t n_mels_, bins_;
  std::vector<int64_t> band_;
  bool sparse_ = false;
};


// The mel frontend's analysis a chunk of frames at a time (x: the signal as signal_for_fft gives it): in the thread
// that frames a chunk, its spectrum and powers, then body(begin, end, spec, powers, project, st) with spec the
// chunk's [rows, n_fft / 2 + 1] complex values, powers [rows, bins'], the projection and the stages in x's real type.
template <class Body>
void for_mel_chunks(const MelArgs& m, const at::Tensor& x, const char* op, Body&& body) {
  const OpArgs& a = m.analysis;
  const int64_t n_fft = a.g.n_fft, basis_bins = m.basis.size(1);
  at::Tensor no_frames;
  with_analysis_params(x, a.window, no_frames, a.g, a.scale, [&](auto& p) {
    using R = std::remove_const_t<std::remove_pointer_t<decltype(p.x)>>;
    if constexpr (std::is_floating_point_v<R>) {
      using Cx = kernels::Complex<R>;
      const kernels::MelStages<R> st = m.stages.as<R>();
      const MelProjection<R> project(m.basis);
      const int64_t per_chunk = kernels::cpu::chunk_rows<R>(a.g, p.batch, at::get_num_threads());
      kernels::cpu::analysis_chunked(p, per_chunk, AtenParallelFor{}, [&](int64_t begin, int64_t end, const R* f) {
        const int64_t rows = end - begin;
        const at::Tensor frames = at::from_blob(const_cast<R*>(f), {rows, n_fft}, x.options());
        const at::Tensor spec = frames_to_spectrum(a, frames).contiguous();  // [rows, n_fft / 2 + 1]
        const Cx* spec_data = reinterpret_cast<const Cx*>(spec.const_data_ptr());
        at::Tensor powers = at::empty({rows, basis_bins}, x.options());
        kernels::cpu::mel_powers(spec_data, rows, spec.size(1), basis_bins, st, powers.mutable_data_ptr<R>());
        body(begin, end, spec_data, powers, project, st);
      });
    } else {
      TORCH_INTERNAL_ASSERT(false, op, ": real signals only");
    }
  });
}

// dL/dX of the mel frontend, the backwards' common body: per chunk (for_mel_chunks) the band sums where need_mel,
// then coefs(begin, end, mel, coef, stages) forms the chunk's dL/d(band sums) [rows, n_mels] (mel: null unless
// need_mel), the projection takes them back onto the bins, and the last stage writes dL/dX of the chunk's rows.
// Returns [batch, bins, frames] over a frame-major buffer.
template <class Coefs>
at::Tensor mel_backward_chunked(const MelArgs& m, int64_t n_frames, bool need_mel, Coefs&& coefs) {
  const OpArgs& a = m.analysis;
  const int64_t n_mels = m.basis.size(0), basis_bins = m.basis.size(1), bins = a.g.n_fft / 2 + 1;
  const at::Tensor x = signal_for_fft(a);
  at::Tensor gspec = at::empty_strided({x.size(0), bins, n_frames}, {n_frames * bins, 1, bins},
                                       x.options().dtype(c10::toComplexType(x.scalar_type())));
  if (x.size(0) == 0 || n_frames == 0) return gspec;
  for_mel_chunks(m, x, "spectro::mel_analysis_backward",
                 [&](int64_t begin, int64_t end, const auto* spec, const at::Tensor& powers, const auto& project,
                     const auto& st) {
                   using Cx = std::remove_const_t<std::remove_pointer_t<decltype(spec)>>;
                   using R = decltype(Cx::re);
                   const int64_t rows = end - begin;
                   const at::Tensor mel = need_mel ? project.forward(powers) : at::Tensor();  // [rows, n_mels]
                   at::Tensor coef = at::empty({rows, n_mels}, x.options());
                   coefs(begin, end, mel.defined() ? mel.template const_data_ptr<R>() : nullptr,
                         coef.template mutable_data_ptr<R>(), st);
                   const at::Tensor gp = project.backward(coef);  // dL/dP [rows, bins']
                   kernels::cpu::mel_grad_spectrum(spec, gp.template const_data_ptr<R>(), rows, bins, basis_bins, st,
                                                   reinterpret_cast<Cx*>(gspec.mutable_data_ptr()) + begin * bins);
                 });
  return gspec;
}

}  // namespace

at::Tensor mel_analysis_cpu(const at::Tensor& x_in, const at::Tensor& window, const at::Tensor& basis_in,
                            int64_t n_fft, int64_t hop_length, int64_t n_frames, int64_t pad,
                            c10::string_view pad_mode, double scale, double power, double mag_eps,
                            c10::string_view log, double log_eps, double log_scale) {
  const MelArgs m = check_mel(x_in, window, basis_in, n_fft, hop_length, n_frames, pad, std::string(pad_mode), scale,
                              power, mag_eps, std::string(log), log_eps, log_scale);
  const int64_t n_mels = m.basis.size(0);
  const at::Tensor x = signal_for_fft(m.analysis);
  at::Tensor out = at::empty({x.size(0), n_mels, n_frames}, x.options());
  if (x.size(0) == 0) return out;
  for_mel_chunks(m, x, "spectro::mel_analysis",
                 [&](int64_t begin, int64_t end, const auto* spec, const at::Tensor& powers, const auto& project,
                     const auto& st) {
                   using R = decltype(std::remove_pointer_t<decltype(spec)>::re);
                   const at::Tensor mel = project.forward(powers);  // [rows, n_mels]
                   kernels::cpu::mel_log_store(mel.template const_data_ptr<R>(), begin, end, n_frames, n_mels, st,
                                               out.template mutable_data_ptr<R>());
                 });
  return out;
}

at::Tensor mel_analysis_backward_cpu(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                     const at::Tensor& basis, int64_t n_fft, int64_t hop_length, int64_t n_frames,
                                     int64_t pad, c10::string_view pad_mode, double scale, double power,
                                     double mag_eps, c10::string_view log, double log_eps, double log_scale) {
  const MelArgs m = check_mel(x, window, basis, n_fft, hop_length, n_frames, pad, std::string(pad_mode), scale,
                              power, mag_eps, std::string(log), log_eps, log_scale);
  check_mel_grad(grad, m, n_frames);
  const at::Tensor g = grad.to(m.analysis.signal_type).contiguous();
  const int64_t n_mels = m.basis.size(0);
  return mel_backward_chunked(m, n_frames, m.stages.log != kernels::MelLog::None,
                              [&](int64_t begin, int64_t end, const auto* mel, auto* coef, const auto& st) {
                                using R = std::remove_pointer_t<decltype(coef)>;
                                kernels::cpu::mel_grad_coefs(g.const_data_ptr<R>(), mel, begin, end, n_frames,
                                                             n_mels, st, coef);
                              });
}

at::Tensor mel_l1_backward_cpu(const at::Tensor& grad_loss, const at::Tensor& target, const at::Tensor& x,
                               const at::Tensor& window, const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                               int64_t n_frames, int64_t pad, c10::string_view pad_mode, double scale, double power,
                               double mag_eps, c10::string_view log, double log_eps, double log_scale, double weight) {
  const MelArgs m = check_mel(x, window, basis, n_fft, hop_length, n_frames, pad, std::string(pad_mode), scale,
                              power, mag_eps, std::string(log), log_eps, log_scale);
  check_mel_l1(grad_loss, target, m, n_frames);
  const at::Tensor t = target.to(m.analysis.signal_type).contiguous();
  const double g_loss = grad_loss.item<double>();
  const int64_t n_mels = m.basis.size(0);
  return mel_backward_chunked(m, n_frames, true,
                              [&](int64_t begin, int64_t end, const auto* mel, auto* coef, const auto& st) {
                                using R = std::remove_pointer_t<decltype(coef)>;
                                kernels::cpu::mel_l1_coefs(t.const_data_ptr<R>(), mel, begin, end, n_frames, n_mels,
                                                           static_cast<R>(g_loss) * static_cast<R>(weight), st, coef);
                              });
}

}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CPU, m) {
  m.impl("analysis", &spectro::analysis_cpu);
  m.impl("synthesis", &spectro::synthesis_cpu);
}
