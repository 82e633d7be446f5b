// spectro — explicit instantiation of the CUDA analysis / synthesis launchers for value type double.
// One value type per translation unit keeps each nvcc invocation small; torch-free.
#include "../kernels/cuda/frame_ola.cuh"

namespace spectro {
namespace kernels {
namespace cuda {

SPECTRO_CUDA_INSTANTIATE_FRAME_OLA(double);

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
