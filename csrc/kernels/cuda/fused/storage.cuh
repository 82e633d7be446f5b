// spectro — fused kernels: how results are stored and inputs read, by storage type (the compute type itself, or half
// precision).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "params.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
// Where the fused kernels store their results, by storage type Out: the compute type itself, or half precision.
template <typename Out, typename V>
SPECTRO_HD Out* output_of(const FusedAnalysisParams<V>& p) {
  if constexpr (std::is_same<Out, __half2>::value) {
    return p.spec_half;
  } else {
    return p.spec;
  }
}
template <typename Out, typename V>
SPECTRO_HD Out* output_of(const FusedSynthesisParams<V>& p) {
  if constexpr (std::is_same<Out, __half>::value) {
    return p.out_half;
  } else if constexpr (std::is_same<Out, __nv_bfloat16>::value) {
    return p.out_bf16;
  } else {
    return p.s.out;
  }
}
// Where the fused kernels read their input, by storage type In: the compute type itself, or half precision.
template <typename In, typename V>
SPECTRO_HD const In* input_of(const FusedAnalysisParams<V>& p) {
  if constexpr (std::is_same<In, V>::value) {
    return p.a.x;
  } else {
    return static_cast<const In*>(p.x_half);
  }
}
// Row b of an analysis' signal (second: only the mel loss has a second signal; mel.cuh overloads this for it).
template <typename In, typename V>
SPECTRO_HD const In* input_row(const FusedAnalysisParams<V>& p, int64_t b, bool /*second*/ = false) {
  return input_of<In>(p) + b * p.a.g.length;
}
template <typename In, typename V>
SPECTRO_HD const In* input_of(const FusedSynthesisParams<V>& p) {
  if constexpr (std::is_same<In, __half2>::value) {
    return p.spec_c32;
  } else {
    return p.spec;
  }
}
// A stored input value in the compute type V (float or Complex<float> for half storage): exact.
template <typename V, typename In>
SPECTRO_HD V loaded(In v) {
  if constexpr (std::is_same<In, __half>::value) {
    return __half2float(v);
  } else if constexpr (std::is_same<In, __nv_bfloat16>::value) {
    return __bfloat162float(v);
  } else if constexpr (std::is_same<In, __half2>::value) {
    return V{__low2float(v), __high2float(v)};
  } else {
    return v;
  }
}
// Two adjacent real samples of storage type In loaded at once (one 2x-wide access): the pair type.
template <typename In> struct PairOf;
template <> struct PairOf<float> { using type = Complex<float>; };
template <> struct PairOf<double> { using type = Complex<double>; };
template <> struct PairOf<__half> { using type = __half2; };
template <> struct PairOf<__nv_bfloat16> { using type = __nv_bfloat162; };
template <typename Cx, typename P>
SPECTRO_HD Cx loaded_pair(P v) {
  if constexpr (std::is_same<P, __half2>::value || std::is_same<P, __nv_bfloat162>::value) {
    return Cx{__low2float(v), __high2float(v)};
  } else {
    return v;
  }
}

// A computed value as stored: unchanged, or rounded once to the nearest half-precision value.
template <typename Out, typename V>
SPECTRO_HD Out stored(V v) {
  if constexpr (std::is_same<Out, __half2>::value) {
    return __floats2half2_rn(v.re, v.im);
  } else if constexpr (std::is_same<Out, __half>::value) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same<Out, __nv_bfloat16>::value) {
    return __float2bfloat16_rn(v);
  } else {
    return v;
  }
}

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
