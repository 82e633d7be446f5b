// spectro — fused kernels: the power-of-two synthesis engine (spectra staged in shared memory, overlap-add in a ring
// buffer).
#pragma once

#include <cuda_pipeline.h>

#include "finish_synthesis.cuh"
#include "helpers.cuh"
#include "pow2_analysis.cuh"
#include "spectral_loss.cuh"
#include "tuning.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// Out: how the output is stored (V, or __half / __nv_bfloat16 for float). In: how the spectrum is stored (Complex<R>,
// or __half2 for complex32), or MelGradIn<X>: the spectrum is the mel backward's dL/dX of a real signal stored as X,
// computed per frame by an analysis prologue (mel.cuh's FusedMelGradParams; real output, mode irfft_half), or
// LossGradIn<R>: the spectral loss' gradient spectrum of x, likewise (spectral_loss.cuh's FusedLossGradParams; real
// output, mode ifft_real; two frames per inverse FFT, below).
template <typename V, int kLogM, typename Out = V, typename In = Complex<typename RealOf<V>::type>>
struct Pow2Synthesis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  using S = fft::Pow2Shape<kLogM>;
  static constexpr bool kComplex = IsComplex<V>::value;  // complex output (mode ifft)
  static constexpr bool kMelGrad = IsMelGradIn<In>::value;
  static constexpr bool kLossGrad = IsLossGradIn<In>::value;
  static constexpr bool kPrologue = kMelGrad || kLossGrad;  // the spectrum computed in the kernel, not read
  static_assert(!kPrologue || (!kComplex && std::is_same<Out, V>::value), "analysis prologues: real output in V");
  // How the stage holds a frame's spectrum: as stored (In), or in the compute type (a prologue's gradient).
  using Stage = typename std::conditional<kPrologue, Cx, In>::type;
  using Params = typename std::conditional<
      kMelGrad, FusedMelGradParams<V>,
      typename std::conditional<kLossGrad, FusedLossGradParams<R>, FusedSynthesisParams<V>>::type>::type;
  SPECTRO_HD static const FusedSynthesisParams<V>& syn_params(const FusedSynthesisParams<V>& p) { return p; }
  SPECTRO_HD static const FusedSynthesisParams<V>& syn_params(const FusedMelGradParams<V>& p) { return p.syn; }
  template <typename T>
  SPECTRO_HD static const FusedSynthesisParams<V>& syn_params(const FusedLossGradParams<T>& p) { return p.syn; }
  static constexpr int kM = S::kM, kTpf = S::kTpf;
  static constexpr int kThreads = kTpf > SPECTRO_FUSED_THREADS ? kTpf : SPECTRO_FUSED_THREADS;
  static constexpr int kCapBlocks =
      !kPrologue ? SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS
                 : (kLogM <= 6 ? SPECTRO_FUSED_PROLOGUE_SMALL_MIN_BLOCKS : SPECTRO_FUSED_PROLOGUE_MIN_BLOCKS);
  static constexpr int kMinBlocks =
      kCapBlocks * SPECTRO_FUSED_THREADS / kThreads > 0 ? kCapBlocks * SPECTRO_FUSED_THREADS / kThreads : 1;
  static constexpr int kRound = kThreads / kTpf;
  // Frames per round: kRound, or 2 kRound with the loss prologue, whose gradient spectra are Hermitian (real
  // inverses): the round's frames c0 + f and c0 + kRound + f share slot f of the stage as the real and imaginary
  // parts of one spectrum, so that one inverse FFT gives both frames (its output's real and imaginary parts).
  static constexpr int kRoundFrames = kLossGrad ? 2 * kRound : kRound;
  // Positions per pack of the overlap-add and the stores (real output): 16 bytes of V. Where a block's segment allows
  // (`packed` below), a thread owns packs of kVec consecutive positions, not single positions.
  static constexpr int kVec = kComplex ? 1 : Pack16<R>::kN;
  // The packed overlap-add finds the frames covering a pack by testing each frame of the round where a round has at
  // most SPECTRO_FUSED_GATHER_TESTED_FRAMES (M >= 256) in blocks of the default size (M <= 1024), else by a division
  // (HopMath::covering). In the larger blocks of M >= 2048 the tests made ptxas spill pass twiddles (18 local loads
  // per round at M = 2048).
  static constexpr bool kGatherTested =
      kRoundFrames <= SPECTRO_FUSED_GATHER_TESTED_FRAMES && kThreads == SPECTRO_FUSED_THREADS;
  // Ring of partial sums: a power of two >= the positions one round can touch beyond the completed ones, and a
  // multiple of the block's packs (each thread owns the slots = its index mod kThreads, or its pack's slots).
  static_assert((kThreads & (kThreads - 1)) == 0, "the synthesis ring needs a power-of-two block size");
  static int ring_size(int64_t n_fft, int64_t hop) {
    int q = kThreads * kVec;
    while (q < (kRoundFrames + 1) * hop + n_fft) q *= 2;
    return q;
  }
  // The round's spectra, staged in shared memory as stored (In): bins 0..M of each frame (0..M-1 for complex FFTs),
  // padded to an even count and to a multiple of 16 bytes per frame (the ring after the stage takes 16-byte loads).
  static constexpr int kStagePad = 16 / sizeof(Stage) > 2 ? static_cast<int>(16 / sizeof(Stage)) : 2;
  static constexpr int kStageStride = kM + kStagePad;
  // The window is applied in registers as the inverse FFT's epilogue. It is read from shared memory where that
  // costs no occupancy (M <= 512: several frames per round), else from global memory (M >= 1024: in shared memory
  // it cost a resident block per SM). H100, same run: the global reads made M = 512 5% slower, the shared ones
  // made M = 2048 12% slower.
  static constexpr bool kWindowInSmem = kRound >= 2;
  // Shared memory: two sequence buffers per frame of a round, the 2M-th roots on the half circle (the inverse split
  // step's and the passes' twiddles), the spectrum stage, the ring, the scale table and (kWindowInSmem) the window.
  static int64_t smem_bytes(int ring, int64_t n_fft, int64_t hop) {
    return (2 * int64_t{kRound} * S::kFrameStride + kM) * int64_t{sizeof(Cx)} +
           int64_t{kRound} * kStageStride * int64_t{sizeof(Stage)} + ring * int64_t{sizeof(V)} +
           (hop + (kWindowInSmem ? n_fft : 0)) * int64_t{sizeof(R)};
  }

  // Stages frame n's bins into the thread's frame slot with asynchronous copies (nothing for n > last): issued a round
  // ahead, so that the global loads overlap the round before; ctx.copy_wait() and a barrier make them visible. Also
  // reads each bin once (the split step needs bins k and M - k).
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void stage_frame(Ctx& ctx, const FusedSynthesisParams<V>& p, const Stage* spec, int64_t n,
                                     int64_t last, bool real_fft, int j, Stage* my_stage) {
    if (n <= last) {
      const Stage* col = spec + n * p.stride_n;
      if (p.stride_bin == 1) {  // torch.stft's layout: bins contiguous
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) ctx.copy_async(my_stage + j + r * kTpf, col + j + r * kTpf);
        if (real_fft && j == 0) ctx.copy_async(my_stage + kM, col + kM);
      } else {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) ctx.copy_async(my_stage + j + r * kTpf, col + (j + r * kTpf) * p.stride_bin);
        if (real_fft && j == 0) ctx.copy_async(my_stage + kM, col + kM * p.stride_bin);
      }
    }
    ctx.copy_commit();
  }

  // The mel prologue (kMelGrad): dL/dX of the round's frames c0 + fl <= last into their stage slots. Frame c0 + fl
  // of x, windowed as Pow2Analysis reads it (interior frames lo..hi with vector loads), is transformed by the inverse
  // passes as conj(IFFT(conj z)) = FFT(z) (the twiddles of the inverse, st the conjugate roots: the forward's values
  // exactly); its powers and the round's band coefficients go to the FFT buffer the last pass did not write, as in
  // Pow2Analysis' mel backward (the same functions, so the same bits), then mel_grad_bin per bin into the stage.
  // Every thread of the block; ends with a barrier (the stage complete, the FFT buffers free).
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void mel_grad_round(Ctx& ctx, const FusedMelParams<V>& pm, const V* xrow, int64_t lo, int64_t hi,
                                        int64_t b, int64_t c0, int64_t last, int fl, int j, const Cx* st,
                                        const fft::Pow2Twiddles<kLogM, 1, R>& tw, Cx* buf0, Cx* buf1, int par,
                                        int off, Cx* my_stage) {
    using A = Pow2Analysis<V, kLogM, MelOut<R>, V>;
    constexpr int kPowerStride = A::kPowerStride;
    const Geometry& g = pm.a.g;
    const int64_t n = c0 + fl;
    const bool valid = n <= last;
    Cx v[8];
    if (valid && n >= lo && n <= hi) {
      Cx xv[8];
      A::load_interior(xrow, n, g, j, xv);
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) {
        const int i = j + r * kTpf;
        v[r] = Cx{xv[r].re * (pm.a.scale * pm.a.window[2 * i]), xv[r].im * (pm.a.scale * pm.a.window[2 * i + 1])};
      }
    } else if (valid) {
      const int64_t pos0 = n * g.hop;
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) {
        const int i = j + r * kTpf;
        v[r] = Cx{padded_sample<V>(xrow, pm.a.window, pos0 + 2 * i, pm.a.scale * pm.a.window[2 * i], g),
                  padded_sample<V>(xrow, pm.a.window, pos0 + 2 * i + 1, pm.a.scale * pm.a.window[2 * i + 1], g)};
      }
    } else {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) v[r] = Cx{R(0), R(0)};
    }
SPECTRO_UNROLL
    for (int r = 0; r < 8; ++r) v[r] = fft::cconj(v[r]);
    fft::pow2_pass<kLogM, 1, 0, true>(v, tw, j, (par ? buf1 : buf0) + off);
    ctx.sync();
    fft::pow2_passes_from<kLogM, 1, 1, true>(ctx, v, tw, j, buf0, buf1, par, off);
    // v[r] = conj Z[j + r M/8]; conj Z of the round's frames in natural order in buffer zb (frame f at f *
    // kFrameStride); the other buffer is free since the last pass's closing barrier.
    const bool in1 = (par + S::kPasses - 1) & 1;
    const Cx* zb = in1 ? buf1 : buf0;
    const Cx* z = zb + off;
    R* other = reinterpret_cast<R*>(in1 ? buf0 : buf1);
    const auto bin = [&](int r) {  // X[j + r M/8]
      const int k = j + r * kTpf;
      return real_split_bin(fft::cconj(v[r]), fft::cconj(z[(kM - k) & (kM - 1)]), fft::cconj(st[k]));
    };
    const Cx z0 = fft::cconj(v[0]);
    const Cx nyquist{z0.re - z0.im, R(0)};  // X[M] (thread j == 0)
    const int in_round = static_cast<int>(min64(kRound, last - c0 + 1));
    const bool stored = !pm.recompute_powers && kPowerStride + pm.n_mels <= 2 * S::kFrameStride;
    R* coef = stored ? other + kRound * kPowerStride : other;
    if (stored) {
      if (valid) {
        R* prow = other + fl * kPowerStride;
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) prow[j + r * kTpf] = mel_power(pm, bin(r));
        if (j == 0) prow[kM] = mel_power(pm, nyquist);
      }
      ctx.sync();
      mel_grad_coefs(ctx, pm, [other](int f, int k) { return other[f * kPowerStride + k]; }, coef, in_round, b, c0);
    } else {
      const auto power_of = [&](int f, int k) {
        const Cx* zf = zb + f * S::kFrameStride;
        const Cx zf0 = fft::cconj(zf[0]);
        return mel_power(pm, k == kM ? Cx{zf0.re - zf0.im, R(0)}
                                     : real_split_bin(fft::cconj(zf[k]), fft::cconj(zf[(kM - k) & (kM - 1)]),
                                                      fft::cconj(st[k])));
      };
      mel_grad_coefs(ctx, pm, power_of, coef, in_round, b, c0);
    }
    ctx.sync();
    if (valid) {
      const R* cf = coef + fl * pm.n_mels;
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) my_stage[j + r * kTpf] = mel_grad_bin(pm, cf, j + r * kTpf, bin(r));
      if (j == 0) my_stage[kM] = mel_grad_bin(pm, cf, kM, nyquist);
    }
    ctx.sync();
  }

  // The loss prologue (kLossGrad), one half of a round: the gradient spectra of frames c0 + fl <= last into their
  // stage slots, as the slot's real part (imag = false) or added as its imaginary part (imag = true; the same thread
  // wrote the slot's bins in the first half). Frame c0 + fl of x + i y, windowed as Pow2Analysis reads the packed
  // signal (x and y read from their own rows), is transformed as in mel_grad_round (the inverse passes on the
  // conjugate: the forward FFT); then per bin from Z in shared memory the frame's G = (GX[k] + conj GX[n-k]) / 2 (GX
  // = dL/dX, zero past n / 2: loss_grad_bin, once per onesided bin), Hermitian, whose inverse FFT (ifft_real) is
  // dL/dx's frame. Every thread of the block; ends with a barrier.
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void loss_grad_round(Ctx& ctx, const FusedLossGradParams<R>& pl, const R (&gsum)[kLossSums],
                                         int64_t lo, int64_t hi, int64_t b, int64_t c0, int64_t last, int fl, int j,
                                         const fft::Pow2Twiddles<kLogM, 1, R>& tw, Cx* buf0, Cx* buf1, int par,
                                         int off, Cx* my_stage, bool imag) {
    const AnalysisParams<Cx>& a = pl.loss.a;
    const Geometry& g = a.g;
    const int64_t n = c0 + fl;
    const bool valid = n <= last;
    const R* xr = pl.x + b * g.length;
    const R* yr = pl.y + b * g.length;
    Cx v[8];
    if (valid && n >= lo && n <= hi) {
      const int64_t s0 = n * g.hop - g.pad;
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) {
        const int e = j + r * kTpf;
        const R ws = a.scale * a.window[e];
        v[r] = Cx{xr[s0 + e] * ws, yr[s0 + e] * ws};
      }
    } else if (valid) {
      const int64_t pos0 = n * g.hop;
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) {
        const int e = j + r * kTpf;
        const int64_t src = pad_source(pos0 + e, g);
        const R ws = (a.scale * a.window[e]) * envelope_scale(a.window, pos0 + e, g);
        v[r] = src < 0 ? Cx{R(0), R(0)} : Cx{xr[src] * ws, yr[src] * ws};
      }
    } else {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) v[r] = Cx{R(0), R(0)};
    }
SPECTRO_UNROLL
    for (int r = 0; r < 8; ++r) v[r] = fft::cconj(v[r]);
    fft::pow2_pass<kLogM, 1, 0, true>(v, tw, j, (par ? buf1 : buf0) + off);
    ctx.sync();
    // The last pass conjugates its output before it stores it: Z itself in shared memory, so that the epilogue below
    // is Pow2Analysis' code on the same values (reading conj Z through a negation let the compiler contract the
    // epilogue's arithmetic differently on the device: other roundings).
    const auto conj_all = [](Cx(&u)[8]) {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) u[r] = fft::cconj(u[r]);
    };
    fft::pow2_passes_from<kLogM, 1, 1, true>(ctx, v, tw, j, buf0, buf1, par, off, conj_all);
    // Z of the round's frames in natural order in buffer (par + kPasses - 1) & 1.
    const Cx* z = (((par + S::kPasses - 1) & 1) ? buf1 : buf0) + off;
    if (valid) {
      const auto put = [my_stage, imag](int k, Cx v) {
        if (imag) {
          const Cx a = my_stage[k];
          my_stage[k] = Cx{a.re - v.im, a.im + v.re};  // a + i v
        } else {
          my_stage[k] = v;
        }
      };
      // Bins k = j + r M/8 < M/2 (r < 4) and their mirrors M - k (the same thread in both halves of a round); thread
      // 0 also M/2. DC and Nyquist: (GX + conj GX) / 2 = Re GX.
SPECTRO_UNROLL
      for (int r = 0; r < 4; ++r) {
        const int k = j + r * kTpf;
        Cx gx, gy;
        loss_grad_bin(pl.loss, gsum, z[k], z[(kM - k) & (kM - 1)], &gx, &gy);
        if (k == 0) {
          put(0, Cx{gx.re, R(0)});
        } else {
          put(k, Cx{R(0.5) * gx.re, R(0.5) * gx.im});
          put(kM - k, Cx{R(0.5) * gx.re, R(-0.5) * gx.im});
        }
      }
      if (j == 0) {
        Cx gx, gy;
        loss_grad_bin(pl.loss, gsum, z[kM / 2], z[kM / 2], &gx, &gy);
        put(kM / 2, Cx{gx.re, R(0)});
      }
    }
    ctx.sync();
  }

  // A block's share of a row, in one of two ways. Segments (frames_per_block 0): padded positions [p0, p0 + len),
  // the row's k-th segment of RowSplit{segment, blocks_per_row, shift}, written once each; every frame overlapping
  // them is transformed (those straddling two segments by both blocks). Frames (frames_per_block F > 0, the analysis
  // prologues): frames [fa, fb) = [k F, min((k + 1) F, n_frames)) of block k, F >= the frames covering a position, so
  // only neighbours meet; the block writes the positions from its first frame's start (synthesis_lo for k = 0) to
  // the next block's first frame's start (synthesis_hi for the row's last block) with its own frames' sums (those the
  // previous block's frames also cover are partial), and the positions [fb hop, (fb - 1) hop + n_fft) after them,
  // which the next block's frames also cover, to its edge row p.edge[(b (blocks_per_row - 1) + k) (n_fft - hop) + P -
  // fb hop]; the synthesis' finish (SynthesisFinish, finish_synthesis.cuh) then adds those onto the output. Every
  // frame is transformed once.
  struct Share {
    int64_t p0 = 0, first = 0, last = -1;  // first padded position, frames first..last (none if last < first)
    int len = 0;                            // positions [p0, p0 + len)
    int right = 0;                          // positions from p0 + right on go to the edge row (len: none)
    int edge_off = 0;                       // position p0 + i's edge index: i - edge_off
  };
  SPECTRO_HD static Share share_of(const Geometry& g, int64_t k, int64_t blocks_per_row, int segment,
                                   int frames_per_block, int shift) {
    Share sh;
    const int64_t lo = synthesis_lo(g), hi = synthesis_hi(g), span = g.span();
    if (frames_per_block == 0) {
      const RowSplit split{segment, blocks_per_row, shift, 0};
      sh.p0 = split.start(g, k);
      sh.len = static_cast<int>(split.start(g, k + 1) - sh.p0);
      sh.right = sh.len;
      // Frames that overlap padded positions [p0, p0 + len) within [0, span) (none if p0 >= span).
      if (sh.p0 < span) {
        sh.first = first_frame(sh.p0, g);
        sh.last = last_frame(min64(sh.p0 + sh.len, span) - 1, g);
      }
      return sh;
    }
    const int64_t fa = k * frames_per_block, fb = min64(g.n_frames, fa + frames_per_block);
    const bool last_block = k == blocks_per_row - 1;
    sh.p0 = k == 0 ? lo : max64(lo, fa * g.hop);
    const int64_t own_end = last_block ? hi : min64(hi, fb * g.hop);
    const int64_t end = last_block ? hi : min64(hi, (fb - 1) * g.hop + g.n_fft);
    sh.len = static_cast<int>(max64(0, end - sh.p0));
    sh.right = static_cast<int>(max64(0, min64(sh.len, own_end - sh.p0)));
    sh.edge_off = static_cast<int>(fb * g.hop - sh.p0);
    sh.first = fa;
    sh.last = fb - 1;
    return sh;
  }

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, Params pp, int segment, int64_t segments_per_row, int ring, int packed,
                             int frames_per_block, int shift, int fold) {
    const FusedSynthesisParams<V>& p = syn_params(pp);
    const SynthesisParams<V>& s = p.s;
    const Geometry& g = s.g;
    const int n_fft = static_cast<int>(g.n_fft);
    const HopMath hm(static_cast<int>(g.hop), n_fft);
    const bool real_fft = !kComplex && (p.mode == FftMode::Irfft || p.mode == FftMode::IrfftHalf);
    const int tid = ctx.tid();
    const int fl = tid >> S::kLogTpf, j = tid & (kTpf - 1);
    const int64_t b = ctx.block() / segments_per_row;
    const int64_t kb = ctx.block() - b * segments_per_row;
    const Share sh = share_of(g, kb, segments_per_row, segment, frames_per_block, shift);
    const int64_t p0 = sh.p0;
    const int len = sh.len;
    const int64_t span = g.span();
    // The edge row (frame-owning blocks but a row's last), indexed from segment position edge_off.
    V* const edge = sh.right < sh.len ? p.edge + (b * (segments_per_row - 1) + kb) * (g.n_fft - g.hop) : nullptr;

    Cx* buf0 = reinterpret_cast<Cx*>(ctx.smem());
    Cx* buf1 = buf0 + kRound * S::kFrameStride;
    Cx* st = buf1 + kRound * S::kFrameStride;  // st[k] = exp(2 pi i k / n_fft), k < M
    Stage* stage = reinterpret_cast<Stage*>(st + kM);  // the round's spectra, frame fl at fl * kStageStride
    V* acc = reinterpret_cast<V*>(stage + kRound * kStageStride);
    // The window (kWindowInSmem), from an 8-byte aligned start (the ring is a power of two): pairs are single loads.
    R* win_smem = reinterpret_cast<R*>(acc + ring);
    R* hs = win_smem + (kWindowInSmem ? n_fft : 0);  // h * scale by position mod hop (interior positions)
    const R* win = kWindowInSmem ? win_smem : s.window;
    // A window in global memory (M >= 1024) read in pairs where it is aligned for them (else unaligned_pairs).
    const bool win_pairs = (reinterpret_cast<uintptr_t>(s.window) & (2 * sizeof(R) - 1)) == 0;
    const int off = fl * S::kFrameStride;
    const Stage* spec = nullptr;
    if constexpr (!kPrologue) spec = input_of<In>(p) + b * p.stride_b;

    const int64_t first = sh.first, last = sh.last;
    Stage* const my_stage = stage + fl * kStageStride;
    // The first round's spectra, before the set-up below.
    if constexpr (!kPrologue) stage_frame(ctx, p, spec, first + fl, last, real_fft, j, my_stage);
    // The mel prologue's signal row and interior frames (Pow2Analysis' fast loads).
    const V* xrow = nullptr;
    int64_t x_lo = 1, x_hi = 0;
    if constexpr (kMelGrad) {
      xrow = pp.mel.a.x + b * pp.mel.a.g.length;
      Pow2Analysis<V, kLogM, MelOut<R>, V>::interior_frames(pp.mel.a.g, &x_lo, &x_hi);
    }
    // The loss prologue's dL/dsums and interior frames.
    R gsum[kLossSums] = {R(0), R(0), R(0), R(0)};
    if constexpr (kLossGrad) {
      loss_grad_sums(pp.loss, gsum);
      Pow2Analysis<Cx, kLogM, LossOut<R>, Cx>::interior_frames(pp.loss.a.g, &x_lo, &x_hi);
    }
    (void)gsum;
    (void)xrow;

    for (int i = tid; i < ring; i += kThreads) acc[i] = zero_value<V>();
    if constexpr (kWindowInSmem) {
      for (int k = tid; k < n_fft; k += kThreads) win_smem[k] = s.window[k];
    }
    build_scale_table(s.window, n_fft, static_cast<int>(g.hop), g.env_normalize, s.scale, hs, tid, kThreads);
    for (int k = tid; k < kM; k += kThreads) st[k] = fft::expi_pi<R>(2 * k, 2 * kM);
    ctx.sync();  // st, acc, hs (and the window) ready
    fft::Pow2Twiddles<kLogM, 1, R> tw;
    tw.init(j, st);
    // The inverse split step's weight: 1/2 on every bin but DC and Nyquist for IrfftHalf (stft's backward), else 1.
    // Without a prologue it costs no multiply per bin: the roots st[k] take it once the pass twiddles are read (the
    // first round's barrier orders the writes before the split step), and the sum's share goes into the final
    // combination's FMA. A power of two, so every product is exact and the results are those of weighting the
    // bins. The prologues' forward split step reads st unweighted.
    const R half_weight = p.mode == FftMode::IrfftHalf ? R(0.5) : R(1);
    constexpr bool kWeightInRoots = !kPrologue;
    if (kWeightInRoots && half_weight != R(1)) {
      ctx.sync();  // every thread has its twiddles
      for (int k = tid; k < kM; k += kThreads) st[k] = fft::cscale(st[k], half_weight);
    }
    const SynthesisOut<V, Out> out(p, b, p0, len);

    const int f_env_max = static_cast<int>(min64(g.n_frames - 1 - first, 0x3fffffff));
    // Segment positions i: beyond every frame from lim on; h * scale from hs[] on [int_lo, int_hi).
    const int lim = static_cast<int>(max64(0, min64(len, span - p0)));
    const int int_lo = static_cast<int>(max64(0, min64(len, g.n_fft - g.hop - p0)));
    const int int_hi = static_cast<int>(max64(0, min64(len, g.n_frames * g.hop - p0)));
    const int relf0 = static_cast<int>(p0 - first * g.hop);  // p - first * hop at i = 0
    // Packs (see the overlap-add below), uniform over the block: 0 none; 1 packs, storing sample by sample; 2 packs
    // with 16-byte stores. Packs need a real output, hop and the segment's start p0 multiples of kVec (the launcher
    // checks hop and synthesis_lo, whose sum with multiples of hop p0 is: `packed`), and a segment length that is
    // too (every segment of a row but possibly its last). The 16-byte stores need the whole segment inside the
    // signal, in V, starting at a 16-byte aligned sample.
    int pack_mode = kVec > 1 && packed != 0 && real_fft && len % kVec == 0 ? 1 : 0;
    if constexpr (std::is_same<Out, V>::value) {
      if (pack_mode != 0 && out.direct != nullptr && (reinterpret_cast<uintptr_t>(out.direct) & 15) == 0)
        pack_mode = 2;
    }
    // A thread's output positions advance by `step` (kThreads, or kThreads packs): their residues mod hop by
    // step_mod (< hop).
    const int step = pack_mode != 0 ? kThreads * kVec : kThreads;
    const int step_mod = step - hm.hop.div(step) * hm.hop.d;

    int par = 0;
    int done = 0;  // positions [0, done) of the segment are written
    for (int64_t c0 = first; c0 <= last; c0 += kRoundFrames) {
      const int64_t n = c0 + fl;
      ctx.copy_wait();
      ctx.sync();  // every thread's copies of this round's spectra are complete and visible
      if constexpr (kMelGrad)
        mel_grad_round(ctx, pp.mel, xrow, x_lo, x_hi, b, c0, last, fl, j, st, tw, buf0, buf1, par, off, my_stage);
      if constexpr (kLossGrad) {
        loss_grad_round(ctx, pp, gsum, x_lo, x_hi, b, c0, last, fl, j, tw, buf0, buf1, par, off, my_stage, false);
        if (c0 + kRound <= last)
          loss_grad_round(ctx, pp, gsum, x_lo, x_hi, b, c0 + kRound, last, fl, j, tw, buf0, buf1, par, off, my_stage,
                          true);
      }
      Cx v[8];
      if (n <= last) {
        if (real_fft) {
          // Inverse split step (Hermitian c2r; imaginary parts of DC and Nyquist ignored, as cuFFT / pocketfft do):
          // Z[k] = w (X[k] + conj X[M-k]) + i w exp(2 pi i k / n_fft) (X[k] - conj X[M-k]), k = 0..M-1, with the
          // weight w (above); DC and Nyquist (k = 0) unweighted: divided by w here, exactly.
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) {
            const int k = j + r * kTpf;
            Cx xk = loaded<Cx>(my_stage[k]), xc = loaded<Cx>(my_stage[kM - k]);
            if (k == 0) {
              const R inv_weight = R(3) - R(2) * half_weight;  // 1 / w for w = 1/2 or 1
              xk = Cx{xk.re * inv_weight, R(0)};
              xc = Cx{xc.re * inv_weight, R(0)};
            }
            xc = fft::cconj(xc);
            const Cx sum = fft::cadd(xk, xc);
            if constexpr (kWeightInRoots) {
              const Cx dif = fft::cmul(st[k], fft::csub(xk, xc));  // st[k] weighted
              v[r] = Cx{half_weight * sum.re - dif.im, half_weight * sum.im + dif.re};  // w sum + i * dif
            } else {
              const Cx dif = fft::cmul(st[k], fft::cscale(fft::csub(xk, xc), half_weight));
              v[r] = Cx{half_weight * sum.re - dif.im, half_weight * sum.im + dif.re};
            }
          }
        } else {
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) v[r] = loaded<Cx>(my_stage[j + r * kTpf]);
        }
      } else {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) v[r] = Cx{R(0), R(0)};
      }
      fft::pow2_pass<kLogM, 1, 0, true>(v, tw, j, (par ? buf1 : buf0) + off);
      ctx.sync();  // (also: every thread is done reading the stage)
      if constexpr (!kPrologue) stage_frame(ctx, p, spec, n + kRound, last, real_fft, j, my_stage);
      // The window, applied to the inverse FFT's output in registers (element e = j + r M/8 holds samples 2e, 2e + 1
      // of a real FFT, sample e otherwise), before its last store.
      // (The mode's branch outside the loop: inside, both loops' loads were issued, predicated.)
      const auto windowed = [&](Cx(&u)[8]) {
        if (real_fft) {
          if (kWindowInSmem || win_pairs) {  // (w[2e], w[2e + 1]) in one load
SPECTRO_UNROLL
            for (int r = 0; r < 8; ++r) {
              const Cx w2 = reinterpret_cast<const Cx*>(win)[j + r * kTpf];
              u[r] = Cx{u[r].re * w2.re, u[r].im * w2.im};
            }
          } else {
            const EightPairs<R> w = unaligned_pairs<R, kTpf>(win, j);
SPECTRO_UNROLL
            for (int r = 0; r < 8; ++r) u[r] = Cx{u[r].re * w.v[r].re, u[r].im * w.v[r].im};
          }
        } else {
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) u[r] = fft::cscale(u[r], win[j + r * kTpf]);
        }
      };
      fft::pow2_passes_from<kLogM, 1, 1, true>(ctx, v, tw, j, buf0, buf1, par, off, windowed);
      // Overlap-add of this round's frames c0 .. c0 + cnt - 1 (natural order in buffer (par + kPasses - 1) & 1).
      const Cx* z = (((par + S::kPasses - 1) & 1) ? buf1 : buf0);
      const int cnt = static_cast<int>(min64(kRoundFrames, last - c0 + 1));
      const int64_t base = c0 * g.hop;
      const bool final_round = c0 + kRoundFrames > last;
      // Positions that become complete: below the next round's first frame (all of the rest after the last round).
      const int complete =
          final_round ? len : static_cast<int>(max64(done, min64(len, base + kRoundFrames * g.hop - p0)));
      const int base_i = static_cast<int>(base - p0);  // segment index of frame c0's first sample (may be < 0)
      if (pack_mode == 0) {
        // Overlap-add: sample k of the round's frame f lands on segment position i = base_i + f * hop + k. Thread tid
        // owns the positions i = tid (mod kThreads), and with them the ring slots i & (ring - 1) (ring is a multiple
        // of kThreads): it adds the round's frames to its positions in frame order, the summation order of
        // synthesis_element, with no race and no barrier. Positions below `done` are written already, and positions
        // from len on belong to the next segment. (A scatter, frame by frame: the packs below gather instead; here
        // the per-position frame range cost more than it saved, H100: the loss backward's rounds of one or two
        // frames 8-13% slower.)
        for (int f = 0; f < cnt; ++f) {
          const int s0 = base_i + f * hm.hop.d;  // segment position of the frame's first sample
          const int k_lo = done - s0 > 0 ? done - s0 : 0;
          const int k_hi = mini(n_fft, len - s0);
          // (the loss prologue: frame f in slot f mod kRound, real part for f < kRound, else imaginary)
          const Cx* zf = z + (kLossGrad ? f % kRound : f) * S::kFrameStride;
          const bool im_part = kLossGrad && f >= kRound;
          for (int k = k_lo + ((tid - s0 - k_lo) & (kThreads - 1)); k < k_hi; k += kThreads) {
            const int slot = (s0 + k) & (ring - 1);
            V total = acc[slot];
            if constexpr (kComplex) {
              total += zf[k];
            } else if (real_fft) {
              total += reinterpret_cast<const R*>(zf)[k];
            } else {
              total += im_part ? zf[k].im : zf[k].re;  // ifft_real
            }
            acc[slot] = total;
          }
        }
        // Positions [done, complete) have every frame covering them added: envelope, scale, write each once (same
        // owner thread), and free their slots.
        int i = done + ((tid - done) & (kThreads - 1));
        if (i < complete) {
          int rf_mod = i + relf0;  // (p - first * hop) mod hop, the residue of p's frames, kept incrementally
          rf_mod -= hm.hop.div(rf_mod) * hm.hop.d;
          for (; i < complete; i += kThreads) {
            V y = zero_value<V>();  // beyond every frame (last round only): a zero, and no ring slot touched
            if (i < lim) {
              const int slot = i & (ring - 1);
              R sc;
              if (i >= int_lo && i < int_hi) {
                sc = hs[rf_mod];
              } else {
                const R h = g.env_normalize ? envelope_scale_rel(win, i + relf0, hm, f_env_max) : R(1);
                sc = h * s.scale;
              }
              y = acc[slot] * sc;
              acc[slot] = zero_value<V>();
            }
            if (i >= sh.right) {
              edge[i - sh.edge_off] = y;
            } else {
              out.put(p, b, p0, i, y);
            }
            rf_mod += step_mod;
            if (rf_mod >= hm.hop.d) rf_mod -= hm.hop.d;
          }
        }
      } else {
        // The same in packs of kVec positions (real output only): thread tid owns the packs i / kVec = tid (mod
        // kThreads) and their ring slots. Every frame start s0, `done`, `complete`, len and the bounds int_lo,
        // int_hi and lim are multiples of kVec here (see pack_mode), so a pack lies wholly inside or outside each
        // frame and range. A gather: each owned pack the round's frames reach (positions [done, len) from frame
        // c0's start to the last frame's end) adds the frames covering it, in frame order, in registers, then
        // stores once: each position's sum runs in the same order as above, so the same bits, and a thread's work
        // is its share of the round's positions, not a pass over every frame of the round (64 frames per round at
        // n_fft = 32).
        if constexpr (kVec > 1) {
          const int r_lo = done > base_i ? done : base_i;  // (>= 0)
          const int r_hi = mini(len, base_i + (cnt - 1) * hm.hop.d + n_fft);
          const int q_lo = r_lo / kVec;
SPECTRO_NO_UNROLL
          for (int i = (q_lo + ((tid - q_lo) & (kThreads - 1))) * kVec; i < r_hi; i += kThreads * kVec) {
            const int rel = i - base_i;  // (>= 0) from frame c0's first sample
            R* slot = acc + (i & (ring - 1));
            if constexpr (kGatherTested) {
              // Few frames per round: each frame tested for the pack (compares, no division), in frame order. A
              // pack no frame covers (hop > n_fft) is stored back unchanged. Every pack of [r_lo, r_hi) lies in
              // frame 0 or after its start, and in a round of one frame, inside it.
              Pack16<R> total = load16(slot);
SPECTRO_UNROLL
              for (int f = 0; f < kRoundFrames; ++f) {
                const int k = rel - f * hm.hop.d;  // the pack's first sample in frame f
                if (kRoundFrames == 1 || ((f == 0 || (f < cnt && k >= 0)) && k < n_fft)) {
                  const Pack16<R> add = load16(reinterpret_cast<const R*>(z + f * S::kFrameStride) + k);
SPECTRO_UNROLL
                  for (int q = 0; q < kVec; ++q) total.v[q] += add.v[q];
                }
              }
              store16(slot, total);
            } else {
              int f_lo, f_hi, unused;
              hm.covering(rel, cnt - 1, &f_lo, &f_hi, &unused);
              if (f_lo > f_hi) continue;  // (between frames: hop > n_fft)
              Pack16<R> total = load16(slot);
              for (int f = f_lo; f <= f_hi; ++f) {
                // samples 0..n_fft-1 of frame f; the pack's first is rel - f hop
                const Pack16<R> add =
                    load16(reinterpret_cast<const R*>(z + f * S::kFrameStride) + (rel - f * hm.hop.d));
SPECTRO_UNROLL
                for (int q = 0; q < kVec; ++q) total.v[q] += add.v[q];
              }
              store16(slot, total);
            }
          }
          const int q_done = done / kVec;
          int i = (q_done + ((tid - q_done) & (kThreads - 1))) * kVec;
          if (i < complete) {
            int rf_mod = i + relf0;  // a multiple of kVec: hs[rf_mod .. rf_mod + kVec) are the pack's residues
            rf_mod -= hm.hop.div(rf_mod) * hm.hop.d;
            for (; i < complete; i += kThreads * kVec) {
              Pack16<R> y = {};
              if (i < lim) {
                R* slot = acc + (i & (ring - 1));
                const Pack16<R> a = load16(slot);
                if (i >= int_lo && i < int_hi) {
                  const Pack16<R> sc = load16(hs + rf_mod);
SPECTRO_UNROLL
                  for (int q = 0; q < kVec; ++q) y.v[q] = a.v[q] * sc.v[q];
                } else {
SPECTRO_UNROLL
                  for (int q = 0; q < kVec; ++q) {
                    const R h = g.env_normalize ? envelope_scale_rel(win, i + q + relf0, hm, f_env_max) : R(1);
                    y.v[q] = a.v[q] * (h * s.scale);
                  }
                }
                store16(slot, Pack16<R>{});
              }
              if (i >= sh.right) {  // (sh.right is a multiple of kVec here: fb hop - p0, or len)
SPECTRO_UNROLL
                for (int q = 0; q < kVec; ++q) edge[i + q - sh.edge_off] = y.v[q];
              } else if constexpr (std::is_same<Out, V>::value) {
                if (pack_mode == 2) {
                  if (p.accumulate) {
                    const Pack16<R> o = load16(out.direct + i);
SPECTRO_UNROLL
                    for (int q = 0; q < kVec; ++q) y.v[q] = o.v[q] + y.v[q];
                  }
                  store16(out.direct + i, y);
                } else {
SPECTRO_UNROLL
                  for (int q = 0; q < kVec; ++q) out.put(p, b, p0, i + q, y.v[q]);
                }
              } else {
SPECTRO_UNROLL
                for (int q = 0; q < kVec; ++q) out.put(p, b, p0, i + q, y.v[q]);
              }
              rf_mod += step_mod;
              if (rf_mod >= hm.hop.d) rf_mod -= hm.hop.d;
            }
          }
        }
      }
      done = complete;
      par ^= (S::kPasses & 1);
    }
    ctx.copy_wait();  // (nothing outstanding: the last round staged nothing)
    // No frame overlaps the segment (it lies beyond the span): zeros.
    if (first > last) {
      for (int i = tid; i < len; i += kThreads) out.put(p, b, p0, i, zero_value<V>());
    }
    // The padding's fold, where the launch's split lets the row's first and last blocks do it (fold_split; segments
    // only).
    if constexpr (std::is_same<Out, V>::value) {
      if (fold != 0) fold_in_block(ctx, p, b, kb, segments_per_row);
    }
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
