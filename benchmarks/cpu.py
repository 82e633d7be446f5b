"""spectro against torch on the CPU: stft, istft and the log-mel frontend, eager, at a fixed intra-op thread count.

    python benchmarks/cpu.py [--threads 2] [--processes 3] [--seconds 1.0] [--out DIR]
    python benchmarks/cpu.py --render CPU_JSON [--out DIR]     (CPU.md from a cpu.json)
    python benchmarks/cpu.py --readme CPU_JSON                 (the README's CPU table)

Each configuration is measured in --processes fresh Python processes (a process's memory layout and thread
placement can shift CPU timings for its whole life, so one process is one sample). In each, torch's and spectro's
calls alternate in one loop (torch, spectro, torch, ...) after a warm-up, for about --seconds per function and at
least 20 calls each; the time of a call is its perf_counter wall time and a process reports the median. The table
gives, per configuration, the median over processes of each library's time and of the ratio (torch / spectro), and
the smallest ratio any process saw. Writes CPU.md and cpu.json into --out (default: benchmarks/).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def label(cfg) -> str:
    """The GPU benchmark's name of a (batch, samples, n_fft, hop) configuration."""
    sys.path.insert(0, HERE)
    from bench import label as bench_label  # benchmarks/bench.py (imports torch and spectro)

    return bench_label(cfg)

# (batch, samples, n_fft, hop)
CPU_CONFIGS = [
    (8, 64_000, 1024, 256),
    (4, 160_000, 2048, 512),
    (1, 16_000, 400, 160),
    (1, 1_300_000, 1024, 256),
]
OPS = ("stft", "istft")
# The log-mel frontend against torch's composition (torch.stft -> abs -> pow -> filterbank @ -> clamp -> log):
# (name, batch, samples, sample rate, n_fft, hop, power, log)
MEL_CONFIGS = [
    ("Whisper: B=16 x 30 s, 400/160, power 2, log10", 16, 480_000, 16000, 400, 160, 2.0, "log10"),
    ("B=4 x 10 s at 22.05 kHz, 1024/256, power 1, ln", 4, 220_500, 22050, 1024, 256, 1.0, "ln"),
    ("B=1 x 30 s, 400/160, power 2, log10", 1, 480_000, 16000, 400, 160, 2.0, "log10"),
]
MEL_OPS = ("log-mel", "log-mel f+b")  # forward; forward + backward (the input gradient, torch.autograd.grad)
# Goals (torch / spectro, every configuration, 2 threads).
GOALS = {"stft": 1.3, "istft": 2.0}


def core_calls(cfg) -> dict:
    import torch

    import spectro

    B, T, n_fft, hop = cfg
    x = torch.randn(B, T)
    w = torch.hann_window(n_fft)
    kw = dict(n_fft=n_fft, hop_length=hop, window=w, center=True)
    spec = torch.stft(x, **kw, return_complex=True)
    return {
        "stft": (lambda: torch.stft(x, **kw, return_complex=True), lambda: spectro.stft(x, **kw, return_complex=True)),
        "istft": (lambda: torch.istft(spec, **kw, length=T), lambda: spectro.istft(spec, **kw, length=T)),
    }


def mel_calls(cfg) -> dict:
    import torch

    import spectro

    _, B, T, sr, n_fft, hop, power, log = cfg
    x = torch.randn(B, T)
    w = torch.hann_window(n_fft)
    basis = spectro.mel_filters(sr, n_fft, 80)
    eps = 1e-10 if log == "log10" else 1e-5

    def composition(x=x):
        m = basis @ torch.stft(x, n_fft, hop, window=w, return_complex=True).abs().pow(power)
        return m.clamp_min(eps).log10() if log == "log10" else m.clamp_min(eps).log()

    def fused(x=x):
        return spectro.log_mel_spectrogram(x, sr, n_fft, hop, n_mels=80, power=power, mel_basis=basis, log=log,
                                           log_eps=eps)

    xg = x.clone().requires_grad_()
    grad = torch.randn_like(fused())

    def fb(f):
        return lambda: torch.autograd.grad(f(xg), xg, grad)

    return {"log-mel": (composition, fused), "log-mel f+b": (fb(composition), fb(fused))}


def worker(index: int, threads: int, seconds: float) -> dict:
    """One process's medians (ms) for each op and library."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    calls = core_calls(CPU_CONFIGS[index]) if index < len(CPU_CONFIGS) else mel_calls(
        MEL_CONFIGS[index - len(CPU_CONFIGS)])
    out = {}
    for op, (f_torch, f_spectro) in calls.items():
        for _ in range(3):
            f_torch()
            f_spectro()
        t0 = time.perf_counter()
        f_torch()
        f_spectro()
        reps = max(20, min(1000, int(2 * seconds / max(time.perf_counter() - t0, 1e-6))))
        times = {"torch": [], "spectro": []}
        for _ in range(reps):
            for lib, fn in (("torch", f_torch), ("spectro", f_spectro)):
                t0 = time.perf_counter()
                fn()
                times[lib].append((time.perf_counter() - t0) * 1e3)
        out[op] = {lib: statistics.median(t) for lib, t in times.items()} | {"reps": reps}
    return out


def measure(threads: int, processes: int, seconds: float) -> list:
    rows = []
    for i in range(len(CPU_CONFIGS) + len(MEL_CONFIGS)):
        mel = i >= len(CPU_CONFIGS)
        ops = MEL_OPS if mel else OPS
        samples = []
        for _ in range(processes):
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(i), "--threads",
                                str(threads), "--seconds", str(seconds)], capture_output=True, text=True, check=True)
            samples.append(json.loads(r.stdout.strip().splitlines()[-1]))
        row = {"config": MEL_CONFIGS[i - len(CPU_CONFIGS)][0] if mel else label(CPU_CONFIGS[i]), "samples": samples,
               "ops": list(ops)}
        for op in ops:
            ratios = [s[op]["torch"] / s[op]["spectro"] for s in samples]
            row[f"{op}_torch_ms"] = statistics.median(s[op]["torch"] for s in samples)
            row[f"{op}_spectro_ms"] = statistics.median(s[op]["spectro"] for s in samples)
            row[f"{op}_speedup"] = statistics.median(ratios)
            row[f"{op}_min_speedup"] = min(ratios)
        rows.append(row)
        print(f"{row['config']:<32} " + "  ".join(
            f"{op} {row[f'{op}_torch_ms']:.3f}/{row[f'{op}_spectro_ms']:.3f} ms ({row[f'{op}_speedup']:.2f}x, "
            f"min {row[f'{op}_min_speedup']:.2f}x)" for op in ops), flush=True)
    return rows


def write_markdown(path: str, env: dict, rows: list) -> None:
    L = ["# CPU benchmark: spectro against torch", "",
         f"{env['cpu']}, {env['threads']} intra-op threads | torch {env['torch']} | spectro {env['spectro']} | "
         f"{env['processes']} processes per configuration, about {env['seconds']:g} s of alternating calls per "
         "function in each (written by `python benchmarks/cpu.py`).", "",
         "Cells: torch / spectro median time per call, ratio (median over processes), and the smallest ratio any "
         "process saw. float32, Hann window, center=True, reflect padding; the istft takes torch.stft's spectrum.", "",
         "| configuration | stft torch / spectro | stft ratio (min) | istft torch / spectro | istft ratio (min) |",
         "|---|--:|--:|--:|--:|"]
    core = [r for r in rows if r.get("ops", list(OPS)) == list(OPS)]
    mel = [r for r in rows if r.get("ops", [None])[0] == "log-mel"]
    for r in core:
        L.append(f"| {r['config']} | " + " | ".join(
            f"{r[f'{op}_torch_ms']:.3f} / {r[f'{op}_spectro_ms']:.3f} ms | {r[f'{op}_speedup']:.2f}× "
            f"({r[f'{op}_min_speedup']:.2f}×)" for op in OPS) + " |")
    if mel:
        L += ["", "The log-mel frontend (80 mels, float32), `spectro.log_mel_spectrogram` against torch's composition "
              "`torch.stft -> abs -> pow -> filterbank @ -> clamp -> log`; forward, and forward + backward (the input "
              "gradient by `torch.autograd.grad`):", "",
              "| configuration | forward torch / spectro | ratio (min) | f+b torch / spectro | ratio (min) |",
              "|---|--:|--:|--:|--:|"]
        for r in mel:
            L.append(f"| {r['config']} | " + " | ".join(
                f"{r[f'{op}_torch_ms']:.2f} / {r[f'{op}_spectro_ms']:.2f} ms | {r[f'{op}_speedup']:.2f}× "
                f"({r[f'{op}_min_speedup']:.2f}×)" if f"{op}_speedup" in r else "- | -" for op in MEL_OPS) + " |")
    L += ["", "Goals on 2 threads, at every configuration: " + ", ".join(
        f"{op} ≥ {g:g}×" for op, g in GOALS.items()) + "."]
    met = {op: all(r[f"{op}_min_speedup"] >= g for r in core) for op, g in GOALS.items()}
    if env["threads"] == 2:
        L.append("In this run, by the smallest ratio of any process: " + ", ".join(
            f"{op} {'met' if ok else 'not met'}" for op, ok in met.items()) + ".")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def readme_table(rows: list) -> str:
    L = ["| config (fp32, Hann, center, reflect) | stft | istft |", "|---|--:|--:|"]
    for r in rows:
        if r.get("ops", list(OPS)) != list(OPS):
            continue
        L.append(f"| {r['config']} | " + " | ".join(
            f"{r[f'{op}_speedup']:.2f}× ({r[f'{op}_min_speedup']:.2f}×), {r[f'{op}_spectro_ms']:.3f} ms" for op in OPS)
            + " |")
    return "\n".join(L)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--out", default=HERE)
    p.add_argument("--render", metavar="CPU_JSON", help="write CPU.md (into --out) from a cpu.json")
    p.add_argument("--readme", metavar="CPU_JSON", help="print the README's CPU table of a cpu.json")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.threads, args.seconds)))
        return 0
    if args.readme:
        with open(args.readme) as f:
            print(readme_table(json.load(f)["rows"]))
        return 0
    if args.render:
        with open(args.render) as f:
            data = json.load(f)
        os.makedirs(args.out, exist_ok=True)
        write_markdown(os.path.join(args.out, "CPU.md"), data["environment"], data["rows"])
        return 0

    import torch

    import spectro

    env = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": args.threads,
           "torch": torch.__version__, "spectro": spectro.__version__, "processes": args.processes,
           "seconds": args.seconds}
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    env["cpu"] += f" ({env['cores']} cores)"
    print(f"{env['cpu']} | {args.threads} threads | torch {env['torch']} | spectro {env['spectro']}", flush=True)
    rows = measure(args.threads, args.processes, args.seconds)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cpu.json"), "w") as f:
        json.dump({"environment": env, "rows": rows}, f, indent=1)
    write_markdown(os.path.join(args.out, "CPU.md"), env, rows)
    print(f"wrote {os.path.join(args.out, 'CPU.md')}, cpu.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
