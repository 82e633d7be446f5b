"""Calls for a profiler to look at: spectro.stft and spectro.istft at one configuration, after warm-up, between
cudaProfilerStart / Stop (so `ncu --profile-from-start off` sees only these kernels).

    ncu --profile-from-start off --set full python benchmarks/profile_driver.py --B 4 --T 1300000 --n-fft 1024

scripts/gpu_check.sh runs it under ncu with PROFILE=1.
"""
import argparse

import torch

import spectro


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--B", type=int, default=4)
    p.add_argument("--T", type=int, default=1_300_000)
    p.add_argument("--n-fft", type=int, default=1024)
    p.add_argument("--hop", type=int, default=0, help="default n_fft // 4")
    p.add_argument("--path", default="auto", choices=sorted(spectro.kernel_path._CODES))
    p.add_argument("--calls", type=int, default=1, help="profiled calls of each op")
    args = p.parse_args()
    hop = args.hop or args.n_fft // 4
    dev = torch.device("cuda")
    x = torch.randn(args.B, args.T, device=dev)
    w = torch.hann_window(args.n_fft, device=dev)
    with spectro.kernel_path(args.path):
        s = spectro.stft(x, args.n_fft, hop, window=w, return_complex=True)
        for _ in range(3):  # warm-up (cuFFT plans, the NOLA check of safety="auto")
            spectro.istft(spectro.stft(x, args.n_fft, hop, window=w, return_complex=True), args.n_fft, hop, window=w,
                          length=args.T)
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStart()
        for _ in range(args.calls):
            spectro.stft(x, args.n_fft, hop, window=w, return_complex=True)
            spectro.istft(s, args.n_fft, hop, window=w, length=args.T)
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()
    print(f"profiled {args.calls} stft + istft call(s): B={args.B} T={args.T} n_fft={args.n_fft} hop={hop} "
          f"path={args.path}")


if __name__ == "__main__":
    main()
