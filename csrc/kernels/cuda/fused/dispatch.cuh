// spectro — fused kernels: the storage types selected by the parameters, and the launchers (one per combination,
// instantiated in csrc/kernels/cuda/instances).
#pragma once

#include "exec.cuh"
#include "launch.cuh"
#include "../instances/launchers.h"  // SPECTRO_FUSED_LAUNCHERS: every (V, Out, In) instantiated

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {
// ---- storage types, by the parameters -----------------------------------------------------------------------------

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<Out>{}, TypeTag<In>{}) with the storage types the parameters select: the result as complex32 when
// spec_half is set, the signal in half precision when x_half is (float16 / bfloat16 by x_half_bf16, complex32 for a
// complex signal); cudaErrorInvalidValue for a combination the kernels do not have (half precision with a
// double-precision computation, a bfloat16 complex signal, both a.x and x_half).
template <typename V, class F>
cudaError_t with_analysis_types(const FusedAnalysisParams<V>& p, F&& f) {
  using R = typename RealOf<V>::type;
  if constexpr (!std::is_same<R, float>::value) {
    if (p.spec_half != nullptr || p.x_half != nullptr) return cudaErrorInvalidValue;
    return f(TypeTag<Complex<R>>{}, TypeTag<V>{});
  } else {
    if (p.x_half != nullptr && p.a.x != nullptr) return cudaErrorInvalidValue;
    const auto by_input = [&](auto out) -> cudaError_t {
      if (p.x_half == nullptr) return f(out, TypeTag<V>{});
      if constexpr (IsComplex<V>::value) {
        return p.x_half_bf16 ? cudaErrorInvalidValue : f(out, TypeTag<__half2>{});
      } else {
        return p.x_half_bf16 ? f(out, TypeTag<__nv_bfloat16>{}) : f(out, TypeTag<__half>{});
      }
    };
    return p.spec_half != nullptr ? by_input(TypeTag<__half2>{}) : by_input(TypeTag<Complex<R>>{});
  }
}

// The same for the synthesis: the output as float16 / bfloat16 when out_half / out_bf16 is set (float only), the
// spectrum as complex32 when spec_c32 is (single precision).
template <typename V, class F>
cudaError_t with_synthesis_types(const FusedSynthesisParams<V>& p, F&& f) {
  using R = typename RealOf<V>::type;
  if constexpr (!std::is_same<R, float>::value) {
    if (p.out_half != nullptr || p.out_bf16 != nullptr || p.spec_c32 != nullptr) return cudaErrorInvalidValue;
    return f(TypeTag<V>{}, TypeTag<Complex<R>>{});
  } else {
    const auto by_input = [&](auto out) -> cudaError_t {
      return p.spec_c32 != nullptr ? f(out, TypeTag<__half2>{}) : f(out, TypeTag<Complex<R>>{});
    };
    if (p.out_half == nullptr && p.out_bf16 == nullptr) return by_input(TypeTag<V>{});
    if constexpr (std::is_same<V, float>::value) {
      if (p.out_half != nullptr && p.out_bf16 != nullptr) return cudaErrorInvalidValue;
      return p.out_half != nullptr ? by_input(TypeTag<__half>{}) : by_input(TypeTag<__nv_bfloat16>{});
    } else {
      return cudaErrorInvalidValue;
    }
  }
}

// The same for the mel frontend: the signal in float16 / bfloat16 when x_half is set (float only).
template <typename V, class F>
cudaError_t with_mel_types(const FusedMelParams<V>& p, F&& f) {
  if (p.spec != nullptr || p.spec_half != nullptr) return cudaErrorInvalidValue;  // the spectrum is not stored
  if constexpr (!std::is_same<V, float>::value) {
    if (p.x_half != nullptr) return cudaErrorInvalidValue;
    return f(TypeTag<V>{});
  } else {
    if (p.x_half == nullptr) return f(TypeTag<V>{});
    if (p.a.x != nullptr) return cudaErrorInvalidValue;
    return p.x_half_bf16 ? f(TypeTag<__nv_bfloat16>{}) : f(TypeTag<__half>{});
  }
}

// By the parameters, on any executor (the host emulation runs these).
template <typename V, class Exec>
cudaError_t run_fused_analysis(const FusedAnalysisParams<V>& p, const Exec& exec) {
  return with_analysis_types(p, [&](auto out, auto in) {
    return run_fused_analysis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, exec);
  });
}
template <typename V, class Exec>
cudaError_t run_fused_mel(const FusedMelParams<V>& p, const Exec& exec, int64_t* blocks = nullptr) {
  return with_mel_types(p, [&](auto in) { return run_fused_mel_as<V, typename decltype(in)::type>(p, exec, blocks); });
}
template <typename V, class Exec>
cudaError_t run_fused_loss(const FusedLossParams<V>& p, const Exec& exec, int64_t* blocks) {
  return run_fused_loss_as<V>(p, exec, blocks);
}
template <typename V, class Exec>
cudaError_t run_fused_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec) {
  return with_synthesis_types(p, [&](auto out, auto in) {
    return run_fused_synthesis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, exec);
  });
}

}  // namespace detail

// The launchers, one per combination of storage types, each instantiated in its own file (csrc/kernels/cuda/instances, generated) to keep
// compilation units small and the build parallel; launch_fused_analysis / launch_fused_synthesis hand over to them.
template <typename V, typename Out, typename In>
cudaError_t launch_fused_analysis_as(const FusedAnalysisParams<V>& p, cudaStream_t stream) {
  return detail::run_fused_analysis_as<V, Out, In>(p, detail::DeviceExec{stream});
}
template <typename V, typename Out, typename In>
cudaError_t launch_fused_synthesis_as(const FusedSynthesisParams<V>& p, cudaStream_t stream) {
  return detail::run_fused_synthesis_as<V, Out, In>(p, detail::DeviceExec{stream});
}

template <typename V, typename In>
cudaError_t launch_fused_mel_as(const FusedMelParams<V>& p, cudaStream_t stream, int64_t* blocks) {
  return detail::run_fused_mel_as<V, In>(p, detail::DeviceExec{stream}, blocks);
}

// The mel backward to the signal (FusedMelGradParams, mel.cuh; fused_mel_grad_supported says where it runs).
template <typename V>
cudaError_t launch_fused_mel_grad(const FusedMelGradParams<V>& p, cudaStream_t stream) {
  return detail::run_fused_mel_grad<V>(p, detail::DeviceExec{stream});
}
using detail::fused_mel_grad_supported;
using detail::fused_mel_loss_pair_supported;

// The spectral loss' backward to the prediction (FusedLossGradParams, spectral_loss.cuh; fused_loss_grad_supported
// says where it runs).
template <typename R>
cudaError_t launch_fused_loss_grad(const FusedLossGradParams<R>& p, cudaStream_t stream) {
  return detail::run_fused_loss_grad<R>(p, detail::DeviceExec{stream});
}
using detail::fused_loss_grad_supported;

// The spectral loss (spectral_loss.cuh) on z = x + i y (V complex): *blocks = the rows of partial sums written.
template <typename V>
cudaError_t launch_fused_loss(const FusedLossParams<V>& p, cudaStream_t stream, int64_t* blocks) {
  return detail::run_fused_loss_as<V>(p, detail::DeviceExec{stream}, blocks);
}

#define SPECTRO_FUSED_LOSS(V) \
  template cudaError_t launch_fused_loss<V>(const FusedLossParams<V>&, cudaStream_t, int64_t*);
#define SPECTRO_EXTERN_LOSS(V) extern SPECTRO_FUSED_LOSS(V)
SPECTRO_FUSED_LOSS_LAUNCHERS(SPECTRO_EXTERN_LOSS)
#undef SPECTRO_EXTERN_LOSS
#define SPECTRO_FUSED_MEL_GRAD(V) \
  template cudaError_t launch_fused_mel_grad<V>(const FusedMelGradParams<V>&, cudaStream_t);
#define SPECTRO_EXTERN_MEL_GRAD(V) extern SPECTRO_FUSED_MEL_GRAD(V)
SPECTRO_FUSED_MEL_GRAD_LAUNCHERS(SPECTRO_EXTERN_MEL_GRAD)
#undef SPECTRO_EXTERN_MEL_GRAD
#define SPECTRO_FUSED_LOSS_GRAD(R) \
  template cudaError_t launch_fused_loss_grad<R>(const FusedLossGradParams<R>&, cudaStream_t);
#define SPECTRO_EXTERN_LOSS_GRAD(R) extern SPECTRO_FUSED_LOSS_GRAD(R)
SPECTRO_FUSED_LOSS_GRAD_LAUNCHERS(SPECTRO_EXTERN_LOSS_GRAD)
#undef SPECTRO_EXTERN_LOSS_GRAD
#define SPECTRO_FUSED_ANALYSIS_AS(V, Out, In) \
  template cudaError_t launch_fused_analysis_as<V, Out, In>(const FusedAnalysisParams<V>&, cudaStream_t);
#define SPECTRO_FUSED_SYNTHESIS_AS(V, Out, In) \
  template cudaError_t launch_fused_synthesis_as<V, Out, In>(const FusedSynthesisParams<V>&, cudaStream_t);
#define SPECTRO_FUSED_MEL_AS(V, In) \
  template cudaError_t launch_fused_mel_as<V, In>(const FusedMelParams<V>&, cudaStream_t, int64_t*);
#define SPECTRO_EXTERN_MEL_AS(V, In) extern SPECTRO_FUSED_MEL_AS(V, In)
SPECTRO_FUSED_MEL_LAUNCHERS(SPECTRO_EXTERN_MEL_AS)
#undef SPECTRO_EXTERN_MEL_AS
#define SPECTRO_EXTERN_ANALYSIS_AS(V, Out, In) extern SPECTRO_FUSED_ANALYSIS_AS(V, Out, In)
#define SPECTRO_EXTERN_SYNTHESIS_AS(V, Out, In) extern SPECTRO_FUSED_SYNTHESIS_AS(V, Out, In)
SPECTRO_FUSED_LAUNCHERS(SPECTRO_EXTERN_ANALYSIS_AS, SPECTRO_EXTERN_SYNTHESIS_AS)
#undef SPECTRO_EXTERN_ANALYSIS_AS
#undef SPECTRO_EXTERN_SYNTHESIS_AS

// By the parameters (with_analysis_types / with_synthesis_types).
template <typename V>
cudaError_t launch_fused_analysis(const FusedAnalysisParams<V>& p, cudaStream_t stream) {
  return detail::with_analysis_types(p, [&](auto out, auto in) {
    return launch_fused_analysis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, stream);
  });
}
// The mel frontend (mel.cuh): by the parameters (with_mel_types). p.band: scratch of 2 n_mels + 2 basis_bins ints on the device.
// blocks (optional): the number of blocks the mel kernel ran (with the mel loss' terms: the partials written).
template <typename V>
cudaError_t launch_fused_mel(const FusedMelParams<V>& p, cudaStream_t stream, int64_t* blocks = nullptr) {
  return detail::with_mel_types(
      p, [&](auto in) { return launch_fused_mel_as<V, typename decltype(in)::type>(p, stream, blocks); });
}
template <typename V>
cudaError_t launch_fused_synthesis(const FusedSynthesisParams<V>& p, cudaStream_t stream) {
  return detail::with_synthesis_types(p, [&](auto out, auto in) {
    return launch_fused_synthesis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, stream);
  });
}

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
