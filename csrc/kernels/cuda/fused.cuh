// spectro — single-kernel STFT analysis and ISTFT synthesis with the FFT inside (torch-free).
//
// fused analysis: each block owns a run of consecutive frames of one batch row. Each frame is read straight from
// the signal (padding and envelope scaling applied on load), windowed, transformed in shared memory and written
// into torch.stft's frame-major layout spec[b, n, bin].
//   real input:    an n_fft-point real FFT as an n_fft/2-point complex FFT of (even, odd) pairs plus the usual
//                  split step; modes rfft / rfft_double (interior bins x2) / rfft_full (all n_fft bins).
//   complex input: an n_fft-point complex FFT (mode fft).
// fused synthesis: each block owns a segment of output samples. It walks the frames that overlap the segment: loads
// their spectra, runs the inverse FFT, and overlap-adds window * frame into a shared-memory accumulator; then it
// applies the envelope scale and writes every output sample once (a gather: deterministic, no atomics). With zero
// padding the blocks cover the signal's positions only (trim / zero-extend); with reflect / replicate / circular
// padding they also cover the padded positions outside the signal, written to a small side buffer, and added onto
// the samples they map to by the row's first and last blocks at their end where those hold every sample involved
// (fold_split), else by a second, tiny kernel (SynthesisFinish).
// Both are exact re-associations of the definitions in common.h with the FFT of the corresponding mode.
//
// Two implementations of each (block_fft.cuh's two engines):
// * Pow2Analysis / Pow2Synthesis, FFT length M = 2^L, 16 <= M <= 4096 (real n_fft 32..8192, complex 16..4096):
//   M/8 threads per frame, 8 elements per thread in registers, all index math on compile-time constants, pass
//   twiddles (and, in analysis, window and split-step twiddles) held in registers across the block's frames; frames
//   read / spectra written straight from / to global memory with coalesced 8-byte accesses, no staging. Synthesis
//   keeps a ring buffer of partial sums and writes each output sample as soon as the last frame covering it has been
//   added, so a block can own a long segment (one wave of blocks over the whole signal, few frames transformed twice
//   at segment edges); h(p) * scale comes from a per-block table indexed by p mod hop wherever the envelope is
//   periodic. Falls back to the general engine where its shared memory would not fit (long hops in double).
// * GenericAnalysis / GenericSynthesis, any M = 2^a 3^b 5^c within shared memory: tiles of frames transformed
//   together by the general engine, twiddles from a shared-memory table of the n-th roots; at M = 200 (real n_fft
//   400) the analysis transforms its real frames in two register-blocked steps instead (fft/two_step_fft.cuh).
//
// The kernel bodies are templates on an execution context (Ctx: thread index, block index, barrier, shared memory)
// so that tests/kernels/test_fused.cu can also run them on the host (--emulate); the launchers run them through
// DeviceExec.
//
// The pieces, one file each under fused/: params (parameter structs), storage (how results are stored and inputs
// read), tuning (launch-shape knobs), helpers, pow2_analysis / pow2_synthesis (the power-of-two engine),
// generic_analysis / generic_synthesis (the general engine), finish_synthesis (the fold of the padding, in the
// synthesis' blocks or after them, and the sums where frame-owning blocks meet), exec (execution on the device),
// launch (launch policy), dispatch (storage types and the launchers); the epilogues mel and spectral_loss,
// loss_combine (the multi-resolution loss' reduction and its backward's first step) and mel_loss_terms (the
// multi-scale mel loss' L1 terms and their reduction).
#pragma once

#include "fused/dispatch.cuh"
#include "fused/loss_combine.cuh"
#include "fused/mel_loss_terms.cuh"
