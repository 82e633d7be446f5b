// spectro — fused kernels: the execution context on the device (thread index, barrier, shared memory, asynchronous
// copies) and the launcher of a kernel body.
#pragma once

#include <cuda_pipeline.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// Execution on the device.

struct DeviceCtx {
  // Asynchronous global -> shared copies of one element (4, 8 or 16 bytes, aligned to its size), completed for the
  // calling thread by copy_wait() (others see them after a barrier that follows it).
  template <typename T>
  __device__ __forceinline__ void copy_async(T* dst_shared, const T* src_global) const {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8 || sizeof(T) == 16, "copy_async: 4, 8 or 16 bytes");
    __pipeline_memcpy_async(dst_shared, src_global, sizeof(T));
  }
  __device__ __forceinline__ void copy_commit() const { __pipeline_commit(); }
  __device__ __forceinline__ void copy_wait() const { __pipeline_wait_prior(0); }
  __device__ __forceinline__ int tid() const { return static_cast<int>(threadIdx.x); }
  __device__ __forceinline__ int nthreads() const { return static_cast<int>(blockDim.x); }
  __device__ __forceinline__ int64_t block() const { return static_cast<int64_t>(blockIdx.x); }
  __device__ __forceinline__ int64_t nblocks() const { return static_cast<int64_t>(gridDim.x); }
  __device__ __forceinline__ void sync() const { __syncthreads(); }
  // Barrier of the calling thread's warp (every lane of it calls it).
  __device__ __forceinline__ void sync_warp() const { __syncwarp(); }
  __device__ __forceinline__ unsigned char* smem() const {
    extern __shared__ __align__(16) unsigned char fused_smem[];
    return fused_smem;
  }
};

template <class Body, class... Args>
__global__ void __launch_bounds__(Body::kThreads, Body::kMinBlocks) fused_entry(Args... args) {
  DeviceCtx ctx;
  Body::run(ctx, args...);
}

// Per kernel (Body and argument types) and device: the dynamic shared memory size opted in (cudaFuncSetAttribute is a
// driver call, so it is made once per kernel, device and larger size, not per launch) and the occupancy of the last
// kExecCacheEntries shared memory sizes queried (a launcher may ask for two per call: the tile's need, then the size
// it launches with). Static storage: zero-initialised.
constexpr int kExecCacheDevices = 64;
constexpr int kExecCacheEntries = 4;
template <class Body, class... Args>
struct ExecCache {
  static ExecCache& get() {
    static ExecCache c;
    return c;
  }
  std::atomic<int64_t> opted[kExecCacheDevices];
  // smem << 32 | SMs << 16 | blocks per SM; 0: none yet. Written round robin (next).
  std::atomic<uint64_t> occupancy[kExecCacheDevices][kExecCacheEntries];
  std::atomic<unsigned> next[kExecCacheDevices];
};
inline std::mutex& exec_cache_mutex() {
  static std::mutex m;
  return m;
}

// A device's SM count, shared memory per SM and reserved shared memory per block, read once per device (they do not
// change while the process runs).
struct DeviceLimits {
  int sms = 0, smem_per_sm = 0, reserved_per_block = 0;
};
inline cudaError_t device_limits(int device, DeviceLimits* out) {
  static std::atomic<bool> known[kExecCacheDevices];
  static DeviceLimits cache[kExecCacheDevices];
  const bool cached = device >= 0 && device < kExecCacheDevices;
  if (cached && known[device].load(std::memory_order_acquire)) {
    *out = cache[device];
    return cudaSuccess;
  }
  DeviceLimits l;
  cudaError_t err = cudaDeviceGetAttribute(&l.sms, cudaDevAttrMultiProcessorCount, device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&l.smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&l.reserved_per_block, cudaDevAttrReservedSharedMemoryPerBlock, device);
  if (err != cudaSuccess) return err;
  if (cached) {
    std::lock_guard<std::mutex> lock(exec_cache_mutex());
    if (!known[device].load(std::memory_order_relaxed)) {
      cache[device] = l;
      known[device].store(true, std::memory_order_release);
    }
  }
  *out = l;
  return cudaSuccess;
}

struct DeviceExec {
  cudaStream_t stream = nullptr;

  // Makes `smem` bytes of dynamic shared memory launchable for this kernel on the current device.
  template <class Body, class... Args>
  static cudaError_t opt_in(int device, int64_t smem) {
    if (smem <= 48 * 1024) return cudaSuccess;
    auto kernel = fused_entry<Body, Args...>;
    if (device < 0 || device >= kExecCacheDevices)
      return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    auto& opted = ExecCache<Body, Args...>::get().opted[device];
    if (opted.load(std::memory_order_acquire) >= smem) return cudaSuccess;
    // The attribute only grows, under the lock, so `opted` is always the size actually set.
    std::lock_guard<std::mutex> lock(exec_cache_mutex());
    if (opted.load(std::memory_order_relaxed) >= smem) return cudaSuccess;
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err == cudaSuccess) opted.store(smem, std::memory_order_release);
    return err;
  }

  // Blocks of this kernel resident on the whole device at once (0 on error).
  template <class Body, class... Args>
  int64_t slots(int64_t smem) const {
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return 0;
    const bool cached = device >= 0 && device < kExecCacheDevices;
    if (cached) {
      for (const auto& entry : ExecCache<Body, Args...>::get().occupancy[device]) {
        const uint64_t hit = entry.load(std::memory_order_relaxed);
        if (hit != 0 && static_cast<int64_t>(hit >> 32) == smem)
          return static_cast<int64_t>(hit & 0xffff) * static_cast<int64_t>((hit >> 16) & 0xffff);
      }
    }
    DeviceLimits limits;
    if (device_limits(device, &limits) != cudaSuccess) return 0;
    if (opt_in<Body, Args...>(device, smem) != cudaSuccess) return 0;
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fused_entry<Body, Args...>, Body::kThreads,
                                                      static_cast<size_t>(smem)) != cudaSuccess)
      return 0;
    if (cached && per_sm > 0) {
      auto& c = ExecCache<Body, Args...>::get();
      const unsigned e = c.next[device].fetch_add(1, std::memory_order_relaxed) % kExecCacheEntries;
      c.occupancy[device][e].store((static_cast<uint64_t>(smem) << 32) |
                                       (static_cast<uint64_t>(limits.sms & 0xffff) << 16) |
                                       static_cast<uint64_t>(per_sm & 0xffff),
                                   std::memory_order_relaxed);
    }
    return static_cast<int64_t>(per_sm) * limits.sms;
  }

  // The dynamic shared memory each block can take while as many blocks of this kernel stay resident per SM as with
  // `smem` bytes: the SM's shared memory split among them, less the per-block reserve (0 on error). Where registers,
  // not shared memory, bound the residency, this is more than `smem`.
  template <class Body, class... Args>
  int64_t smem_share(int64_t smem) const {
    int device = 0;
    DeviceLimits limits;
    if (cudaGetDevice(&device) != cudaSuccess || device_limits(device, &limits) != cudaSuccess || limits.sms <= 0)
      return 0;
    const int64_t per_sm = slots<Body, Args...>(smem) / limits.sms;
    return per_sm > 0 ? limits.smem_per_sm / per_sm - limits.reserved_per_block : 0;
  }

  template <class Body, class... Args>
  cudaError_t launch(int64_t blocks, int64_t smem, Args... args) const {
    if (blocks <= 0) return cudaSuccess;
    if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
    int device = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return err;
    err = opt_in<Body, Args...>(device, smem);
    if (err != cudaSuccess) return err;
    fused_entry<Body, Args...><<<static_cast<unsigned>(blocks), Body::kThreads, static_cast<size_t>(smem), stream>>>(
        args...);
    return cudaGetLastError();
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
