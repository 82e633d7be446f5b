// spectro — the op layer (internal): the core ops spectro::analysis / synthesis, their argument checks, their
// typed dispatcher calls, the two-kernel path, and the kernel-path setting; shared by the backends (cpu.cpp,
// cuda.cu, meta.cpp), the autograd (csrc/autograd) and the torch-semantics layer (csrc/api).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "../kernels/common.h"
#include "../kernels/fft_mode.h"
#include "../kernels/mel_log.h"

namespace spectro {

// The FFT modes (kernels/fft_mode.h): which FFT an op applies between its frames and its spectrum.
using kernels::FftMode;

FftMode parse_analysis_mode(const std::string& s);
FftMode parse_synthesis_mode(const std::string& s);
kernels::PadMode parse_pad_mode(const std::string& s);

// Which kernel variant the CUDA backend runs (spectro.kernel_path; tests force each one, Auto in production):
//   auto        the single kernel with the FFT inside where it applies and was measured faster, else the two-kernel
//               path (framing / overlap-add kernel + cuFFT);
//   tiled       the two-kernel path with the shared-memory tiled framing / overlap-add kernel;
//   direct      the two-kernel path with the one-thread-per-element framing / overlap-add kernel;
//   fused       the single kernel wherever it can run (an error elsewhere);
//   two_kernel  the two-kernel path with its own choice of framing / overlap-add kernel.
enum class KernelPath : int64_t { Auto = 0, Tiled = 1, Direct = 2, Fused = 3, TwoKernel = 4 };
constexpr int kKernelPaths = 5;
constexpr const char* kKernelPathNames[kKernelPaths] = {"auto", "tiled", "direct", "fused", "two_kernel"};
KernelPath kernel_path();
// Sets the kernel path by name and returns the previous one's name.
std::string set_kernel_path(const std::string& name);

// Checks every argument of spectro::analysis / spectro::synthesis and returns the kernel geometry.
// `signal_length` is T for analysis (x.size(1)) and the output length for synthesis.
kernels::Geometry check_geometry(const char* op, int64_t n_fft, int64_t hop_length, int64_t n_frames,
                                 int64_t signal_length, int64_t pad, const std::string& pad_mode,
                                 bool env_normalize);
void check_window(const char* op, const at::Tensor& window, int64_t n_fft, const at::Tensor& like);

// The dtype an input stored in `stored` is computed in: half precision (float16, bfloat16, complex32) is read as
// single precision (float32, complex64); every other dtype is computed in itself.
inline at::ScalarType compute_type_of(at::ScalarType stored) {
  switch (stored) {
    case at::kHalf:
    case at::kBFloat16:
      return at::kFloat;
    case at::kComplexHalf:
      return at::kComplexFloat;
    default:
      return stored;
  }
}

// Validated arguments of one spectro::analysis / spectro::synthesis call.
struct OpArgs {
  // x [batch, T] (analysis) or spec [batch, bins, frames] (synthesis), in the caller's dtype: half precision
  // (float16 / bfloat16 signals, complex32 spectra) stays half here. Paths that cannot read half convert it to the
  // compute dtype (signal_type / complex_type) first; the fused CUDA kernels read it as it is.
  at::Tensor input;
  at::Tensor window;  // [n_fft], contiguous
  kernels::Geometry g;
  FftMode mode;
  int64_t bins;       // spectrum bins
  double scale;
  at::ScalarType signal_type;   // compute dtype of the signal side (x, or the synthesis output)
  at::ScalarType complex_type;  // compute dtype of the spectrum
  // dtype of the op's result: the compute dtype (complex_type for analysis, signal_type for synthesis) or, when the
  // call passed out_dtype, its half-precision counterpart (check_out_dtype).
  at::ScalarType out_type;
};

// The result dtype of an op whose computation produces `computed` (complex64 / complex128 for analysis; float32 /
// float64 / complex64 / complex128 for synthesis): `computed` when out_dtype is None, else out_dtype, which must be
// `computed` itself or its half counterpart (complex64 -> complex32; float32 -> float16 or bfloat16). `op` names the
// op in the error message.
at::ScalarType check_out_dtype(const char* op, std::optional<at::ScalarType> out_dtype, at::ScalarType computed);

// The computed result (in a.complex_type / a.signal_type) as a.out_type: the same tensor when they agree, else one
// rounding per element into a tensor of the same shape and strides.
at::Tensor to_out_dtype(const OpArgs& a, const at::Tensor& result);

OpArgs check_analysis(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                      int64_t n_frames, int64_t pad, const std::string& pad_mode, bool env_normalize,
                      const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype);
OpArgs check_synthesis(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                       int64_t length, int64_t pad, const std::string& pad_mode, bool env_normalize,
                       const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype);

// spectro::analysis / spectro::synthesis through the dispatcher, from C++ (calls.cpp; the autograd: the backward of
// one op is the other; the torch-semantics layer; the Python binding). Typed calls: no argument boxing.
at::Tensor call_analysis(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop,
                         const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, bool env_normalize,
                         const std::string& fft_mode, double scale,
                         std::optional<at::ScalarType> out_dtype = std::nullopt);
at::Tensor call_synthesis(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop,
                          const c10::SymInt& length, int64_t pad, const std::string& pad_mode, bool env_normalize,
                          const std::string& fft_mode, double scale,
                          std::optional<at::ScalarType> out_dtype = std::nullopt);

// ---- spectro::mel_analysis (mel.cpp) ------------------------------------------------------------------------------
// The log stage of the mel frontend (kernels/mel_log.h), from the schema's `log` string (ValueError naming it).
using kernels::MelLog;
MelLog parse_mel_log(const std::string& s);
// Validated arguments of one spectro::mel_analysis call: the analysis' own (real signal, fft_mode "rfft").
struct MelArgs {
  OpArgs analysis;
  at::Tensor basis;  // [n_mels, bins'], contiguous
  kernels::MelStages<double> stages;  // power, mag_eps, the log stage
};
MelArgs check_mel(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                  int64_t hop_length, int64_t n_frames, int64_t pad, const std::string& pad_mode, double scale,
                  double power, double mag_eps, const std::string& log, double log_eps, double log_scale);
// The gradient of spectro::mel_analysis_backward: [batch, n_mels, n_frames] on x's device (error naming `grad`).
void check_mel_grad(const at::Tensor& grad, const MelArgs& m, int64_t n_frames);
// The arguments of spectro::mel_l1_backward besides the mel op's: grad_loss [] and target [batch, n_mels, n_frames],
// both on x's device (errors naming them).
void check_mel_l1(const at::Tensor& grad_loss, const at::Tensor& target, const MelArgs& m, int64_t n_frames);
// The same for spectro::mel_l1_backward_input's grad_loss and sign (int8 [batch, n_mels, n_frames]).
void check_mel_l1_sign(const at::Tensor& grad_loss, const at::Tensor& sign, const MelArgs& m, int64_t n_frames);
// The CPU backend's backwards (cpu.cpp): each chunk's spectrum recomputed, dL/dX of its rows written in the same
// thread; for dL/d mel given (mel_analysis_backward) and for an L1 loss against target mels (mel_l1_backward).
at::Tensor mel_analysis_backward_cpu(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                     const at::Tensor& basis, int64_t n_fft, int64_t hop_length, int64_t n_frames,
                                     int64_t pad, c10::string_view pad_mode, double scale, double power,
                                     double mag_eps, c10::string_view log, double log_eps, double log_scale);
at::Tensor mel_l1_backward_cpu(const at::Tensor& grad_loss, const at::Tensor& target, const at::Tensor& x,
                               const at::Tensor& window, const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                               int64_t n_frames, int64_t pad, c10::string_view pad_mode, double scale, double power,
                               double mag_eps, c10::string_view log, double log_eps, double log_scale, double weight);
// The CPU backend (cpu.cpp): the frames a chunk at a time through the FFT, powers, projection and log stage.
at::Tensor mel_analysis_cpu(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                            int64_t hop_length, int64_t n_frames, int64_t pad, c10::string_view pad_mode,
                            double scale, double power, double mag_eps, c10::string_view log, double log_eps,
                            double log_scale);
// The op's composite definition (spectro::analysis + ATen ops, differentiable): the CUDA fallback, the autograd
// kernel's path when gradients are needed (and the reference the backends are tested against).
at::Tensor mel_composite(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                         int64_t hop_length, const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode,
                         double scale, double power, double mag_eps, const std::string& log, double log_eps,
                         double log_scale);

// dL/dX of spectro::mel_analysis (its schema: mel_analysis_backward), composite: spectro::analysis + ATen ops. The
// result [batch, n_fft / 2 + 1, n_frames], complex, frame-major as the analysis' output.
at::Tensor mel_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                  const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                  const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, double scale,
                                  double power, double mag_eps, const std::string& log, double log_eps,
                                  double log_scale);
at::Tensor call_mel_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                             const at::Tensor& basis, int64_t n_fft, int64_t hop_length, const c10::SymInt& n_frames,
                             int64_t pad, const std::string& pad_mode, double scale, double power, double mag_eps,
                             const std::string& log, double log_eps, double log_scale);

// ---- spectro::stft_loss_sums (stft_loss.cpp) ---------------------------------------------------------------------
// Validated arguments of one call: the analysis of x (real, fft_mode "rfft", scale 1); y has x's shape and dtype.
struct LossArgs {
  OpArgs x;
  at::Tensor y;
  double eps;
  bool l2;  // distance "L2" (else "L1")
};
bool parse_loss_distance(const std::string& s);
LossArgs check_stft_loss(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                         int64_t hop_length, int64_t n_frames, int64_t pad, const std::string& pad_mode, double eps,
                         const std::string& distance);
// The composite definition (two spectro::analysis calls + ATen ops, differentiable) and the composite backward
// (dL/dX onesided, or with grad_target the packed G; frame layout as the analysis' result).
at::Tensor stft_loss_composite(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                               int64_t hop_length, const c10::SymInt& n_frames, int64_t pad,
                               const std::string& pad_mode, double eps, const std::string& distance);
at::Tensor stft_loss_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                        const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                                        const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode,
                                        double eps, const std::string& distance, bool grad_target);
at::Tensor call_stft_loss_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                   const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                                   const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, double eps,
                                   const std::string& distance, bool grad_target);

// The input gradient from a spectrum gradient G of the loss sums (call_stft_loss_backward's result): with x only
// (packed false) the onesided dL/dX, whose adjoint is the rfft analysis' ("irfft_half"): dL/dx, real; with y too, the
// packed x + i y gradient, whose adjoint is the complex analysis' ("ifft"): dL/dx + i dL/dy.
at::Tensor loss_input_grad(const at::Tensor& G, const at::Tensor& window, int64_t n_fft, int64_t hop,
                           const c10::SymInt& T, int64_t pad, const std::string& pad_mode, bool packed);

// ---- spectro::stft_loss (csrc/api/stft_loss.cpp; autograd node: csrc/autograd/stft_loss.cpp) ------------------
struct LossResolution {
  int64_t n_fft, hop, pad;
  c10::SymInt n_frames;
  c10::SymInt count;  // the divisor of the sums: bins x frames x batch for "mean", else 1
};
namespace api {
std::vector<LossResolution> stft_loss_plan(const at::Tensor& x, at::TensorList windows, at::IntArrayRef n_ffts,
                                           at::IntArrayRef hop_lengths, at::ArrayRef<double> weights,
                                           c10::string_view reduction);
at::Tensor stft_loss_rows(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                          const std::vector<LossResolution>& plan, double eps, c10::string_view distance);
std::tuple<at::Tensor, at::Tensor> stft_loss_combine(const at::Tensor& S, at::ArrayRef<double> weights, bool safe_sc);
std::tuple<at::Tensor, at::Tensor> stft_loss_composite(const at::Tensor& x, const at::Tensor& y,
                                                       at::TensorList windows, at::IntArrayRef n_ffts,
                                                       at::IntArrayRef hop_lengths, double eps,
                                                       c10::string_view distance, c10::string_view reduction,
                                                       at::ArrayRef<double> weights);
// spectro::stft_loss_forward's composite: (loss, terms [R, 3], S [R, 4]: each resolution's sums over its count).
std::tuple<at::Tensor, at::Tensor, at::Tensor> stft_loss_forward_composite(
    const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::IntArrayRef n_ffts,
    at::IntArrayRef hop_lengths, double eps, c10::string_view distance, c10::string_view reduction,
    at::ArrayRef<double> weights);
// spectro::stft_loss_backward's composite: the input gradient (loss_input_grad's, summed over the resolutions) from
// dL/dloss and dL/dterms (either may be absent) and the forward's S and terms.
at::Tensor stft_loss_backward_composite(const std::optional<at::Tensor>& grad_loss,
                                        const std::optional<at::Tensor>& grad_terms, const at::Tensor& x,
                                        const at::Tensor& y, at::TensorList windows, at::IntArrayRef n_ffts,
                                        at::IntArrayRef hop_lengths, double eps, c10::string_view distance,
                                        c10::string_view reduction, at::ArrayRef<double> weights,
                                        const at::Tensor& sums, const at::Tensor& terms, bool grad_target);
}  // namespace api

// ---- spectro::mel_loss (csrc/api/mel_loss.cpp; autograd node: csrc/autograd/mel_loss.cpp) ----------------------
struct MelLossScale {
  int64_t n_fft, hop, pad;
  c10::SymInt n_frames;
  at::Tensor window, basis;  // in x's dtype, the basis contiguous
};
namespace api {
std::vector<MelLossScale> mel_loss_plan(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                        at::TensorList bases, at::IntArrayRef hop_lengths, at::IntArrayRef pads,
                                        double clamp_eps);
// One scale's log-mels (pow / ln 10) ln max(M, clamp_eps), by spectro::mel_analysis.
at::Tensor mel_loss_log_mel(const at::Tensor& x, const MelLossScale& q, double clamp_eps, double pow, double mag_eps);
at::Tensor mel_loss_composite(const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::TensorList bases,
                              at::IntArrayRef hop_lengths, at::IntArrayRef pads, double clamp_eps, double pow,
                              double mag_eps, double log_weight, double mag_weight);
// spectro::mel_loss_forward: the log terms' loss and each scale's signs of log-mel x - log-mel y (int8), what the
// autograd node keeps for its backward; the composite of every backend but CUDA's (csrc/ops/cuda.cu).
using MelLossForward = std::tuple<at::Tensor, std::vector<at::Tensor>>;
MelLossForward mel_loss_forward_composite(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                          at::TensorList bases, at::IntArrayRef hop_lengths, at::IntArrayRef pads,
                                          double clamp_eps, double pow, double mag_eps, double log_weight);
// spectro::mel_loss_backward: the sum over the scales of mel_l1_backward_input (each scale's weight log_weight / its
// signs' count), dL/dx in x's compute dtype; the composite of every backend but CUDA's.
at::Tensor mel_loss_backward_composite(const at::Tensor& grad_loss, at::TensorList signs, const at::Tensor& x,
                                       at::TensorList windows, at::TensorList bases, at::IntArrayRef hop_lengths,
                                       at::IntArrayRef pads, double clamp_eps, double pow, double mag_eps,
                                       double log_weight);
// Scale i's weight of grad_loss in that sum, as (factor, grad_loss to use): log_weight / count with the count of
// its signs, or, where that count is symbolic, log_weight and grad_loss / count.
std::pair<double, at::Tensor> mel_loss_scale_grad(const at::Tensor& grad_loss, const at::Tensor& sign,
                                                  double log_weight);
}  // namespace api
// spectro::mel_l1_backward: dL/dX of weight * grad_loss * sum |mel_analysis(x) - target| (mel.cpp: its composite; on
// CUDA the mel kernel's backward with the gradient formed inside it).
at::Tensor mel_l1_backward_composite(const at::Tensor& grad_loss, const at::Tensor& target, const at::Tensor& x,
                                     const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                                     int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode,
                                     double scale, double power, double mag_eps, c10::string_view log, double log_eps,
                                     double log_scale, double weight);
at::Tensor call_mel_l1_backward(const at::Tensor& grad_loss, const at::Tensor& target, const at::Tensor& x,
                                const at::Tensor& window, const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, double scale,
                                double power, double mag_eps, const std::string& log, double log_eps,
                                double log_scale, double weight);

// spectro::mel_analysis_backward_input / mel_l1_backward_input: the input gradient dL/dx [batch, T] of the two
// backwards above (the L1 loss' from the signs of mel - target, int8), their dL/dX through the analysis' adjoint (mel.cpp: the composites; CUDA: one kernel where it
// covers the geometry, csrc/ops/cuda.cu).
at::Tensor mel_backward_input_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                        const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                        c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double scale,
                                        double power, double mag_eps, c10::string_view log, double log_eps,
                                        double log_scale);
at::Tensor mel_l1_backward_input_composite(const at::Tensor& grad_loss, const at::Tensor& sign,
                                           const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis,
                                           int64_t n_fft, int64_t hop_length, c10::SymInt n_frames, int64_t pad,
                                           c10::string_view pad_mode, double scale, double power, double mag_eps,
                                           c10::string_view log, double log_eps, double log_scale, double weight);
at::Tensor call_mel_backward_input(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                   const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                   const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode,
                                   double scale, double power, double mag_eps, const std::string& log, double log_eps,
                                   double log_scale);
at::Tensor call_mel_l1_backward_input(const at::Tensor& grad_loss, const at::Tensor& sign, const at::Tensor& x,
                                      const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                                      int64_t hop_length, const c10::SymInt& n_frames, int64_t pad,
                                      const std::string& pad_mode, double scale, double power, double mag_eps,
                                      const std::string& log, double log_eps, double log_scale, double weight);

// The dtype checks of an op's input (`name`: x or spec) and window, shared by the device and Meta kernels.
void check_input_dtypes(const char* op, const char* name, const at::Tensor& input, const at::Tensor& window,
                        bool want_complex, c10::string_view fft_mode);
// Python's names for the dtypes of error messages (c10 prints ComplexHalf, Half, ...).
const char* dtype_name(at::ScalarType t);
// Whether the mode's signal side (x for analysis, y for synthesis) is real.
inline bool is_real_mode(FftMode mode) { return kernels::real_signal(mode); }

// Empty results for a zero batch (no kernel runs).
at::Tensor empty_analysis(const OpArgs& a);
at::Tensor empty_synthesis(const OpArgs& a);

// ATen's FFT by FFT mode (frames_fft.cpp), device-independent (cuFFT on CUDA, MKL / pocketfft on the CPU): the op's
// input in the dtype the FFT and the framing kernels read; frames [..., n_fft] -> spectrum [..., bins] along the
// last dimension (the analysis modes) and back (the synthesis modes).
at::Tensor signal_for_fft(const OpArgs& a);
at::Tensor spectrum_for_fft(const OpArgs& a);
at::Tensor frames_to_spectrum(const OpArgs& a, const at::Tensor& frames);
// rfft_double's step after the onesided rfft, in place on `spec` ([..., a.bins]): the interior bins (each standing
// for a conjugate pair) doubled.
void double_interior_bins(const OpArgs& a, const at::Tensor& spec);
at::Tensor spectrum_to_frames(const OpArgs& a, const at::Tensor& spec);

// The two-kernel path of each op: the framing / overlap-add kernel comes in as a callable, around one FFT of all
// frames (the CUDA backend's fallback from the fused kernels).
using FramesFn = void (*)(const at::Tensor& x, const at::Tensor& window, at::Tensor& frames,
                          const kernels::Geometry& g, double scale);
using OverlapAddFn = void (*)(const at::Tensor& frames, const at::Tensor& window, at::Tensor& out,
                              const kernels::Geometry& g, double scale);
at::Tensor analysis_via_frames(const OpArgs& a, FramesFn frames_fn);
at::Tensor synthesis_via_frames(const OpArgs& a, OverlapAddFn ola_fn);

// Fill the kernel parameter structs from tensors, dispatching on the signal's compute dtype (x's for analysis, out's
// for synthesis); `fn` receives AnalysisParams<V> or SynthesisParams<V> for V in {float, double, Complex<float>,
// Complex<double>}. `frames` may be undefined (the fused kernels take no frames buffer). A half-precision x
// (float16 / bfloat16 / complex32) leaves a.x null: only the fused kernels read it, through their own pointers.
template <typename S> struct ValueOf { using type = S; };
template <typename R> struct ValueOf<c10::complex<R>> { using type = kernels::Complex<R>; };

template <typename Fn>
void with_analysis_params(const at::Tensor& x, const at::Tensor& window, at::Tensor& frames,
                          const kernels::Geometry& g, double scale, Fn&& fn) {
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(compute_type_of(x.scalar_type()), "spectro_analysis", [&] {
    using V = typename ValueOf<scalar_t>::type;
    using R = typename kernels::RealOf<V>::type;
    kernels::AnalysisParams<V> a;
    a.x = x.scalar_type() == c10::CppTypeToScalarType<scalar_t>::value
              ? reinterpret_cast<const V*>(x.const_data_ptr<scalar_t>())
              : nullptr;
    a.window = window.const_data_ptr<R>();
    a.frames = frames.defined() ? reinterpret_cast<V*>(frames.mutable_data_ptr<scalar_t>()) : nullptr;
    a.batch = x.size(0);
    a.g = g;
    a.scale = static_cast<R>(scale);
    fn(a);
  });
}

template <typename Fn>
void with_synthesis_params(const at::Tensor& frames, const at::Tensor& window, at::Tensor& out,
                           const kernels::Geometry& g, double scale, Fn&& fn) {
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(out.scalar_type(), "spectro_synthesis", [&] {
    using V = typename ValueOf<scalar_t>::type;
    using R = typename kernels::RealOf<V>::type;
    kernels::SynthesisParams<V> s;
    s.frames = frames.defined() ? reinterpret_cast<const V*>(frames.const_data_ptr<scalar_t>()) : nullptr;
    s.window = window.const_data_ptr<R>();
    s.out = reinterpret_cast<V*>(out.mutable_data_ptr<scalar_t>());
    s.batch = out.size(0);
    s.g = g;
    s.scale = static_cast<R>(scale);
    fn(s);
  });
}

}  // namespace spectro
