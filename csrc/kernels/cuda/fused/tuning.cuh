// spectro — fused kernels: launch-shape knobs for tests and benchmarks, and the build-time block-shape knobs.
#pragma once



namespace spectro {
namespace kernels {
namespace cuda {
// Launch-shape knobs for tests and benchmarks (0 = the launchers' defaults). Not thread-safe; leave alone in
// production.
struct FusedTuning {
  int waves = 0;          // power-of-two engine: blocks ~ waves * (resident blocks per SM * SMs)
  int rounds = 0;         // power-of-two analysis: rounds (of kRound frames) per block, overrides waves
  int segment_hops = 0;   // synthesis: segment length in hops (power-of-two engine: overrides waves; general engine:
                          // within its shared memory)
  int force_general = 0;  // 1: the general engine even where the power-of-two one applies
  int scalar_ola = 0;     // 1: the power-of-two synthesis adds and stores one position at a time (no packs)
  int general_frames = 0; // general analysis: frames per tile (0: the launcher's rule), within the shared-memory
                          // budget
  int no_two_step = 0;    // 1: the general analysis' pass loop even at the lengths the two-step transform covers
  int frames_per_block = 0;  // synthesis with an analysis prologue: frames per frame-owning block (at least those
                             // covering a position), where the edge scratch holds them
  int block_epilogue = 0;    // 1: the general analysis' mel forward with the two-step transform takes the block-wide
                             // power and band passes instead of the warp-local epilogue (GenericTransform)
  int tile_blocks = 0;       // the general analysis' warp-by-warp mel forward: blocks launched, each taking every
                             // tile_blocks-th tile (0: as many as are resident at once)
  int warp_band_weights = 0;  // the same: at most this many weights in its shared band table (0: the budget's;
                              // -1: none, each band's weights read from global memory)
  int finish_fold = 0;        // 1: a synthesis' padding is folded by its finish launch even where its blocks could
                              // (fold_split)
};
inline FusedTuning& fused_tuning() {
  static FusedTuning t;
  return t;
}

// Block size of the power-of-two engine (at least M/8 threads, one per 8 elements of a frame) and the minimum
// resident blocks per SM its kernels are compiled for (register cap); build-time knobs for experiments.
// 128 threads x 4 blocks (the register cap of 2 x 256, the same 16 warps per SM) measured 5-20% faster than 256 x 2
// on an H200 (benchmarks/fused_variants.sh): barriers span fewer warps.
#ifndef SPECTRO_FUSED_THREADS
#define SPECTRO_FUSED_THREADS 128
#endif
#ifndef SPECTRO_FUSED_MIN_BLOCKS
#define SPECTRO_FUSED_MIN_BLOCKS 4
#endif
// Resident blocks per SM the power-of-two synthesis is compiled for (its own register cap).
#ifndef SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS
#define SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS SPECTRO_FUSED_MIN_BLOCKS
#endif
// The same for the synthesis with an analysis prologue (FusedMelGradParams, FusedLossGradParams): the forward FFT and
// the epilogue in front of the inverse path need more registers than the synthesis alone (at the 4-block cap, 128
// registers, the mel one spilled 150-270 bytes per thread at M >= 128; at 3 blocks, 168 registers, none).
#ifndef SPECTRO_FUSED_PROLOGUE_MIN_BLOCKS
#define SPECTRO_FUSED_PROLOGUE_MIN_BLOCKS 3
#endif
// ... except at M <= 64 (real n_fft <= 128), where 4 blocks (128 registers) spill little (mel, f32: none at M = 16
// and 32, 36 bytes at 64) and the extra warps pay: H100, the mel backward to the signal at B=72 x 16758 and n_fft 32,
// 64, 128: 81, 84, 85 us against 99, 102, 106 at 3 blocks (n_fft 256 and 512 the same, 1024 and 2048 slower: 154 /
// 258 against 157 / 217 us).
#ifndef SPECTRO_FUSED_PROLOGUE_SMALL_MIN_BLOCKS
#define SPECTRO_FUSED_PROLOGUE_SMALL_MIN_BLOCKS 4
#endif
// 1: the power-of-two analysis loads the next round's frame before the current round's FFT (software pipelining).
#ifndef SPECTRO_FUSED_PREFETCH
#define SPECTRO_FUSED_PREFETCH 1
#endif
// The power-of-two synthesis' packed overlap-add: rounds of at most this many frames test each frame for a pack
// instead of finding the covering ones by a division (0: always the division).
#ifndef SPECTRO_FUSED_GATHER_TESTED_FRAMES
#define SPECTRO_FUSED_GATHER_TESTED_FRAMES 4
#endif
// Partial sums per mel band in the mel epilogue's band sums (mel.cuh band_sum): 4, or 1 (one serial chain).
#ifndef SPECTRO_MEL_BAND_PARTIALS
#define SPECTRO_MEL_BAND_PARTIALS 4
#endif

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
