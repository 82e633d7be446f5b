"""Host overhead of spectro.stft / spectro.istft (the Python wrappers and the C++ ops spectro::stft / istft they call)
over the core ops they end in.

    cd <repo> && PYTHONPATH=. python benchmarks/wrapper_overhead.py [--reps 20000] [--batches 7] [--device cpu]

Each case times a public call (spectro.stft / spectro.istft) and the registered op it ends in
(torch.ops.spectro.analysis / torch.ops.spectro.synthesis), called directly with the arguments the wrapper gives it
(the input already in the op's (batch, T) / (batch, F, n_frames) layout). The inputs are tiny (T=256, n_fft=16,
hop=4, a Hann window) so that the kernels' compute is negligible and both timings are host time: argument checks,
dispatch, allocation. The difference "wrapper" is the cost of the semantics layer (type checks in Python; window
handling, dtype promotion, reshapes and istft's NOLA cache lookup with safety="auto" in C++).

Two more columns time the op's entry points below the packet: its C++ entry point (torch.ops.spectro.analysis.default.
_op, what the packet's __call__ calls, which matches the arguments against the schema and boxes them) and spectro's
direct entry point (spectro._C.analysis: one typed dispatcher call, csrc/python/module.cpp), the kind of entry
point the wrappers use for spectro::stft / istft in eager mode. "wrapper" is measured against the packet, the way a
user calls the op, so what the direct entry point saves counts as saved.

Per case: --reps back-to-back calls per batch, --batches batches (the cases interleaved batch by batch so that a
drift of the machine hits all of them alike), the median per-call time of the batches in microseconds.
Not part of the tests (pytest does not collect it: no test_ prefix and it lives outside tests/).
"""
import argparse
import statistics
import time

import torch

import spectro


def per_call_us(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1e6


def cases(device):
    T, n_fft, hop = 256, 16, 4
    w = torch.hann_window(n_fft, device=device)
    x1 = torch.randn(T, device=device)  # 1-D signal
    x2 = torch.randn(4, T, device=device)  # 2-D batch
    x3 = torch.randn(2, 3, T, device=device)  # 3-D batch (spectro extension)
    n_frames = 1 + T // hop
    pad = n_fft // 2
    x1_op = x1.reshape(1, T)
    x3_op = x3.reshape(6, T)
    S1 = spectro.stft(x1, n_fft, hop, window=w, return_complex=True)  # (F, n_frames)
    S2 = spectro.stft(x2, n_fft, hop, window=w, return_complex=True)  # (4, F, n_frames)
    S1_op = S1.reshape(1, *S1.shape)
    inv = 1.0 / n_fft

    a_entry, s_entry = torch.ops.spectro.analysis.default._op, torch.ops.spectro.synthesis.default._op
    a_direct, s_direct = spectro._C.analysis, spectro._C.synthesis

    def analysis(x):
        return (lambda: torch.ops.spectro.analysis(x, w, n_fft, hop, n_frames, pad, "reflect", False, "rfft", 1.0,
                                                   None),
                lambda: a_entry(x, w, n_fft, hop, n_frames, pad, "reflect", False, "rfft", 1.0, None),
                lambda: a_direct(x, w, n_fft, hop, n_frames, pad, "reflect", False, "rfft", 1.0, None))

    def synthesis(S):
        return (lambda: torch.ops.spectro.synthesis(S, w, n_fft, hop, T, pad, "constant", True, "irfft", inv, None),
                lambda: s_entry(S, w, n_fft, hop, T, pad, "constant", True, "irfft", inv, None),
                lambda: s_direct(S, w, n_fft, hop, T, pad, "constant", True, "irfft", inv, None))

    return {
        "stft 1-D (256,)": (
            lambda: spectro.stft(x1, n_fft, hop, window=w, return_complex=True),
            *analysis(x1_op),
        ),
        "stft 2-D (4, 256)": (
            lambda: spectro.stft(x2, n_fft, hop, window=w, return_complex=True),
            *analysis(x2),
        ),
        "stft 3-D (2, 3, 256)": (
            lambda: spectro.stft(x3, n_fft, hop, window=w, return_complex=True),
            *analysis(x3_op),
        ),
        "istft 2-D (9, 65) length=T": (
            lambda: spectro.istft(S1, n_fft, hop, window=w, length=T),
            *synthesis(S1_op),
        ),
        "istft 3-D (4, 9, 65) length=T": (
            lambda: spectro.istft(S2, n_fft, hop, window=w, length=T),
            *synthesis(S2),
        ),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=20000, help="calls per batch")
    ap.add_argument("--batches", type=int, default=7, help="batches per case (the median is reported)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    table = cases(device)
    funcs = [f for pair in table.values() for f in pair]
    for f in funcs:  # warm-up (first calls, the NOLA check's cache)
        for _ in range(200):
            f()
    sync()
    times = {id(f): [] for f in funcs}
    for _ in range(args.batches):
        for f in funcs:
            times[id(f)].append(per_call_us(f, args.reps))
            sync()
    print(f"torch {torch.__version__}, {device}, spectro from {spectro.__file__}")
    print(f"{'case':<32}{'public us':>11}{'op us':>9}{'wrapper us':>12}{'op entry us':>13}{'direct us':>11}")
    for name, (public, op, entry, direct) in table.items():
        p, o, e, d = (statistics.median(times[id(f)]) for f in (public, op, entry, direct))
        print(f"{name:<32}{p:>11.2f}{o:>9.2f}{p - o:>12.2f}{e:>13.2f}{d:>11.2f}")


if __name__ == "__main__":
    main()
