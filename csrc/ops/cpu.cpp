// spectro — the CPU backend of the core ops: the framing / overlap-add kernels of kernels/cpu/frame_ola.h (with
// at::parallel_for) around ATen's FFT.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../kernels/cpu/frame_ola.h"
#include "ops.h"

namespace spectro {

using kernels::Geometry;

namespace {

struct AtenParallelFor {
  template <typename F>
  void operator()(int64_t begin, int64_t end, int64_t grain, F&& fn) const {
    at::parallel_for(begin, end, grain, fn);
  }
};

void cpu_frames(const at::Tensor& x, const at::Tensor& window, at::Tensor& frames, const Geometry& g, double scale) {
  with_analysis_params(x, window, frames, g, scale, [](auto& a) { kernels::cpu::analysis(a, AtenParallelFor{}); });
}

void cpu_overlap_add(const at::Tensor& frames, const at::Tensor& window, at::Tensor& out, const Geometry& g,
                     double scale) {
  with_synthesis_params(frames, window, out, g, scale,
                        [](auto& s) { kernels::cpu::synthesis(s, AtenParallelFor{}); });
}

at::Tensor analysis_cpu(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                        int64_t n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                        c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const OpArgs a = check_analysis(x, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode), env_normalize,
                                  std::string(fft_mode), scale, out_dtype);
  if (x.size(0) == 0) return empty_analysis(a);
  // out_dtype: computed in single precision, then rounded once per element (a conversion pass).
  return to_out_dtype(a, analysis_via_frames(a, &cpu_frames));
}

at::Tensor synthesis_cpu(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                         int64_t length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                         c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const OpArgs a = check_synthesis(spec, window, n_fft, hop_length, length, pad, std::string(pad_mode),
                                   env_normalize, std::string(fft_mode), scale, out_dtype);
  if (spec.size(0) == 0) return empty_synthesis(a);
  // out_dtype: computed in single precision, then rounded once per element (a conversion pass).
  return to_out_dtype(a, synthesis_via_frames(a, &cpu_overlap_add));
}
}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CPU, m) {
  m.impl("analysis", &spectro::analysis_cpu);
  m.impl("synthesis", &spectro::synthesis_cpu);
}
