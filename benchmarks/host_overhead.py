"""Where the time of a small eager call goes: host (Python, dispatch, allocation, launch) against the GPU.

    python benchmarks/host_overhead.py [--config B,T,n_fft,hop]   (default: B=1 T=16k n_fft=400 hop=160)

For each call it prints, in microseconds:
  event    CUDA events around one call, median (what benchmarks/bench.py reports: host time up to the launch plus the
           GPU time after it, when the GPU is idle before the call)
  host     host time per call of 2000 back-to-back calls with no synchronisation (the launch queue absorbs the GPU
           time while the host is slower than the GPU)
  graph    time per call replayed from a CUDA graph of 20 calls (GPU time alone, no host work)
for torch.stft / torch.istft and spectro's public functions, the registered ops called directly (no Python
wrapper: through their torch.ops packets, and through spectro._C's direct entry points, which the wrappers use), and
torch.empty of the output (the floor of any op that allocates its result). With --profile, also the
host time of spectro.stft by callee (torch.profiler, CPU activity). With --backward, also forward + backward rows
(torch.autograd.grad of the input with a fixed output gradient, as bench.py's forward + backward rows) for both
libraries' stft and istft, and with --profile the host time of spectro.stft's forward + backward by callee.
With --timeline NAME[,NAME...] (names as printed, e.g. "spectro.stft f+b"), each named call is also timed as bench.py
times it (CUDA events around one call, the GPU idle before it) under torch.profiler with CUDA activity, and the call
of median length is printed event by event: thread, start and length in us from the call's start, name (host ops,
CUDA runtime calls, kernels), and the GPU's idle time inside the call; where an event-timed call spends its time.
Not part of the tests; numbers are for notes and benchmarks/RESULTS.md.
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import torch

import spectro
from bench import Timer, graph_time  # (this folder: run as a script)


def event_us(fn, reps=200, warmup=20):
    """bench.py's timing (CUDA events around one call, median), in us."""
    return Timer(torch.device("cuda"))(lambda i: fn(), reps, warmup) * 1e3


def host_us(fn, reps=2000, warmup=50):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / reps * 1e6


def graph_us(fn, count=20):
    """bench.py's CUDA-graph replay time per call, in us (or its failure string: torch.istft cannot be captured)."""
    t = graph_time(lambda i: fn(), count, Timer(torch.device("cuda")))
    return t * 1e3 if isinstance(t, float) else t


def timeline(name, fn, calls=40, warmup=20):
    """Profile `calls` event-timed calls of fn (bench.py's Timer.once: events around one call, then a synchronize)
    with CPU and CUDA activity; print the call of median length event by event."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            with torch.profiler.record_function("timed call"):
                a.record()
                fn()
                b.record()
            b.synchronize()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    marks = sorted((e for e in events if e["name"] == "timed call" and e.get("cat") == "user_annotation"),
                   key=lambda e: e["ts"])
    kernels = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    by_corr = {e["args"].get("correlation"): e for e in kernels}
    spans = []
    for m in marks:
        lo, hi = m["ts"], m["ts"] + m["dur"]
        runtime = [e for e in events if e.get("cat") == "cuda_runtime" and lo <= e["ts"] < hi]
        gpu = [by_corr[r["args"]["correlation"]] for r in runtime if r["args"].get("correlation") in by_corr]
        end = max([hi] + [k["ts"] + k["dur"] for k in gpu])
        spans.append((end - lo, lo, end, gpu))
    spans.sort(key=lambda s: s[0])
    print(f"{name}: {len(spans)} event-timed calls under the profiler, call + GPU work after it: median "
          f"{statistics.median(s[0] for s in spans):.1f} us, min {spans[0][0]:.1f}, max {spans[-1][0]:.1f}")
    length, lo, end, gpu = spans[len(spans) // 2]
    inside = sorted((e for e in events if e.get("cat") in ("cpu_op", "user_annotation", "cuda_runtime", "kernel",
                                                           "gpu_memcpy", "gpu_memset", "python_function")
                     and lo <= e["ts"] < end and e["dur"] >= 1.0), key=lambda e: e["ts"])
    tids = {}
    print(f"  the median call ({length:.1f} us); events of >= 1 us, start and length in us from the call's start:")
    for e in inside:
        where = "GPU" if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") else \
            f"thread {tids.setdefault(e.get('tid'), len(tids))}"
        print(f"  {where:<10}{e['ts'] - lo:>9.1f}{e['dur']:>9.1f}  {e['name'][:90]}")
    busy, last = 0.0, lo
    for k in sorted(gpu, key=lambda e: e["ts"]):
        busy += max(0.0, k["ts"] + k["dur"] - max(last, k["ts"]))
        last = max(last, k["ts"] + k["dur"])
    print(f"  GPU busy {busy:.1f} us of the call's {length:.1f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="1,16000,400,160", help="B,T,n_fft,hop")
    ap.add_argument("--profile", action="store_true", help="host time of spectro.stft by callee (torch.profiler)")
    ap.add_argument("--backward", action="store_true", help="also forward + backward rows (torch.autograd.grad)")
    ap.add_argument("--timeline", default="", help="comma-separated call names: event-timed calls under "
                    "torch.profiler, the median call event by event")
    args = ap.parse_args()
    B, T, n_fft, hop = (int(v) for v in args.config.split(","))
    dev = torch.device("cuda")
    x = torch.randn(B, T, device=dev)
    w = torch.hann_window(n_fft, device=dev)
    n_frames = 1 + T // hop
    S = torch.stft(x, n_fft, hop, window=w, return_complex=True)
    pad = n_fft // 2
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, B={B} T={T} n_fft={n_fft} hop={hop}")
    calls = {
        "torch.stft": lambda: torch.stft(x, n_fft, hop, window=w, return_complex=True),
        "spectro.stft": lambda: spectro.stft(x, n_fft, hop, window=w, return_complex=True),
        "op spectro::analysis": lambda: torch.ops.spectro.analysis(x, w, n_fft, hop, n_frames, pad, "reflect", False,
                                                                   "rfft", 1.0),
        "direct spectro._C.analysis": lambda: spectro._C.analysis(x, w, n_fft, hop, n_frames, pad, "reflect", False,
                                                                  "rfft", 1.0),
        "torch.empty (stft output)": lambda: torch.empty(B, n_frames, n_fft // 2 + 1, dtype=torch.complex64,
                                                         device=dev),
        "torch.istft": lambda: torch.istft(S, n_fft, hop, window=w, length=T),
        "spectro.istft": lambda: spectro.istft(S, n_fft, hop, window=w, length=T),
        "op spectro::synthesis": lambda: torch.ops.spectro.synthesis(S, w, n_fft, hop, T, pad, "constant", True,
                                                                     "irfft", 1.0 / n_fft),
        "direct spectro._C.synthesis": lambda: spectro._C.synthesis(S, w, n_fft, hop, T, pad, "constant", True,
                                                                    "irfft", 1.0 / n_fft),
    }
    if args.backward:
        xg = x.clone().requires_grad_(True)
        Sg = S.clone().requires_grad_(True)
        gs = torch.randn_like(S)
        gx = torch.randn_like(x)

        def fb(fwd, inp, grad):
            return lambda: torch.autograd.grad(fwd(inp), inp, grad)

        calls.update({
            "torch.stft f+b": fb(lambda v: torch.stft(v, n_fft, hop, window=w, return_complex=True), xg, gs),
            "spectro.stft f+b": fb(lambda v: spectro.stft(v, n_fft, hop, window=w, return_complex=True), xg, gs),
            # the same without the reflect padding's fold in the backward (one launch, one allocation fewer)
            "spectro.stft f+b constant": fb(lambda v: spectro.stft(v, n_fft, hop, window=w, pad_mode="constant",
                                                                   return_complex=True), xg, gs),
            "torch.istft f+b": fb(lambda v: torch.istft(v, n_fft, hop, window=w, length=T), Sg, gx),
            "spectro.istft f+b": fb(lambda v: spectro.istft(v, n_fft, hop, window=w, length=T), Sg, gx),
        })
    print(f"{'call':<30}{'event us':>10}{'host us':>10}{'graph us':>16}")
    for name, fn in calls.items():
        g = graph_us(fn)
        g = f"{g:.1f}" if isinstance(g, float) else g
        print(f"{name:<30}{event_us(fn):>10.1f}{host_us(fn):>10.1f}{g:>16}")
    profiled = ["spectro.stft", "spectro.stft f+b"] if args.backward else ["spectro.stft"]
    for name in profiled if args.profile else []:
        fn = calls[name]
        for _ in range(50):
            fn()
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(500):
                fn()
            torch.cuda.synchronize()
        print(f"{name}, 500 calls, host time by callee (torch.profiler; profiling adds its own overhead):")
        print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=15))
    for name in filter(None, args.timeline.split(",")):
        timeline(name, calls[name])


if __name__ == "__main__":
    main()
