// spectro — the CPU backend's parallel loop for the torch-free kernels (kernels/cpu/): at::parallel_for, with the
// calling thread's ATen state (inference mode, grad mode, dispatch key sets) in every worker, since the kernels'
// chunks call ATen ops (the FFT, matrix products, copies into the result) that must see what the caller's thread sees.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>

namespace spectro {

struct AtenParallelFor {
  template <typename F>
  void operator()(int64_t begin, int64_t end, int64_t grain, F&& fn) const {
    const at::ThreadLocalState state;
    at::parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
      const at::ThreadLocalStateGuard guard(state);
      fn(b, e);
    });
  }
};

}  // namespace spectro
