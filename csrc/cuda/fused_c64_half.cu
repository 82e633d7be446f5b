// spectro — instantiation of the fused analysis launcher that stores complex32 (kernel_dtype "mixed") for
// Complex<float> signals.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis_as<Complex<float>, __half2>(const FusedAnalysisParams<Complex<float>>&,
                                                                       cudaStream_t);
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
