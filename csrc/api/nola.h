// spectro — istft's NOLA condition: the window envelope (sum of squared shifted windows, complex for a complex
// window) must not fall below 1e-11 in magnitude anywhere in the output, and when that is checked on the host.
//
// safety "auto" checks once per (window tensor and its version, geometry) and remembers a pass, so steady-state calls
// never synchronise. The pass cache is thread-safe and keyed on the window's TensorImpl, held weakly: the weak
// reference keeps a freed window's TensorImpl memory (not its data) reserved while the entry exists, so no new
// tensor can take its address and inherit its pass, and an entry whose window has died is never used. Entries of
// dead windows are dropped once the cache holds 256 windows. A window made in
// inference mode has no version counter: it is checked once per tensor (in-place changes made to it under
// inference_mode are not seen). No check runs while tensors are traced (fake, meta, functional or vmapped) or while
// the current CUDA stream is being captured into a graph.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "semantics.h"

namespace spectro {
namespace api {

struct NolaCheck {
  at::Tensor caller_window;  // the caller's window tensor (the cache's key), or undefined for the rectangular window
  at::Tensor window;         // as the synthesis uses it: zero-padded to n_fft, in the compute dtype (real or complex)
  int64_t n_fft = 0, hop = 0, win_length = 0, n_frames = 0;
  int64_t start = 0, end = 0;  // the output's padded positions [start, end) that lie within the frames' span
  at::ScalarType spec_dtype = at::kComplexFloat;
  bool half_storage = false;   // kernel_dtype "float16": the window was rounded to half precision
  bool torch_like = false;
  Safety safety = Safety::Auto;
};

// Checks the NOLA condition as `c.safety` says: raises RuntimeError (torch_like) or warns where it fails.
// `traced`: the call is being traced (no host read is possible); the check is skipped.
void nola_check(const NolaCheck& c, bool traced);

// For tests: host checks made so far (each one a device -> host copy), and emptying the pass cache.
int64_t nola_host_checks();
int64_t nola_cache_entries();  // (window, geometry) passes remembered
void nola_cache_clear();

// The query "is the current stream of `device` being captured into a CUDA graph", installed by the CUDA backend.
using CaptureQuery = bool (*)(const at::Device& device);
void set_capture_query(CaptureQuery q);

}  // namespace api
}  // namespace spectro
