"""Time torch vs each spectro CUDA kernel path (fused / tiled / direct) on a few sizes: a developer's quick probe.

    python scripts/path_timing.py            # median of CUDA-event timings, ms per call
"""
import statistics
import warnings

import torch

import spectro

warnings.simplefilter("ignore")


def bench(fn, reps=50):
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return statistics.median(times)


def main():
    print(torch.cuda.get_device_name(), torch.__version__)
    for B, T, n, hop in [(4, 160_000, 1024, 256), (4, 1_300_000, 1024, 256), (1, 16_000, 400, 160),
                         (2, 11_700_000, 4096, 1024), (16, 480_000, 512, 128)]:
        x = torch.randn(B, T, device="cuda")
        w = torch.hann_window(n, device="cuda")
        spec = torch.stft(x, n, hop, window=w, return_complex=True)
        row = [f"B={B} T={T} n={n}/{hop}"]
        row.append(f"torch stft {bench(lambda: torch.stft(x, n, hop, window=w, return_complex=True)):.4f}")
        for p in ("fused", "tiled"):
            with spectro.kernel_path(p):
                row.append(f"{p} {bench(lambda: spectro.stft(x, n, hop, window=w, return_complex=True)):.4f}")
        row.append(f"| torch istft {bench(lambda: torch.istft(spec, n, hop, window=w, length=T)):.4f}")
        for p in ("fused", "tiled"):
            with spectro.kernel_path(p):
                row.append(f"{p} {bench(lambda: spectro.istft(spec, n, hop, window=w, length=T)):.4f}")
        print("  ".join(row))


if __name__ == "__main__":
    main()
