// spectro — the band ranges of mel bases, kept per basis version on its device, so that a steady-state mel call
// launches only its kernel (the ranges: MelBandRanges and MelBinCover in kernels/cuda/fused/mel.cuh; two small
// launches per call otherwise, a quarter of the launches of DAC's mel loss).
//
// Keyed on the basis' storage (held weakly: an entry whose storage has died is never used, and the weak reference
// keeps its address from being taken by a new storage while the entry exists), data pointer, storage offset, sizes,
// strides, dtype, device and version counter (shared by a tensor and its views, so `basis.t()` made afresh on each
// call finds the same entry, and an in-place change of the basis or of any view of it misses; a change written
// through `.data`, which has a version counter of its own, is not seen, as autograd does not see it). Nothing is
// kept for an inference tensor (no version counter), for a basis that is a per-call copy of the caller's, or while
// the current stream is being captured into a CUDA graph: the launcher computes the ranges per call there.
//
// Kept from a basis' second call on: the first is remembered without ranges (and computes them in the call, as
// without the cache), so a basis made afresh for each call (a conversion, a per-call filterbank) costs nothing extra.
//
// Streams: each entry records an event after its computation; a call on another stream waits for it on the device
// (no host synchronisation) and marks the ranges tensor as used on that stream (record_stream), so the caching
// allocator does not reuse it while that stream may still read it. Thread-safe. A basis' first sight drops the
// entries of dead storages and of that basis' earlier versions; past 64 entries the oldest go.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>

namespace spectro {

// The kept ranges of `basis` (the basis the kernel reads; `caller_basis` the one the op was given), usable on
// `stream`: found, or computed by `fill(band)` (which fills the new int32 tensor `band` of `size` elements on
// `stream`) and kept. Undefined at a basis' first call and where nothing may be kept (see above; `capturing`: the
// stream is being captured): the caller computes them in the call.
at::Tensor kept_mel_bands(const at::Tensor& basis, const at::Tensor& caller_basis, int64_t size,
                          const c10::Stream& stream, bool capturing,
                          const std::function<void(const at::Tensor& band)>& fill);

// For tests: the bases whose ranges are kept (live ones), and forgetting everything.
int64_t mel_band_cache_entries();
void mel_band_cache_clear();

}  // namespace spectro
