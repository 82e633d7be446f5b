"""torch.stft / torch.istft vs spectro: eager, float32, Hann, center=True, pad_mode="reflect".

    python benchmarks/bench.py [--quick] [--out DIR] [--device auto|cuda|cpu] [--reps N] [--warmup N]
    python benchmarks/bench.py --summarize benchmarks/results.json      # compact table of a finished run
    python benchmarks/bench.py --render benchmarks/results.json         # RESULTS.md again (after editing GOALS.md)

For every configuration (torchaudio's Spectrogram / InverseSpectrogram too, forward only, where torchaudio imports):
stft forward, istft forward, stft forward+backward, istft forward+backward and the
stft -> istft round trip forward+backward (input gradients through torch.autograd.grad with a fixed output
gradient), in milliseconds per call (median of CUDA-event timings, one call between two events, after warm-up; on
a CPU perf_counter). Forward ops also get the share of the byte floor they reach: (signal bytes + spectrum bytes) /
measured device-to-device copy bandwidth. stft, istft and the round trip f+b also get spectro's time per call when
replayed from a CUDA graph (the GPU time alone, no host work), stft also torch's (torch.istft cannot be captured: it
synchronises with the host). A "goals" section compares the run with the performance goals (see SEED_CONFIGS) and
appends benchmarks/GOALS.md. Memory: peak extra memory one call asks for (and the allocator's block peak) over its
output size. Inputs are rotated over several copies when one call's data would fit in L2. Half precision: half
inputs and a row per kernel_dtype ("float32", "mixed", "float16") for stft and istft at two configurations (ms and MB
moved).

Writes DIR/RESULTS.md, DIR/results.json and DIR/results.png (default DIR: this script's folder). --quick: the first
three configurations and fewer repetitions. The mel frontends' rows come from benchmarks/frontends.py, the spectral
losses' from benchmarks/losses.py.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import torch

import spectro

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frontends  # noqa: E402  (benchmarks/frontends.py: the mel frontends' rows)
import losses  # noqa: E402  (benchmarks/losses.py: the spectral losses' rows)

HERE = os.path.dirname(os.path.abspath(__file__))

# (batch, samples, n_fft, hop)
CONFIGS = [
    (4, 160_000, 1024, 256),
    (4, 160_000, 2048, 512),
    (8, 160_000, 1024, 256),
    (4, 1_300_000, 1024, 256),
    (1, 1_300_000, 1024, 256),
    (16, 480_000, 512, 128),
    (1, 16_000, 400, 160),
    (2, 11_700_000, 2048, 512),
    (2, 11_700_000, 4096, 1024),
]
def torchaudio_lib(n_fft: int, hop: int, device):
    """torchaudio's Spectrogram(power=None) / InverseSpectrogram as stft / istft with torch's signature (the
    configuration's Hann window, center, reflect), or None without torchaudio. They call torch.stft / torch.istft
    inside, so they time torch plus the module's own overhead."""
    try:
        import torchaudio

        spec = torchaudio.transforms.Spectrogram(n_fft=n_fft, hop_length=hop, power=None, center=True,
                                                 pad_mode="reflect").to(device)
        inv = torchaudio.transforms.InverseSpectrogram(n_fft=n_fft, hop_length=hop, center=True,
                                                       pad_mode="reflect").to(device)
    except Exception:  # noqa: BLE001 - not installed, built for another torch, or without these transforms
        return None

    class Lib:
        @staticmethod
        def stft(x, *args, **kwargs):
            return spec(x)

        @staticmethod
        def istft(s, *args, length=None, **kwargs):
            return inv(s, length=length)

    return Lib


# CUDA paths also timed forced (spectro.kernel_path), besides auto: the single kernel and framing + cuFFT.
FORCED = ("fused", "two_kernel")
OPS = ["stft", "istft", "stft_fb", "istft_fb", "roundtrip_fb"]
STEP_OPS = ["stft_fb", "istft_fb", "roundtrip_fb"]  # also timed as a training step (backward into accumulating leaves)
OP_TITLES = {
    "stft": "stft forward",
    "istft": "istft forward",
    "stft_fb": "stft forward + backward",
    "istft_fb": "istft forward + backward",
    "roundtrip_fb": "stft -> istft round trip, forward + backward",
}


def human(n: int) -> str:
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            v = n / div
            return f"{v:.1f}".rstrip("0").rstrip(".") + suffix
    return str(n)


def label(cfg) -> str:
    B, T, n, hop = cfg
    return f"B={B} T={human(T)} n_fft={n} hop={hop}"


class Timer:
    """Median time of one call, in ms: CUDA events around each call on a GPU, perf_counter on a CPU."""

    def __init__(self, device: torch.device):
        self.device = device

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def once(self, fn, i: int) -> float:
        """ms of the one call fn(i), the GPU idle before it."""
        if self.device.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn(i)
            b.record()
            b.synchronize()
            return a.elapsed_time(b)
        t0 = time.perf_counter()
        fn(i)
        return (time.perf_counter() - t0) * 1e3

    def __call__(self, fn, reps: int, warmup: int) -> float:
        for i in range(warmup):
            fn(i)
        self.sync()
        return statistics.median(self.once(fn, warmup + i) for i in range(reps))


def time_alternating(timer: Timer, fns: dict, reps: int, warmup: int) -> dict:
    """Median ms per call of each of fns (name -> fn(i)), called in turn in one loop (a, b, a, b, ...) so that all see
    the same machine state; each call timed alone as Timer does."""
    for i in range(warmup):
        for fn in fns.values():
            fn(i)
    timer.sync()
    times = {name: [] for name in fns}
    for i in range(reps):
        for name, fn in fns.items():
            times[name].append(timer.once(fn, warmup + i))
    return {name: statistics.median(t) for name, t in times.items()}


def copy_bandwidth(device: torch.device, timer: Timer) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read and written."""
    nbytes = (1 << 30) if device.type == "cuda" else (256 << 20)
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    ms = timer(lambda i: dst.copy_(src), reps=20, warmup=3)
    del src, dst
    return 2 * nbytes / (ms * 1e-3)


def graph_time(fn, count: int, timer: Timer):
    """Time per call of `count` calls fn(0..count-1) captured in one CUDA graph, or an error string."""
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for i in range(3):
                fn(i)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for i in range(count):
                fn(i)
        ms = timer(lambda i: g.replay(), reps=20, warmup=2)
        del g
        return ms / count
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return f"fails: {type(e).__name__}: {str(e).splitlines()[0][:100]}"


def peak_extra(fn, device: torch.device):
    """(peak extra bytes requested during fn(), peak extra bytes of allocator blocks, output bytes) on a GPU; None on
    a CPU. The caching allocator may serve a request with a cached block up to 1 MB larger than asked for (it splits
    larger blocks only when more than that would remain), so the block peak can exceed what the call asked for; the
    requested peak is the call's own."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    base_req = torch.cuda.memory_stats(device)["requested_bytes.all.current"]
    out = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    peak_req = torch.cuda.memory_stats(device)["requested_bytes.all.peak"] - base_req
    size = out.numel() * out.element_size()
    del out
    return peak_req, peak, size


def bench_config(cfg, device, timer, reps, reps_fb, warmup, l2_bytes, forced=False):
    B, T, n, hop = cfg
    torch.manual_seed(0)
    w = torch.hann_window(n, device=device)
    frames = 1 + T // hop  # center=True
    bins = n // 2 + 1
    sig_bytes, spec_bytes = B * T * 4, B * bins * frames * 8
    working = 2 * (sig_bytes + spec_bytes)  # data + gradient
    k = 1
    if device.type == "cuda" and working < 2 * l2_bytes:
        k = min(1024, math.ceil(4 * l2_bytes / working))

    xs = [torch.randn(B, T, device=device) for _ in range(k)]
    xg = [x.clone().requires_grad_(True) for x in xs]
    ss = [torch.stft(x, n, hop, window=w, center=True, return_complex=True) for x in xs]
    sg = [s.clone().requires_grad_(True) for s in ss]
    g_spec = [torch.randn_like(s) for s in ss]
    g_sig = [torch.randn_like(x) for x in xs]

    def libs(lib):
        def stft(x):
            return lib.stft(x, n, hop, window=w, center=True, pad_mode="reflect", return_complex=True)

        def istft(s):
            return lib.istft(s, n, hop, window=w, center=True, length=T)

        return stft, istft

    row = {"config": label(cfg), "B": B, "T": T, "n_fft": n, "hop": hop, "frames": frames, "rotation": k,
           "signal_MB": sig_bytes / 2**20, "spectrum_MB": spec_bytes / 2**20}

    # Agreement (so that a fast-but-wrong kernel cannot go unnoticed).
    t_stft, t_istft = libs(torch)
    s_stft, s_istft = libs(spectro)
    with torch.no_grad():
        ref = t_stft(xs[0])
        row["stft_max_rel_diff"] = ((s_stft(xs[0]) - ref).abs().max() / ref.abs().max()).item()
        ref_y = t_istft(ss[0])
        row["istft_max_rel_diff"] = ((s_istft(ss[0]) - ref_y).abs().max() / ref_y.abs().max()).item()
        del ref, ref_y

    variants = [("torch", torch, contextlib.nullcontext), ("spectro", spectro, contextlib.nullcontext)]
    ta = torchaudio_lib(n, hop, device)
    if ta is not None:  # forward only: the same torch ops underneath
        variants.append(("torchaudio", ta, contextlib.nullcontext))
    if forced and device.type == "cuda":  # each CUDA path forced: what auto chooses between
        for path in FORCED:
            variants.append((path, spectro, lambda path=path: spectro.kernel_path(path)))
    for name, lib, ctx in variants:
        stft, istft = libs(lib)

        def f_stft(i):
            return stft(xs[i % k])

        def f_istft(i):
            return istft(ss[i % k])

        def f_stft_fb(i):
            x = xg[i % k]
            return torch.autograd.grad(stft(x), x, g_spec[i % k])

        def f_istft_fb(i):
            s = sg[i % k]
            return torch.autograd.grad(istft(s), s, g_sig[i % k])

        def f_roundtrip_fb(i):
            x = xg[i % k]
            return torch.autograd.grad(istft(stft(x)), x, g_sig[i % k])

        if name == "torchaudio":
            with torch.no_grad():
                row["stft_torchaudio_ms"] = timer(f_stft, reps, warmup)
                row["istft_torchaudio_ms"] = timer(f_istft, reps, warmup)
                ref = t_stft(xs[0])
                row["stft_torchaudio_max_rel_diff"] = ((f_stft(0) - ref).abs().max() / ref.abs().max()).item()
            continue
        if name in FORCED:
            with ctx():
                for op, fn, r in (("stft", f_stft, reps), ("istft", f_istft, reps), ("stft_fb", f_stft_fb, reps_fb),
                                  ("istft_fb", f_istft_fb, reps_fb), ("roundtrip_fb", f_roundtrip_fb, reps_fb)):
                    try:
                        with torch.no_grad() if op in ("stft", "istft") else contextlib.nullcontext():
                            row[f"{op}_{name}_ms"] = timer(fn, r, warmup)
                    except RuntimeError as e:  # a geometry the forced path does not cover
                        if "cannot run" not in str(e):
                            raise
                        row[f"{op}_{name}_ms"] = None
                with torch.no_grad():
                    for op, fn in (("stft", stft), ("istft", istft)):
                        if row[f"{op}_{name}_ms"] is not None:
                            arg, ref = (xs[0], t_stft(xs[0])) if op == "stft" else (ss[0], t_istft(ss[0]))
                            row[f"{op}_{name}_max_rel_diff"] = ((fn(arg) - ref).abs().max() / ref.abs().max()).item()
            continue
        with torch.no_grad():
            row[f"stft_{name}_ms"] = timer(f_stft, reps, warmup)
            row[f"istft_{name}_ms"] = timer(f_istft, reps, warmup)
        row[f"stft_fb_{name}_ms"] = timer(f_stft_fb, reps_fb, warmup)
        row[f"istft_fb_{name}_ms"] = timer(f_istft_fb, reps_fb, warmup)
        row[f"roundtrip_fb_{name}_ms"] = timer(f_roundtrip_fb, reps_fb, warmup)

        with torch.no_grad():
            for op, fn in (("stft", f_stft), ("istft", f_istft)):
                m = peak_extra(lambda: fn(0), device)
                if m is not None:
                    row[f"{op}_{name}_peak_MB"] = m[0] / 2**20
                    row[f"{op}_{name}_peak_blocks_MB"] = m[1] / 2**20
                    row[f"{op}_out_MB"] = m[2] / 2**20
            # Replayed from a CUDA graph: the GPU time alone (no host work between calls). torch.istft cannot be
            # captured (it synchronises), hence not its round trip either.
            if device.type == "cuda" and name == "spectro":
                row["istft_spectro_graph_ms"] = graph_time(f_istft, min(20, max(k, 10)), timer)
                row["stft_spectro_graph_ms"] = graph_time(f_stft, min(20, max(k, 10)), timer)
            if device.type == "cuda" and name == "torch":
                row["stft_torch_graph_ms"] = graph_time(f_stft, min(20, max(k, 10)), timer)
        if device.type == "cuda" and name == "spectro":
            row["roundtrip_fb_spectro_graph_ms"] = graph_time(f_roundtrip_fb, min(20, max(k, 10)), timer)

    # Forward + backward as a training step does it: out.backward(grad) into leaves whose .grad accumulates across
    # steps (no torch.autograd.grad), torch's and spectro's steps alternating in one loop.
    for op in STEP_OPS:
        step, step_leaves = {}, {}
        for name, lib in (("torch", torch), ("spectro", spectro)):
            stft, istft = libs(lib)
            leaves = [(x if op != "istft_fb" else s).clone().requires_grad_(True) for x, s in zip(xs, ss)]
            step_leaves[name] = leaves

            def fn(i, stft=stft, istft=istft, leaves=leaves):
                leaf = leaves[i % k]
                if op == "stft_fb":
                    stft(leaf).backward(g_spec[i % k])
                elif op == "istft_fb":
                    istft(leaf).backward(g_sig[i % k])
                else:
                    istft(stft(leaf)).backward(g_sig[i % k])

            step[name] = fn
        t = time_alternating(timer, step, reps_fb, warmup)
        for name in step:
            row[f"{op}_step_{name}_ms"] = t[name]
        row[f"{op}_step_speedup"] = t["torch"] / t["spectro"]
        # The same spectro step in its own loop (no torch steps in between: the L2 and the allocator's cache as
        # spectro alone leaves them), then also without the accumulation (each leaf's .grad reset to None, so the
        # backward's result becomes .grad without an add): what separates a step from the autograd.grad row.
        row[f"{op}_step_own_ms"] = timer(step["spectro"], reps_fb, warmup)

        def fresh(i, fn=step["spectro"], leaves=step_leaves["spectro"]):
            leaves[i % k].grad = None
            fn(i)

        row[f"{op}_step_fresh_ms"] = timer(fresh, reps_fb, warmup)

    for op in OPS:
        row[f"{op}_speedup"] = row[f"{op}_torch_ms"] / row[f"{op}_spectro_ms"]
    return row


# Configurations of the half-precision / kernel_dtype rows: the seed configuration and a long-signal one.
HALF_CONFIGS = [(4, 160_000, 1024, 256), (4, 1_300_000, 1024, 256)]
KERNEL_DTYPES = ("float32", "mixed", "float16")


def half_precision(device, timer, reps, warmup, configs=HALF_CONFIGS):
    """Half precision, forward calls: ms per call and MB = bytes of the call's input + output (the bytes a kernel
    reading the input once and writing the output once moves; the window is negligible).

    * Half-precision inputs, kernel_dtype="float32" (computed in single precision: on CUDA's single-kernel path the
      kernels read the half input themselves, elsewhere the op converts it in one pass); torch.stft takes float16
      only on CUDA (power-of-two n_fft, complex32 result) and rejects bfloat16.
    * A row per kernel_dtype for spectro's stft and istft: "float32", "mixed" (float32 arithmetic, half-precision
      output: complex32 spectrum, float16 signal, bfloat16 with a bfloat16 window) and "float16" (as "mixed" on the
      input and window rounded to half precision: a float32 / complex64 input pays that conversion). On CUDA's
      single-kernel path the kernels store the half result themselves; elsewhere the float32 result is converted in
      one more pass.
    """
    rows = []
    for B, T, n, hop in configs:
        torch.manual_seed(0)
        x32 = torch.randn(B, T, device=device)
        w32 = torch.hann_window(n, device=device)
        s64 = torch.stft(x32, n, hop, window=w32, return_complex=True)
        config = label((B, T, n, hop))

        def measure(op, lib, dtype, fn, arg, kernel_dtype="float32"):
            row = {"config": config, "op": op, "lib": lib, "input": str(dtype).replace("torch.", ""),
                   "kernel_dtype": kernel_dtype}
            try:
                with torch.no_grad():
                    out = fn(0)
                    row["ms"] = timer(fn, reps, warmup)
                row["output"] = str(out.dtype).replace("torch.", "")
                row["MB"] = (arg.numel() * arg.element_size() + out.numel() * out.element_size()) / 2**20
            except (RuntimeError, ValueError) as e:
                row["error"] = str(e).split("\n")[0][:80]
            rows.append(row)

        if (B, T, n, hop) == configs[0]:  # half inputs, and torch's handling of them, at the seed configuration
            for dtype in (torch.float32, torch.bfloat16, torch.float16):
                x, w = x32.to(dtype), w32.to(dtype)
                measure("stft", "spectro", dtype, lambda i: spectro.stft(x, n, hop, window=w, return_complex=True), x)
                measure("stft", "torch", dtype, lambda i: torch.stft(x, n, hop, window=w, return_complex=True), x)
            for dtype in (torch.complex64, torch.complex32):
                s = s64.to(dtype)
                w = w32 if dtype == torch.complex64 else w32.half()
                measure("istft", "spectro", dtype, lambda i: spectro.istft(s, n, hop, window=w, length=T), s)
                measure("istft", "torch", dtype, lambda i: torch.istft(s, n, hop, window=w, length=T), s)
        # kernel_dtype rows: float32 and bfloat16 signals; complex64 and complex32 spectra (with "mixed" and
        # "float16", also a bfloat16 window: a bfloat16 signal).
        for kd in KERNEL_DTYPES:
            for dtype in (torch.float32, torch.bfloat16):
                x = x32.to(dtype)
                measure("stft", "spectro", dtype, lambda i: spectro.stft(x, n, hop, window=w32, return_complex=True,
                                                                         kernel_dtype=kd), x, kd)
            spectra = [(torch.complex64, w32), (torch.complex32, w32.half()), (torch.complex64, w32.bfloat16())]
            for dtype, w in spectra[: {"float32": 2, "mixed": 3, "float16": 3}[kd]]:
                s = s64.to(dtype)
                measure("istft", "spectro", dtype, lambda i: spectro.istft(s, n, hop, window=w, length=T,
                                                                           kernel_dtype=kd), s, kd)
                if w.dtype != torch.float32:
                    rows[-1]["input"] += f", {str(w.dtype).replace('torch.', '')} window"
    return rows


def host_sync_report(device):
    """Whether torch.istft / spectro.istft synchronise with the host in steady state (CUDA sync debug mode)."""
    if device.type != "cuda":
        return {}
    n, hop, T = 1024, 256, 160_000
    w = torch.hann_window(n, device=device)
    x = torch.randn(4, T, device=device)
    s = torch.stft(x, n, hop, window=w, return_complex=True)
    out = {}
    for name, lib in (("torch", torch), ("spectro", spectro)):
        lib.istft(s, n, hop, window=w, length=T)  # warm-up (spectro's one-time NOLA check happens here)
        torch.cuda.synchronize()
        with warnings.catch_warnings():  # "prototype feature" notice
            warnings.simplefilter("ignore")
            torch.cuda.set_sync_debug_mode("error")
        try:
            lib.istft(s, n, hop, window=w, length=T)
            out[name] = "none"
        except Exception:  # noqa: BLE001
            out[name] = "synchronises"
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return out


def torch_istft_graph(device, timer):
    """Try to capture torch.istft in a CUDA graph (expected to fail: it reads the NOLA check on the host)."""
    n, hop, T = 1024, 256, 160_000
    w = torch.hann_window(n, device=device)
    s = torch.stft(torch.randn(4, T, device=device), n, hop, window=w, return_complex=True)
    r = graph_time(lambda i: torch.istft(s, n, hop, window=w, length=T), 10, timer)
    try:
        torch.cuda.synchronize()
    except Exception:  # noqa: BLE001
        pass
    return r if isinstance(r, str) else f"captured, {r:.4f} ms per call"


def environment(device, bw):
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "spectro": spectro.__version__,
        "python": platform.python_version(),
        "device_type": device.type,
        "copy_bandwidth_TBps": bw / 1e12,
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env["card"] = p.name
        env["sms"] = p.multi_processor_count
        env["l2_MB"] = getattr(p, "L2_cache_size", 0) / 2**20
        env["memory_GB"] = p.total_memory / 1e9
        try:
            env["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20,
            ).stdout.strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            env["driver"] = "?"
    else:
        env["card"] = f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return env


def fmt(v, spec=".3f"):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v.replace("|", "/").replace("\n", " ")
    return format(v, spec)


def pct(v: float) -> str:
    return f"{v:.0f}%" if v >= 10 else f"{v:.1f}%"


def floor_pct(row, op, name, bw):
    floor_ms = (row["signal_MB"] + row["spectrum_MB"]) * 2**20 / bw * 1e3
    return 100 * floor_ms / row[f"{op}_{name}_ms"]


def write_markdown(path, env, meta, rows):
    gpu = env["device_type"] == "cuda"
    bw = env["copy_bandwidth_TBps"] * 1e12
    clock = "CUDA-event" if gpu else "perf_counter"
    L = [
        "# spectro benchmark results",
        "",
        f"Generated by `python benchmarks/bench.py{' --quick' if meta['quick'] else ''}` on {env['date']}; "
        "do not edit by hand.",
        "",
        f"- card: **{env['card']}**"
        + (f" ({env['sms']} SMs, {env['l2_MB']:.0f} MB L2, driver {env['driver']})" if gpu else ""),
        f"- torch {env['torch']}, CUDA {env['cuda']}, spectro {env['spectro']}, Python {env['python']}",
        f"- device-to-device copy bandwidth: **{env['copy_bandwidth_TBps']:.2f} TB/s** (bytes read + written); "
        "byte floor of a forward op = (signal bytes + spectrum bytes) / that bandwidth",
        f"- eager, float32, Hann window, center=True, pad_mode='reflect'; ms per call = median of {meta['reps']} "
        f"(forward) / {meta['reps_fb']} (forward+backward) {clock} timings of one call each, after {meta['warmup']} "
        "warm-up calls" + ("; inputs rotated over copies when a call's data fits in L2 (`rot` in the memory table)"
                           if gpu else ""),
        "- forward+backward: input gradient via torch.autograd.grad with a fixed random output gradient",
    ]
    if any("stft_torchaudio_ms" in r for r in rows):
        L.append("- `torchaudio ms`: torchaudio.transforms.Spectrogram(power=None) / InverseSpectrogram with the same "
                 "window and geometry (they call torch.stft / torch.istft inside)")
    if any(f"stft_{p}_ms" in r for r in rows for p in FORCED):
        L.append("- `spectro` is the default (`kernel_path('auto')`); " + " and ".join(f"`{p} ms`" for p in FORCED)
                 + " time the same call with that CUDA path forced (`n/a` where it cannot run)")
    if meta.get("host_sync"):
        L.append(
            f"- host synchronisation in a steady-state istft call: torch {meta['host_sync'].get('torch')}, "
            f"spectro {meta['host_sync'].get('spectro')}"
        )
    if meta.get("torch_istft_graph"):
        L.append(f"- torch.istft under CUDA graph capture: {fmt(meta['torch_istft_graph'])}")
    L.append("")

    for op in OPS:
        L += [f"## {OP_TITLES[op]}", ""]
        forced = [p for p in FORCED if any(r.get(f"{op}_{p}_ms") is not None for r in rows)]
        head = ["config", "torch ms", "spectro ms", "speedup"] + [f"{p} ms" for p in forced]
        audio = op in ("stft", "istft") and any(f"{op}_torchaudio_ms" in r for r in rows)
        if audio:
            head += ["torchaudio ms"]
        if op in ("stft", "istft"):
            head += ["torch % floor", "spectro % floor"]
        if op == "istft" and gpu:
            head += ["spectro graph ms", "torch graph"]
        if op == "stft" and gpu:
            head += ["torch graph ms", "spectro graph ms"]
        if op == "roundtrip_fb" and gpu:
            head += ["spectro graph ms"]
        if op in ("stft", "istft"):
            head += ["max rel diff"]
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
        for r in rows:
            cells = [r["config"], fmt(r[f"{op}_torch_ms"]), fmt(r[f"{op}_spectro_ms"]),
                     f"{r[f'{op}_speedup']:.2f}x"]
            cells += [fmt(r.get(f"{op}_{p}_ms")) for p in forced]
            if audio:
                cells += [fmt(r.get(f"{op}_torchaudio_ms"))]
            if op in ("stft", "istft"):
                cells += [pct(floor_pct(r, op, "torch", bw)), pct(floor_pct(r, op, "spectro", bw))]
            if op == "istft" and gpu:
                cells += [fmt(r.get("istft_spectro_graph_ms")), "fails" if "fails" in str(meta.get(
                    "torch_istft_graph", "")) else "-"]
            if op == "stft" and gpu:
                cells += [fmt(r.get("stft_torch_graph_ms")), fmt(r.get("stft_spectro_graph_ms"))]
            if op == "roundtrip_fb" and gpu:
                cells += [fmt(r.get("roundtrip_fb_spectro_graph_ms"))]
            if op in ("stft", "istft"):
                cells += [f"{r[f'{op}_max_rel_diff']:.1e}"]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")

    if any(f"{STEP_OPS[0]}_step_spectro_ms" in r for r in rows):
        L += ["## forward + backward as a training step", "",
              "The forward + backward rows above take the input gradient with torch.autograd.grad, each library timed "
              "in its own loop. Here each step is `out.backward(grad)` into a leaf whose `.grad` accumulates across "
              "steps, as a training loop does, torch's and spectro's steps alternating in one loop (median of "
              f"{meta['reps_fb']} {clock} timings each). x: speed-up; vs grad: this step's time over the "
              "autograd.grad row's, for spectro; own: spectro's step in its own loop (no torch steps between); "
              "fresh: also with each leaf's .grad reset to None first (no accumulation: the backward's result "
              "becomes .grad).", ""]
        head = ["config"]
        for op in STEP_OPS:
            short = {"stft_fb": "stft", "istft_fb": "istft", "roundtrip_fb": "round trip"}[op]
            head += [f"{short} torch ms", f"{short} spectro ms", "x", "vs grad", "own ms", "fresh ms"]
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
        for r in rows:
            cells = [r["config"]]
            for op in STEP_OPS:
                st, sp = r.get(f"{op}_step_torch_ms"), r.get(f"{op}_step_spectro_ms")
                cells += [fmt(st), fmt(sp), f"{st / sp:.2f}x" if st and sp else "-",
                          f"{sp / r[f'{op}_spectro_ms']:.2f}" if sp and r.get(f"{op}_spectro_ms") else "-",
                          fmt(r.get(f"{op}_step_own_ms")), fmt(r.get(f"{op}_step_fresh_ms"))]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")

    if meta.get("half"):
        L += ["## half precision and kernel_dtype (forward)", "",
              "spectro computes half inputs in single precision (CUDA's single-kernel path reads them as they are; "
              "elsewhere the op converts them in one pass). kernel_dtype='mixed' stores the result in half "
              "precision (complex32 spectrum; float16 signal, bfloat16 with a bfloat16 window), computed in float32; "
              "on CUDA's single-kernel path the kernels store it themselves, elsewhere it is converted in one more "
              "pass. kernel_dtype='float16' is 'mixed' on the input and window rounded to half precision (a float32 "
              "input pays that conversion). MB = input + output bytes of the call.", "",
              "| config | op | library | input | kernel_dtype | output | ms | MB |",
              "|---|---|---|---|---|---|--:|--:|"]
        for h in meta["half"]:
            head = (f"| {h.get('config', 'B=4 T=160k n_fft=1024 hop=256')} | {h['op']} | {h['lib']} | {h['input']} | "
                    f"{h.get('kernel_dtype', 'float32')} |")
            if "error" in h:
                L.append(f"{head} error: {fmt(h['error'])} | - | - |")
            else:
                L.append(f"{head} {h['output']} | {h['ms']:.3f} | {h['MB']:.1f} |")
        L.append("")

    def section_of(markdown, script, run, extra=""):
        # a section spliced in from its own script's run (--render --frontends / --losses) says which run it is
        if not run:
            return markdown
        note = (f"This section comes from a separate run of `benchmarks/{script}` ({run['device']}, torch "
                f"{run['torch']}); the rest of this file from the `bench.py` run above. " + extra)
        return markdown[:2] + [note.strip(), ""] + markdown[2:]

    if meta.get("frontends"):
        L += section_of(frontends.markdown(meta["frontends"], meta.get("frontends_baseline", "torch")), "frontends.py",
                        meta.get("frontends_run"))
    if meta.get("losses"):
        run = meta.get("losses_run")
        L += section_of(losses.markdown(meta["losses"]), "losses.py", run, losses.load_note(run) if run else "")

    if gpu:
        L += goals_section(rows, bw)

    L += ["## memory", ""]
    if gpu:
        L += [
            "Peak extra memory one call asks for (torch.cuda.memory_stats' `requested_bytes` peak delta, output "
            "included) over the output's size; 1.00 means nothing beyond the output. In parentheses the same for the "
            "allocator's blocks (`max_memory_allocated`): the caching allocator may hand out a cached block up to 1 MB "
            "larger than the request, so that figure also depends on what earlier calls left in its cache.",
            "",
            "| config | rot | stft out MB | torch stft | spectro stft | istft out MB | torch istft | spectro istft |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]

        def ratio(r, op, lib):
            blocks = r.get(f"{op}_{lib}_peak_blocks_MB")
            tail = f" ({blocks / r[f'{op}_out_MB']:.2f})" if blocks is not None else ""
            return f"{r[f'{op}_{lib}_peak_MB'] / r[f'{op}_out_MB']:.2f}{tail}"

        for r in rows:
            L.append(
                f"| {r['config']} | {r['rotation']} | {r['stft_out_MB']:.1f} | {ratio(r, 'stft', 'torch')} | "
                f"{ratio(r, 'stft', 'spectro')} | {r['istft_out_MB']:.1f} | {ratio(r, 'istft', 'torch')} | "
                f"{ratio(r, 'istft', 'spectro')} |"
            )
    else:
        L.append("Not measured on a CPU.")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


# The performance goals (H100, fp32, eager): stft >= 4x torch, istft >= 8x, round trip f+b >= 6x at every seed
# configuration; the stft kernel at B=4 T=1.3M 1024/256 >= 60% of copy bandwidth; B=1 T=16k 400/160 eager call
# <= 20 us; peak extra memory <= 1.1x the output.
SEED_CONFIGS = [(4, 160_000, 1024, 256), (4, 160_000, 2048, 512), (8, 160_000, 1024, 256), (4, 1_300_000, 1024, 256),
                (1, 1_300_000, 1024, 256)]
ANALYSIS = os.path.join(HERE, "GOALS.md")


def goals_section(rows, bw):
    """The performance goals against this run, then the hand-written analysis of why (benchmarks/GOALS.md)."""
    by = {r["config"]: r for r in rows}
    seed = [by[label(c)] for c in SEED_CONFIGS if label(c) in by]
    L = ["## goals, this run", ""]
    if seed:
        L += ["| goal | measured (min .. max over the seed configurations) | met |", "|---|---|---|"]
        for op, goal in (("stft", 4.0), ("istft", 8.0), ("roundtrip_fb", 6.0)):
            v = [r[f"{op}_speedup"] for r in seed]
            L.append(f"| {OP_TITLES[op]} >= {goal:g}x torch | {min(v):.2f}x .. {max(v):.2f}x "
                     f"({', '.join(f'{x:.1f}' for x in v)}) | {'yes' if min(v) >= goal else 'no'} |")
        gpu_only = [(r["config"], r["stft_torch_graph_ms"] / r["stft_spectro_graph_ms"]) for r in seed
                    if isinstance(r.get("stft_torch_graph_ms"), float) and isinstance(r.get("stft_spectro_graph_ms"), float)]
        if gpu_only:
            v = [x for _, x in gpu_only]
            L.append(f"| (stft, GPU time only: both replayed from CUDA graphs) | {min(v):.2f}x .. {max(v):.2f}x "
                     f"({', '.join(f'{x:.1f}' for x in v)}) | - |")
        rt = [(r["roundtrip_fb_torch_ms"], r.get("roundtrip_fb_spectro_graph_ms")) for r in seed]
        if all(isinstance(g, float) for _, g in rt):
            v = [t / g for t, g in rt]
            L.append(f"| (round trip f+b, spectro replayed from a CUDA graph vs torch eager) | {min(v):.2f}x .. "
                     f"{max(v):.2f}x ({', '.join(f'{x:.1f}' for x in v)}) | - |")
    big = by.get(label((4, 1_300_000, 1024, 256)))
    if big and isinstance(big.get("stft_spectro_graph_ms"), float):
        B, T, n, hop = 4, 1_300_000, 1024, 256
        frames = 1 + T // hop
        nbytes = B * T * 4 + B * frames * (n // 2 + 1) * 8
        share = nbytes / (big["stft_spectro_graph_ms"] * 1e-3) / bw
        L.append(f"| stft kernel at B=4 T=1.3M >= 60% of copy bandwidth | {share * 100:.0f}% (CUDA-graph replay, "
                 f"{big['stft_spectro_graph_ms'] * 1e3:.1f} us for {nbytes / 1e6:.0f} MB) | "
                 f"{'yes' if share >= 0.6 else 'no'} |")
    small = by.get(label((1, 16_000, 400, 160)))
    if small:
        L.append(f"| B=1 T=16k eager stft call <= 20 us | {small['stft_spectro_ms'] * 1e3:.0f} us (istft "
                 f"{small['istft_spectro_ms'] * 1e3:.0f} us; graph replay {fmt(small.get('stft_spectro_graph_ms'))} "
                 f"ms) | {'yes' if small['stft_spectro_ms'] <= 0.020 else 'no'} |")
    peaks = {op: [r[f"{op}_spectro_peak_MB"] / r[f"{op}_out_MB"] for r in rows if f"{op}_spectro_peak_MB" in r]
             for op in ("stft", "istft")}
    if peaks["stft"] and peaks["istft"]:
        worst = max(max(peaks["stft"]), max(peaks["istft"]))
        blocks = [r[f"{op}_spectro_peak_blocks_MB"] / r[f"{op}_out_MB"] for op in ("stft", "istft") for r in rows
                  if f"{op}_spectro_peak_blocks_MB" in r]
        note = f"; allocator blocks up to {max(blocks):.2f}" if blocks else ""
        L.append(f"| peak extra memory <= 1.1x the output | stft {min(peaks['stft']):.2f} .. {max(peaks['stft']):.2f}, "
                 f"istft {min(peaks['istft']):.2f} .. {max(peaks['istft']):.2f} (requested bytes, all "
                 f"configurations{note}) | "
                 f"{'yes' if worst <= 1.1 else 'no (istft)' if max(peaks['stft']) <= 1.1 else 'no'} |")
    L.append("")
    if os.path.exists(ANALYSIS):
        with open(ANALYSIS) as f:
            L += [f.read().rstrip(), ""]
    return L


def write_png(path, env, rows):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: results.png not written")
        return False
    n_cfg, n_ops = len(rows), len(OPS)
    width = 0.8 / n_ops
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * n_cfg + 2), 5), constrained_layout=True)
    for j, op in enumerate(OPS):
        xs = [i + (j - (n_ops - 1) / 2) * width for i in range(n_cfg)]
        vals = [r[f"{op}_speedup"] for r in rows]
        bars = ax.bar(xs, vals, width, label=OP_TITLES[op])
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:.1f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=6,
                        xytext=(0, 1), textcoords="offset points")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter

    every = [r[f"{op}_speedup"] for r in rows for op in OPS]
    ax.set_ylim(min(0.8, min(every) / 1.3), max(every) * 3.0)  # headroom for the legend
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}x" if f"{v:g}"[0] in "25" else ""))
    ax.set_xticks(range(n_cfg))
    ax.set_xticklabels([r["config"].replace(" n_fft", "\nn_fft") for r in rows], fontsize=8)
    ax.set_ylabel("speedup over torch (x, log scale)")
    ax.set_title(f"spectro vs torch {env['torch']} on {env['card']} (fp32, eager)")
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def summarize(path) -> str:
    """Compact speedup table of a results.json."""
    with open(path) as f:
        data = json.load(f)
    env, rows = data["environment"], data["rows"]
    short = {"stft": "stft", "istft": "istft", "stft_fb": "stft f+b", "istft_fb": "istft f+b",
             "roundtrip_fb": "rt f+b"}
    lines = [f"{env['card']} | torch {env['torch']} | CUDA {env['cuda']} | copy {env['copy_bandwidth_TBps']:.2f} TB/s",
             "speedup over torch (spectro ms in parentheses):"]
    w0 = max(len(r["config"]) for r in rows)
    lines.append(f"{'config':<{w0}} " + " ".join(f"{short[o]:>17}" for o in OPS))
    for r in rows:
        cells = [f"{r[f'{o}_speedup']:>6.2f}x ({r[f'{o}_spectro_ms']:7.3f})" for o in OPS]
        lines.append(f"{r['config']:<{w0}} " + " ".join(cells))
    half = data.get("meta", {}).get("half")
    if half:
        cells = [f"{h.get('config', 'B=4 T=160k n_fft=1024 hop=256')} {h['lib']} {h['op']} {h['input']} "
                 f"{h.get('kernel_dtype', 'float32')}->{h.get('output', '?')} "
                 + (f"{h['ms']:.3f} ms {h['MB']:.0f} MB" if "ms" in h else "fails") for h in half]
        lines.append("half precision / kernel_dtype, forward:\n  " + "\n  ".join(cells))
    for path in FORCED:
        if not any(r.get(f"stft_{path}_ms") for r in rows):
            continue
        lines.append(f"forced kernel_path('{path}'), speedup over torch:")
        for r in rows:
            cells = [f"{r[f'{o}_torch_ms'] / r[f'{o}_{path}_ms']:>6.2f}x ({r[f'{o}_{path}_ms']:7.3f})"
                     if r.get(f"{o}_{path}_ms") else f"{'-':>17}" for o in OPS]
            lines.append(f"{r['config']:<{w0}} " + " ".join(cells))
    return "\n".join(lines)


def readme_table(path) -> str:
    """The README's benchmark table (speedup and spectro's ms per call) from a results.json."""
    with open(path) as f:
        data = json.load(f)
    env, rows = data["environment"], data["rows"]
    L = [f"Measured on an **{env['card']}**, torch {env['torch']}, CUDA {env['cuda']} ({env['date']}, "
         f"`scripts/gpu_check.sh`; copy bandwidth {env['copy_bandwidth_TBps']:.2f} TB/s). Speedup over torch and "
         "spectro's time per call:", "",
         "| config (fp32, Hann, center, reflect) | stft | istft | stft f+b | istft f+b | stft→istft f+b |",
         "|---|--:|--:|--:|--:|--:|"]
    for r in rows:
        L.append(f"| {r['config']} | " + " | ".join(
            f"{r[f'{o}_speedup']:.2f}× ({r[f'{o}_spectro_ms']:.3f} ms)" for o in OPS) + " |")
    return "\n".join(L)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="first three configurations, fewer repetitions")
    p.add_argument("--out", default=HERE, help="output folder (default: benchmarks/)")
    p.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    p.add_argument("--reps", type=int, default=0, help="timed calls per forward measurement")
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--no-forced", action="store_true",
                   help="time only auto, not also each forced CUDA path (spectro.kernel_path 'fused' / 'two_kernel')")
    p.add_argument("--summarize", metavar="RESULTS_JSON", help="print a compact table of a results.json and exit")
    p.add_argument("--readme", metavar="RESULTS_JSON", help="print the README's benchmark table of a results.json")
    p.add_argument("--render", metavar="RESULTS_JSON",
                   help="write RESULTS.md (into --out) from a results.json, e.g. after editing benchmarks/GOALS.md")
    p.add_argument("--frontends", metavar="FRONTENDS_JSON",
                   help="with --render: the mel frontends' section from this run of frontends.py (results.json too)")
    p.add_argument("--losses", metavar="LOSSES_JSON",
                   help="with --render: the spectral losses' section from this run of losses.py (results.json too)")
    args = p.parse_args()

    if args.summarize:
        print(summarize(args.summarize))
        return 0
    if args.readme:
        print(readme_table(args.readme))
        return 0
    if args.render:
        with open(args.render) as f:
            data = json.load(f)
        os.makedirs(args.out, exist_ok=True)
        spliced = False
        for key, path in (("frontends", args.frontends), ("losses", args.losses)):
            if path:
                with open(path) as f:
                    run = json.load(f)
                data["meta"][key] = run.pop("rows")
                if key == "frontends":
                    data["meta"]["frontends_baseline"] = run.get("baseline", "torch")
                data["meta"][f"{key}_run"] = run
                spliced = True
        if spliced:
            with open(os.path.join(args.out, "results.json"), "w") as f:
                json.dump(data, f, indent=1)
        write_markdown(os.path.join(args.out, "RESULTS.md"), data["environment"], data["meta"], data["rows"])
        print(f"wrote {os.path.join(args.out, 'RESULTS.md')} from {args.render}")
        return 0

    has_cuda_kernels = torch._C._dispatch_has_kernel_for_dispatch_key("spectro::analysis", "CUDA")
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() and has_cuda_kernels else "cpu")
        if torch.cuda.is_available() and not has_cuda_kernels:
            print("warning: CUDA is available but spectro was built without CUDA kernels: benchmarking the CPU")
    else:
        device = torch.device(args.device)
    gpu = device.type == "cuda"
    if gpu:
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    timer = Timer(device)

    if gpu:
        reps, reps_fb, warmup = (30, 20, 5) if args.quick else (100, 50, 10)
    else:
        reps, reps_fb, warmup = (5, 3, 2) if args.quick else (10, 5, 2)
        if not args.quick:
            print("note: a full run on the CPU is slow; use --quick (the real numbers come from a GPU)")
    if args.reps:
        reps, reps_fb = args.reps, max(1, args.reps // 2)
    if args.warmup:
        warmup = args.warmup
    configs = CONFIGS[:3] if args.quick else CONFIGS

    bw = copy_bandwidth(device, timer)
    env = environment(device, bw)
    l2 = int(env.get("l2_MB", 0) * 2**20)
    print(f"{env['card']} | torch {env['torch']} | CUDA {env['cuda']} | spectro {env['spectro']} | "
          f"copy bandwidth {bw / 1e12:.2f} TB/s", flush=True)

    rows = []
    for cfg in configs:
        t0 = time.perf_counter()
        r = bench_config(cfg, device, timer, reps, reps_fb, warmup, l2, forced=not args.no_forced)
        rows.append(r)
        print(f"{r['config']:<30} " + "  ".join(
            f"{op} {r[f'{op}_torch_ms']:.3f}/{r[f'{op}_spectro_ms']:.3f} ms ({r[f'{op}_speedup']:.2f}x)" for op in OPS
        ) + f"  [{time.perf_counter() - t0:.1f} s]", flush=True)
        for path in FORCED:
            if f"stft_{path}_ms" in r:
                print(f"{'':<30} {path}: " + "  ".join(f"{op} {fmt(r[f'{op}_{path}_ms'])} ms" for op in OPS),
                      flush=True)
        if gpu:
            torch.cuda.empty_cache()

    meta = {"quick": args.quick, "reps": reps, "reps_fb": reps_fb, "warmup": warmup}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ComplexHalf is experimental
        meta["half"] = half_precision(device, timer, reps, warmup)
    meta["frontends"] = frontends.run(device, timer, bw, min(reps, 30), warmup, quick=args.quick or not gpu,
                                       graph_time=graph_time)
    meta["frontends_baseline"] = frontends.baseline_name()
    meta["losses"] = losses.run(device, timer, min(reps, 20), warmup, quick=args.quick or not gpu)
    if gpu:
        meta["host_sync"] = host_sync_report(device)
        meta["torch_istft_graph"] = torch_istft_graph(device, timer)  # last: a failed capture is left behind

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"environment": env, "meta": meta, "configs": [list(c) for c in configs], "rows": rows}, f,
                  indent=1)
    write_markdown(os.path.join(args.out, "RESULTS.md"), env, meta, rows)
    png = write_png(os.path.join(args.out, "results.png"), env, rows)
    print()
    print(summarize(os.path.join(args.out, "results.json")))
    print(f"\nwrote {os.path.join(args.out, 'RESULTS.md')}, results.json" + (", results.png" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
