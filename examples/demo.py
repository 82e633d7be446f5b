"""spectro demo: STFT -> ISTFT round trip of a synthetic clip, compared with torch.stft / torch.istft.

    python examples/demo.py [--device auto|cpu|cuda] [--out demo_spectrogram.png] [--seconds 4] [--sr 16000]

Makes a few seconds of audio (a rising chirp with harmonics, a vibrato tone, clicks and noise; nothing is
downloaded), runs spectro.stft -> spectro.istft (n_fft 1024, hop 256, Hann), prints the reconstruction error, the
difference from torch's results and the time of both libraries, computes an 80-band log-mel spectrogram
(spectro.LogMelSpectrogram), and writes a PNG of the log-magnitude spectrogram, the round-trip error and the log-mel.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch

import spectro

N_FFT, HOP = 1024, 256


def make_clip(seconds: float, sr: int, seed: int = 0) -> torch.Tensor:
    """A float64 test signal: a chirp 110 Hz -> sr/9 with 3 harmonics (all below Nyquist), a vibrato tone, clicks,
    noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    f0, f1 = 110.0, sr / 9
    # exponential chirp: phase = 2 pi f0 T / ln(f1/f0) * ((f1/f0)^(t/T) - 1)
    k = math.log(f1 / f0)
    phase = 2 * math.pi * f0 * seconds / k * (torch.exp(k * t / seconds) - 1)
    chirp = sum(torch.sin(h * phase) / h for h in (1, 2, 3, 4))
    envelope = 0.5 * (1 - torch.cos(2 * math.pi * t / seconds))  # fade in and out
    vibrato = 0.3 * torch.sin(2 * math.pi * 660 * t + 8 * torch.sin(2 * math.pi * 5 * t))
    clicks = torch.zeros_like(t)
    clicks[(torch.arange(1, int(seconds * 2)) * (sr // 2))] = 1.0  # two clicks per second
    noise = 0.02 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    x = 0.5 * envelope * chirp + vibrato * (t > seconds / 3) + clicks + noise
    return x / x.abs().max()


def pick_device(requested: str) -> torch.device:
    has_cuda_kernels = torch._C._dispatch_has_kernel_for_dispatch_key("spectro::analysis", "CUDA")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() and has_cuda_kernels else "cpu")
    if requested == "cuda" and not (torch.cuda.is_available() and has_cuda_kernels):
        sys.exit("--device cuda: no CUDA device, or spectro was built without its CUDA kernels (no nvcc at build time)")
    return torch.device(requested)


def time_pair_ms(f_a, f_b, device: torch.device, reps: int, warmup: int = 5) -> tuple[float, float]:
    """Median wall times of f_a() and f_b() in milliseconds, measured alternately in one loop (a, b, a, b, ...) so
    that both see the same machine state (other load, frequency scaling): CUDA events on a GPU, perf_counter on the
    CPU. reps=0: as many calls as fit in about a second per function on the CPU (at least 20), 100 on a GPU."""
    for _ in range(warmup):
        f_a()
        f_b()

    def one(fn):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if reps <= 0:
        if device.type == "cuda":
            reps = 100
        else:
            probe = max(one(f_a), one(f_b), 1e-3)
            reps = max(20, min(500, int(1000.0 / probe)))
    times_a, times_b = [], []
    for _ in range(reps):
        times_a.append(one(f_a))
        times_b.append(one(f_b))
    return statistics.median(times_a), statistics.median(times_b)


def snr_db(ref: torch.Tensor, est: torch.Tensor) -> float:
    err = (ref - est).double().pow(2).sum().item()
    sig = ref.double().pow(2).sum().item()
    return float("inf") if err == 0 else 10 * math.log10(sig / err)


def log_mel_db(x: torch.Tensor, sr: int) -> torch.Tensor:
    """The clip's 80-band log-mel spectrogram in dB (librosa's slaney filterbank, power spectrum), on spectro."""
    frontend = spectro.LogMelSpectrogram(sr, N_FFT, HOP, n_mels=80, power=2.0, log="db", log_eps=1e-10).to(x.device)
    return frontend(x)


def save_png(path: str, x: torch.Tensor, y: torch.Tensor, spec: torch.Tensor, sr: int,
             mel_db: torch.Tensor = None) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"  (matplotlib is not installed: {path} not written; pip install matplotlib)")
        return False
    db = 20 * torch.log10(spec.abs().clamp_min(1e-8)).cpu()
    db = db.clamp_min(db.max() - 90)  # 90 dB of range
    duration = x.shape[-1] / sr
    rows = 2 if mel_db is None else 3
    fig, axes = plt.subplots(
        rows, 1, figsize=(10, 6.5 if rows == 2 else 9.5), gridspec_kw={"height_ratios": [3, 1] + [3] * (rows - 2)},
        constrained_layout=True
    )
    ax0, ax1 = axes[0], axes[1]
    im = ax0.imshow(
        db.numpy(), origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, sr / 2 / 1000)
    )
    ax0.set(
        title=f"spectro.stft: log-magnitude spectrogram (n_fft={N_FFT}, hop={HOP}, Hann, {sr} Hz)",
        ylabel="frequency (kHz)",
    )
    fig.colorbar(im, ax=ax0, label="dB")
    t = torch.arange(x.shape[-1]) / sr
    err = (y - x).cpu()
    ax1.plot(t.numpy(), err.numpy(), lw=0.4, color="C3")
    ax1.set(
        title=f"round-trip error spectro.istft(spectro.stft(x)) - x: max {err.abs().max().item():.1e}, "
        f"SNR {snr_db(x.cpu(), y.cpu()):.0f} dB",
        xlabel="time (s)",
        xlim=(0, duration),
    )
    ax1.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    if mel_db is not None:  # the log-mel panel
        mdb = mel_db.cpu()
        mdb = mdb.clamp_min(mdb.max() - 80)  # 80 dB of range
        im2 = axes[2].imshow(mdb.numpy(), origin="lower", aspect="auto", cmap="magma",
                             extent=(0, duration, 0, mdb.shape[0]))
        axes[2].set(title=f"spectro.LogMelSpectrogram: {mdb.shape[0]} mel bands (slaney), power in dB",
                    xlabel="time (s)", ylabel="mel band")
        fig.colorbar(im2, ax=axes[2], label="dB")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", default="demo_spectrogram.png", help="spectrogram PNG to write")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--sr", type=int, default=16000, help="sample rate (Hz)")
    p.add_argument("--batch", type=int, default=8, help="clips per call in the timing section")
    p.add_argument("--reps", type=int, default=0,
                   help="timed calls per measurement (default: 100 on a GPU; on the CPU about a second's worth)")
    args = p.parse_args()

    torch.manual_seed(0)
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"spectro {spectro.__version__} | torch {torch.__version__} | device: {device} ({name})")

    x = make_clip(args.seconds, args.sr).to(torch.float32).to(device)
    window = torch.hann_window(N_FFT, device=device)
    kw = dict(n_fft=N_FFT, hop_length=HOP, window=window, center=True)
    T = x.shape[-1]
    print(f"\nsignal: {args.seconds:g} s synthetic clip at {args.sr} Hz ({T} samples, float32)")

    # 1. Round trip.
    spec = spectro.stft(x, **kw, return_complex=True)
    y = spectro.istft(spec, **kw, length=T)
    print(f"\n1. round trip  spectro.istft(spectro.stft(x))  spectrum {tuple(spec.shape)} {spec.dtype}")
    print(f"   max |y - x|        {(y - x).abs().max().item():.2e}")
    print(f"   SNR                {snr_db(x, y):.1f} dB   (float32 rounding; > 100 dB is a perfect reconstruction)")

    # 2. Agreement with torch.
    ref_spec = torch.stft(x, **kw, return_complex=True)
    ref_y = torch.istft(ref_spec, **kw, length=T)
    d_spec = (spec - ref_spec).abs().max().item()
    d_y = (spectro.istft(ref_spec, **kw, length=T) - ref_y).abs().max().item()
    print("\n2. spectro vs torch (same input)")
    print(f"   stft : max |spectro - torch| = {d_spec:.2e}   (relative to max |X| = {spec.abs().max().item():.1f}: "
          f"{d_spec / spec.abs().max().item():.1e})")
    print(f"   istft: max |spectro - torch| = {d_y:.2e}   (signal peak 1.0)")
    print(f"   same shape, dtype and strides: {spec.shape == ref_spec.shape and spec.dtype == ref_spec.dtype and spec.stride() == ref_spec.stride()}")

    # 3. Timing, on a batch of clips: each library's call alternately, in one loop.
    xb = torch.stack([make_clip(args.seconds, args.sr, seed=i) for i in range(args.batch)]).float().to(device)
    sb = torch.stft(xb, **kw, return_complex=True)
    rows = [
        ("stft", lambda: torch.stft(xb, **kw, return_complex=True), lambda: spectro.stft(xb, **kw, return_complex=True)),
        ("istft", lambda: torch.istft(sb, **kw, length=T), lambda: spectro.istft(sb, **kw, length=T)),
    ]
    clock = "CUDA events" if device.type == "cuda" else "perf_counter"
    print(f"\n3. time per call, batch of {args.batch} clips {tuple(xb.shape)}: median over alternating calls "
          f"({clock}, after warm-up)")
    print(f"   {'op':<6} {'torch':>10} {'spectro':>10} {'speedup':>8}")
    for op, f_torch, f_spectro in rows:
        a, b = time_pair_ms(f_torch, f_spectro, device, args.reps)
        print(f"   {op:<6} {a:>7.3f} ms {b:>7.3f} ms {a / b:>7.2f}x")
    if device.type == "cpu":
        print("   (one process on a shared machine: benchmarks/CPU.md has the CPU table over several processes,\n"
              "    benchmarks/RESULTS.md the GPU numbers)")

    # 4. Log-mel frontend, against the torch composition it replaces (torch.stft -> |X|^2 -> mel -> 10 log10).
    mel_db = log_mel_db(x, args.sr)
    basis = spectro.mel_filters(args.sr, N_FFT, 80, device=device)
    ref_db = 10 * torch.log10((basis @ torch.stft(x, **kw, return_complex=True).abs().pow(2)).clamp_min(1e-10))
    print(f"\n4. log-mel  spectro.LogMelSpectrogram(sr, {N_FFT}, {HOP}, n_mels=80, power=2.0, log='db')  "
          f"{tuple(mel_db.shape)}")
    # (over the top 80 dB: further down, float32 rounding of the FFT (~1e-7 of the peak magnitude) dominates both)
    floor = ref_db.max() - 80
    d_db = (mel_db.clamp_min(floor) - ref_db.clamp_min(floor)).abs().max().item()
    print(f"   max |spectro - torch composition| = {d_db:.2e} dB   (over the top 80 dB)")

    # 5. Picture.
    if save_png(args.out, x, y, spec, args.sr, mel_db):
        print(f"\n5. wrote {args.out} (log-magnitude spectrogram, round-trip error, log-mel spectrogram)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
