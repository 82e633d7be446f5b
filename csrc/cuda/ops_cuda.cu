// spectro — CUDA implementations of spectro::analysis and spectro::synthesis: the single-kernel path
// (kernels/cuda/fused.cuh), auto's choice where it applies (use_fused below), and the two-kernel path (framing /
// overlap-add kernels from kernels/cuda/frame_ola.cuh around ATen's cuFFT). Launchers are instantiated per dtype in
// kernels_*.cu and fused_*.cu.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

#include <type_traits>

#include "../kernels/cuda/frame_ola.cuh"
#include "../kernels/cuda/fused.cuh"
#include "../api/nola.h"
#include "../spectro.h"

namespace spectro {
namespace kernels {
namespace cuda {
// Instantiated in fused_{f32,f64,c64,c128}.cu (frame_ola.cuh declares its own launchers extern).
#define SPECTRO_EXTERN_FUSED(V)                                                                               \
  extern template cudaError_t launch_fused_analysis<V>(const FusedAnalysisParams<V>&, cudaStream_t);       \
  extern template cudaError_t launch_fused_synthesis<V>(const FusedSynthesisParams<V>&, cudaStream_t);
SPECTRO_EXTERN_FUSED(float)
SPECTRO_EXTERN_FUSED(double)
SPECTRO_EXTERN_FUSED(Complex<float>)
SPECTRO_EXTERN_FUSED(Complex<double>)
#undef SPECTRO_EXTERN_FUSED
}  // namespace cuda
}  // namespace kernels

namespace {

// The framing / overlap-add variant of the two-kernel path.
kernels::cuda::Path frames_path() {
  switch (kernel_path()) {
    case KernelPath::Tiled: return kernels::cuda::Path::Tiled;
    case KernelPath::Direct: return kernels::cuda::Path::Direct;
    default: return kernels::cuda::Path::Auto;
  }
}

void cuda_frames(const at::Tensor& x, const at::Tensor& window, at::Tensor& frames, const kernels::Geometry& g,
                 double scale) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  with_analysis_params(x, window, frames, g, scale, [&](auto& a) {
    C10_CUDA_CHECK(kernels::cuda::launch_analysis(a, frames_path(), stream));
  });
}

void cuda_overlap_add(const at::Tensor& frames, const at::Tensor& window, at::Tensor& out,
                      const kernels::Geometry& g, double scale) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  with_synthesis_params(frames, window, out, g, scale, [&](auto& s) {
    C10_CUDA_CHECK(kernels::cuda::launch_synthesis(s, frames_path(), stream));
  });
}

constexpr int64_t kFusedMaxSynthesisHop = int64_t{1} << 30;

bool fused_covers(const OpArgs& a, bool synthesis) {
  bool ok = false;
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(a.signal_type, "spectro_fused_supported", [&] {
    using V = typename ValueOf<scalar_t>::type;
    ok = kernels::cuda::fused_supported<V>(a.g.n_fft, kernels::complex_fft(a.mode));
  });
  // The fused synthesis does its frame arithmetic in 32-bit ints relative to a segment: hop_length up to 2^30 (only
  // the backward of an stft over more than 2^30 samples could have a longer hop).
  return ok && (!synthesis || a.g.hop <= kFusedMaxSynthesisHop);
}

// Where auto takes the single-kernel path: single precision (float32 / complex64), n_fft <= 4096, within what the
// fused kernels cover. Measured on an H100 and an H200 (notes/fused_perf.md): faster than framing + cuFFT at every
// benchmark configuration inside these bounds (synthesis at n_fft 4096 since the owner-per-position overlap-add:
// 0.38 against 0.55 ms at B=2 T=11.7M on the H200). Double precision is correct but not tuned (register spills).
// Everything else takes the two-kernel path. Both paths give the same results within float rounding (tests force
// each: kernel_path 'fused' / 'tiled' / 'direct' / 'two_kernel').
constexpr int64_t kAutoFusedMaxAnalysis = 4096;
constexpr int64_t kAutoFusedMaxSynthesis = 4096;

// Whether this call takes the single-kernel path: under auto where the policy above says so; always when forced
// (kernel_path('fused')), which raises where the fused kernels cannot run: n_fft (n_fft / 2 for real signals) must
// be 2^a 3^b 5^c within shared memory and, for synthesis, hop_length <= 2^30.
bool use_fused(const OpArgs& a, bool synthesis) {
  const KernelPath path = kernel_path();
  if (path == KernelPath::Auto) {
    const bool single = a.signal_type == at::kFloat || a.signal_type == at::kComplexFloat;
    const int64_t max_n = synthesis ? kAutoFusedMaxSynthesis : kAutoFusedMaxAnalysis;
    return single && a.g.n_fft <= max_n && fused_covers(a, synthesis);
  }
  if (path != KernelPath::Fused) return false;
  TORCH_CHECK(fused_covers(a, synthesis), "spectro: kernel_path('fused') cannot run ",
              synthesis ? "synthesis" : "analysis", " with n_fft=", a.g.n_fft, " and hop_length=", a.g.hop,
              " (fused kernels need n_fft (or n_fft/2 for real signals) = 2^a 3^b 5^c and, for synthesis, "
              "hop_length <= 2^30)");
  return true;
}

at::Tensor analysis_fused(const OpArgs& a) {
  // kernel_dtype "mixed": the kernel stores the complex64 result as complex32 itself (no float copy, no second pass).
  const bool half_out = a.complex_type == at::kComplexFloat && a.out_type == at::kComplexHalf;
  // The result [batch, bins, frames] over a frame-major buffer (torch.stft's strides), allocated as such: no
  // transposed view to build afterwards (host time).
  const int64_t batch = a.input.size(0), frames = a.g.n_frames, bins = a.bins;
  at::Tensor spec =
      at::empty_strided({batch, bins, frames}, {frames * bins, 1, bins}, a.input.options().dtype(a.out_type));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  at::Tensor unused;
  with_analysis_params(a.input, a.window, unused, a.g, a.scale, [&](auto& base) {
    using V = std::remove_cv_t<std::remove_reference_t<decltype(*base.x)>>;
    using R = typename kernels::RealOf<V>::type;
    kernels::cuda::FusedAnalysisParams<V> p;
    p.a = base;
    // A half-precision signal (base.x is null then) is read by the kernel itself, converted to float on load.
    if (base.x == nullptr) {
      p.x_half = a.input.const_data_ptr();
      p.x_half_bf16 = a.input.scalar_type() == at::kBFloat16;
    }
    if (half_out) {
      p.spec_half = reinterpret_cast<__half2*>(spec.mutable_data_ptr());
    } else {
      TORCH_INTERNAL_ASSERT(a.out_type == a.complex_type);
      p.spec = reinterpret_cast<kernels::Complex<R>*>(spec.mutable_data_ptr());
    }
    p.mode = a.mode;
    C10_CUDA_CHECK(kernels::cuda::launch_fused_analysis(p, stream));
  });
  return spec;
}

// kernel_dtype "mixed" in the fused synthesis: float16 / bfloat16 stored by the kernel itself (float signals with
// constant padding: istft; the fold of the other paddings adds to the output in the compute type).
bool fused_half_output(const OpArgs& a) {
  return a.signal_type == at::kFloat && (a.out_type == at::kHalf || a.out_type == at::kBFloat16) &&
         kernels::cuda::fused_side_length(a.g) == 0;
}

// The spectrum of a fused synthesis and its strides: complex64 / complex128 through p.spec, or complex32 through
// p.spec_c32 (read by the kernel, converted on load).
template <typename V>
void set_spectrum(kernels::cuda::FusedSynthesisParams<V>& p, const at::Tensor& spec) {
  using R = typename kernels::RealOf<V>::type;
  if (spec.scalar_type() == at::kComplexHalf) {
    p.spec_c32 = static_cast<const __half2*>(spec.const_data_ptr());
  } else {
    p.spec = reinterpret_cast<const kernels::Complex<R>*>(spec.const_data_ptr());
  }
  p.stride_b = spec.stride(0);
  p.stride_bin = spec.stride(1);
  p.stride_n = spec.stride(2);
}

at::Tensor synthesis_fused_half(const OpArgs& a) {
  const at::Tensor& spec = a.input;
  at::Tensor out = at::empty({spec.size(0), a.g.length}, spec.options().dtype(a.out_type));
  kernels::cuda::FusedSynthesisParams<float> p;
  p.s.window = a.window.const_data_ptr<float>();
  p.s.batch = spec.size(0);
  p.s.g = a.g;
  p.s.scale = static_cast<float>(a.scale);
  set_spectrum(p, spec);
  p.mode = a.mode;
  if (a.out_type == at::kHalf) {
    p.out_half = reinterpret_cast<__half*>(out.mutable_data_ptr());
  } else {
    p.out_bf16 = reinterpret_cast<__nv_bfloat16*>(out.mutable_data_ptr());
  }
  C10_CUDA_CHECK(kernels::cuda::launch_fused_synthesis(p, at::cuda::getCurrentCUDAStream()));
  return out;
}

at::Tensor synthesis_fused(const OpArgs& a) {
  if (fused_half_output(a)) return synthesis_fused_half(a);
  const at::Tensor& spec = a.input;
  at::Tensor out = at::empty({spec.size(0), a.g.length}, spec.options().dtype(a.signal_type));
  // Reflect / replicate / circular padding: the padded positions outside the signal, folded back after the synthesis.
  const int64_t side_length = kernels::cuda::fused_side_length(a.g);
  at::Tensor side = side_length > 0 ? at::empty({spec.size(0), side_length}, out.options()) : at::Tensor();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  at::Tensor unused;
  with_synthesis_params(unused, a.window, out, a.g, a.scale, [&](auto& base) {
    using V = std::remove_cv_t<std::remove_reference_t<decltype(*base.out)>>;
    kernels::cuda::FusedSynthesisParams<V> p;
    p.s = base;
    set_spectrum(p, spec);
    p.mode = a.mode;
    if (side.defined()) p.side = static_cast<V*>(side.mutable_data_ptr());
    C10_CUDA_CHECK(kernels::cuda::launch_fused_synthesis(p, stream));
  });
  return out;
}

at::Tensor analysis_cuda(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                         int64_t n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                         c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const c10::cuda::CUDAGuard guard(x.device());
  const OpArgs a = check_analysis(x, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode), env_normalize,
                                  std::string(fft_mode), scale, out_dtype);
  if (x.size(0) == 0) return empty_analysis(a);
  // out_dtype: the fused kernels store half precision themselves; the two-kernel path computes in single precision,
  // then converts.
  if (use_fused(a, false)) return analysis_fused(a);
  return to_out_dtype(a, analysis_via_frames(a, &cuda_frames));
}

at::Tensor synthesis_cuda(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                          int64_t length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                          c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const c10::cuda::CUDAGuard guard(spec.device());
  const OpArgs a = check_synthesis(spec, window, n_fft, hop_length, length, pad, std::string(pad_mode),
                                   env_normalize, std::string(fft_mode), scale, out_dtype);
  if (spec.size(0) == 0) return empty_synthesis(a);
  // out_dtype: the fused synthesis stores float16 / bfloat16 itself where fused_half_output says so; otherwise (and
  // on the two-kernel path) the result is computed in single precision, then converted.
  if (use_fused(a, true)) return to_out_dtype(a, synthesis_fused(a));
  return to_out_dtype(a, synthesis_via_frames(a, &cuda_overlap_add));
}

// Whether the current stream of `device` is being captured into a CUDA graph (istft's NOLA check skips or refuses
// its host read then).
bool capturing(const at::Device& device) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(at::cuda::getCurrentCUDAStream(device.index()), &status));
  return status != cudaStreamCaptureStatusNone;
}
const bool capture_query_installed = (api::set_capture_query(&capturing), true);

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CUDA, m) {
  m.impl("analysis", &spectro::analysis_cuda);
  m.impl("synthesis", &spectro::synthesis_cuda);
}
