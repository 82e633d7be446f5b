// spectro — fused kernels: the general (2^a 3^b 5^c) synthesis engine.
#pragma once

#include "finish_synthesis.cuh"
#include "helpers.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

template <typename V, typename Out = V, typename In = Complex<typename RealOf<V>::type>>
struct GenericSynthesis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  static constexpr bool kComplex = IsComplex<V>::value;  // complex output (mode ifft)
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedSynthesisParams<V> p, int segment, int frames_per_chunk,
                             fft::Plan plan, int table_n, int hs_n, int shift, int fold) {
    const SynthesisParams<V>& s = p.s;
    const Geometry& g = s.g;
    const int n_fft = static_cast<int>(g.n_fft);
    const HopMath hm(static_cast<int>(g.hop), n_fft);
    const bool real_fft = p.mode == FftMode::Irfft || p.mode == FftMode::IrfftHalf;
    const int m = static_cast<int>(fft_length(!real_fft, g.n_fft));
    const int tid = ctx.tid();

    const int64_t pos_lo = synthesis_lo(g), pos_hi = synthesis_hi(g);
    const int64_t segments_per_row = (pos_hi - pos_lo + segment - 1) / segment;
    const int64_t b = ctx.block() / segments_per_row;
    const int64_t kb = ctx.block() - b * segments_per_row;
    // The row's kb-th segment: padded positions [p0, p0 + len), len <= segment (the launcher's shift keeps it so).
    const RowSplit split{segment, segments_per_row, shift, fold};
    const int64_t p0 = split.start(g, kb);
    const int len = static_cast<int>(split.start(g, kb + 1) - p0);
    const int64_t span = g.span();

    Cx* buf = reinterpret_cast<Cx*>(ctx.smem());
    Cx* scratch = buf + static_cast<int64_t>(frames_per_chunk) * m;
    Cx* table = scratch + static_cast<int64_t>(frames_per_chunk) * m;
    V* acc = reinterpret_cast<V*>(table + table_n);
    R* hs = reinterpret_cast<R*>(acc + segment);  // h * scale by position mod hop (interior positions), if hs_n
    if (hs_n > 0) build_scale_table(s.window, n_fft, hs_n, g.env_normalize, s.scale, hs, tid, kThreads);

    for (int i = tid; i < len; i += kThreads) acc[i] = zero_value<V>();
    for (int q = tid; q < table_n; q += kThreads) table[q] = fft::expi_pi<R>(2 * q, table_n);
    const fft::TwiddleTable<R> tt{table_n > 0 ? table : nullptr, real_fft ? 2 : 1};

    // Frames that overlap padded positions [p0, p0 + len) within [0, span).
    int64_t first = 0, last = -1;
    if (p0 < span) {
      first = first_frame(p0, g);
      last = last_frame(min64(p0 + len, span) - 1, g);
    }
    const In* spec = input_of<In>(p) + b * p.stride_b;
    const fft::SmallDiv div_m(m);
    for (int64_t c0 = first; c0 <= last; c0 += frames_per_chunk) {
      const int count = static_cast<int>(min64(frames_per_chunk, last - c0 + 1));
      ctx.sync();  // the previous chunk's frames have been consumed (and the table / acc are initialised)
      // 1. Spectra -> FFT input.
      if (real_fft) {
        // Inverse split step (Hermitian c2r; imaginary parts of DC and Nyquist ignored, as cuFFT / pocketfft do):
        // Z[k] = (X[k] + conj X[m-k]) + i exp(2 pi i k / n_fft) (X[k] - conj X[m-k]), k = 0..m-1.
        const R half_weight = p.mode == FftMode::IrfftHalf ? R(0.5) : R(1);
        for (int e = tid; e < count * m; e += kThreads) {
          const int f = div_m.div(e), k = e - f * m;
          const In* col = spec + (c0 + f) * p.stride_n;
          Cx xk = loaded<Cx>(col[k * p.stride_bin]);
          Cx xc = loaded<Cx>(col[(m - k) * p.stride_bin]);
          if (k == 0) { xk.im = R(0); xc.im = R(0); }  // DC and Nyquist
          else { xk = fft::cscale(xk, half_weight); xc = fft::cscale(xc, half_weight); }
          xc = fft::cconj(xc);
          const Cx sum = fft::cadd(xk, xc);
          const Cx w = table_n > 0 ? table[k] : fft::expi_pi<R>(2 * k, n_fft);
          const Cx dif = fft::cmul(w, fft::csub(xk, xc));
          buf[e] = Cx{sum.re - dif.im, sum.im + dif.re};  // sum + i * dif
        }
      } else {
        for (int e = tid; e < count * m; e += kThreads) {
          const int f = div_m.div(e), k = e - f * m;
          buf[e] = loaded<Cx>(spec[(c0 + f) * p.stride_n + k * p.stride_bin]);
        }
      }
      ctx.sync();
      // 2. Inverse FFT (unnormalised).
      const Cx* z = fft::block_fft<1, R>(ctx, buf, scratch, m, count, plan, tt);
      // 3. Overlap-add of window * frame into the segment (each thread owns positions: no races, fixed order).
      const int64_t base = c0 * g.hop;
      for (int i = tid; i < len; i += kThreads) {
        const int64_t pos = p0 + i;
        if (pos >= span || pos < base) continue;
        const int rel = static_cast<int>(pos - base);
        int lo, hi, r;
        hm.covering(rel, count - 1, &lo, &hi, &r);
        V v = acc[i];
        for (int f = lo; f <= hi; ++f) {
          const int k = rel - f * hm.hop.d;
          const Cx* zf = z + f * m;
          const R w = s.window[k];
          if constexpr (kComplex) {
            v += zf[k] * w;
          } else if (real_fft) {
            const Cx pair = zf[k >> 1];
            v += ((k & 1) ? pair.im : pair.re) * w;
          } else {
            v += zf[k].re * w;  // ifft_real
          }
        }
        acc[i] = v;
      }
    }
    ctx.sync();
    // 4. Envelope, scale, write each sample once.
    const SynthesisOut<V, Out> out(p, b, p0, len);
    const int f_env_max = static_cast<int>(min64(g.n_frames - 1 - first, 0x3fffffff));
    const int int_lo = static_cast<int>(max64(0, min64(len, g.n_fft - g.hop - p0)));
    const int int_hi = static_cast<int>(max64(0, min64(len, g.n_frames * g.hop - p0)));
    const int relf0 = static_cast<int>(p0 - first * g.hop);
    for (int i = tid; i < len; i += kThreads) {
      const int64_t pos = p0 + i;
      V y = zero_value<V>();
      if (pos < span) {
        R sc;
        if (hs_n > 0 && i >= int_lo && i < int_hi) {
          const int rf = i + relf0;
          sc = hs[rf - hm.hop.div(rf) * hm.hop.d];
        } else {
          const R h = g.env_normalize ? envelope_scale_rel(s.window, i + relf0, hm, f_env_max) : R(1);
          sc = h * s.scale;
        }
        y = acc[i] * sc;
      }
      out.put(p, b, p0, i, y);
    }
    // The padding's fold, where the launch's split lets the row's first and last blocks do it (fold_split).
    if constexpr (std::is_same<Out, V>::value) {
      if (fold != 0) fold_in_block(ctx, p, b, kb, segments_per_row);
    }
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
