// spectro — instantiation of the fused launchers that store half precision (kernel_dtype "mixed") for float: the
// spectrum as complex32, the synthesis output as float16.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis_as<float, __half2>(const FusedAnalysisParams<float>&, cudaStream_t);
template cudaError_t launch_fused_synthesis_as<float, __half>(const FusedSynthesisParams<float>&, cudaStream_t);
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
