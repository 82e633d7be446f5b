"""Mel frontends: spectro's against torchaudio's MelSpectrogram + log (eager, and the same torchaudio function under
torch.compile), forward and forward + backward, float32.

    python benchmarks/frontends.py [--quick] [--out DIR]     # standalone: DIR/frontends.json, DIR/FRONTENDS.md
    python benchmarks/frontends.py --render DIR/frontends.json  # FRONTENDS.md again from a finished run
    (benchmarks/bench.py runs it too and puts the same table into RESULTS.md)

Rows (the configurations the mel frontend issue names):
  whisper   B=16 x 30 s at 16 kHz, n_fft 400 / hop 160, 80 mels (slaney), power 2, log10 of clamp 1e-10: forward
  tts       B=4 x 10 s at 22.05 kHz, 1024 / 256, 80 mels, power 2, ln of clamp 1e-5: forward
  hifigan   HiFi-GAN's frontend (1024 / 256, center=False with a reflect pad of 384, magnitude sqrt(|X|^2 + 1e-9),
            80 mels, ln of clamp 1e-5) at B=16 x 8192 and B=4 x 10 s: forward and forward + backward (the input
            gradient, as in a vocoder's mel loss)
The baseline is torchaudio.transforms.MelSpectrogram (+ the log) where torchaudio imports, otherwise the same
composition of torch ops (torch.stft -> abs / pow -> matmul -> log); both are timed eager and under torch.compile
(inductor, default mode). Times: median of CUDA-event timings of one call (perf_counter on a CPU). Per forward row
also: the byte floor (signal read once + mel written once, at the measured copy bandwidth) and spectro's peak extra
memory over its output.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

import torch

import spectro

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import torchaudio
except Exception:  # noqa: BLE001  (ImportError, or an error from its extension)
    torchaudio = None

# name, batch, samples, sample rate, n_fft, hop, preset, backward
CONFIGS = [
    ("whisper", 16, 480_000, 16000, 400, 160, "whisper", False),
    ("tts", 4, 220_500, 22050, 1024, 256, "tts", False),
    ("hifigan", 16, 8192, 22050, 1024, 256, "hifigan", True),
    ("hifigan", 4, 220_500, 22050, 1024, 256, "hifigan", True),
]


def _torch_frontend(sr, n_fft, hop, preset, device):
    """The baseline: torchaudio's MelSpectrogram + log where torchaudio imports, else the same torch ops."""
    if preset == "hifigan":
        kw = dict(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=80, f_min=0.0, f_max=8000.0, power=1.0,
                  center=False, norm="slaney", mel_scale="slaney")
        pad = (n_fft - hop) // 2
    else:
        kw = dict(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=80, power=2.0, norm="slaney",
                  mel_scale="slaney")
        pad = 0
    eps, log10 = (1e-10, True) if preset == "whisper" else (1e-5, False)
    fb = spectro.melscale_fbanks(n_fft // 2 + 1, kw.get("f_min", 0.0), kw.get("f_max") or sr / 2, 80, sr,
                                 norm="slaney", mel_scale="slaney").to(device)
    window = torch.hann_window(n_fft, device=device)
    if torchaudio is not None:
        mel = torchaudio.transforms.MelSpectrogram(**kw).to(device)
    else:
        def mel(x):
            spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, window=window, center=kw.get("center", True),
                              return_complex=True)
            spec = spec.abs().pow(kw["power"])
            return torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)

    def f(x):
        if pad:
            x = torch.nn.functional.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
        if preset == "hifigan":  # sqrt(|X|^2 + 1e-9) rather than |X|: HiFi-GAN's magnitude
            spec = torch.stft(x, n_fft, hop, window=window, center=False, return_complex=True)
            spec = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
            m = torch.matmul(fb.t(), spec)
        else:
            m = mel(x)
        m = torch.clamp(m, min=eps)
        return torch.log10(m) if log10 else torch.log(m)

    return f


def _spectro_frontend(sr, n_fft, hop, preset, device):
    if preset == "hifigan":
        m = spectro.LogMelSpectrogram(sr, n_fft, hop, n_mels=80, f_max=8000.0, power=1.0, mag_eps=1e-9, center=False,
                                      pad=(n_fft - hop) // 2, log="ln", log_eps=1e-5)
    elif preset == "whisper":
        m = spectro.LogMelSpectrogram(sr, n_fft, hop, n_mels=80, power=2.0, log="log10", log_eps=1e-10)
    else:
        m = spectro.LogMelSpectrogram(sr, n_fft, hop, n_mels=80, power=2.0, log="ln", log_eps=1e-5)
    return m.to(device)


def _peak_extra(fn, device):
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_stats(device)["requested_bytes.all.current"]
    out = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.memory_stats(device)["requested_bytes.all.peak"] - base
    return peak / (out.numel() * out.element_size())


def run(device, timer, bw, reps, warmup, quick=False, graph_time=None):
    """The rows (list of dicts). `timer(fn, reps, warmup)` -> ms; bw: copy bandwidth in bytes/s; graph_time: bench.py's
    CUDA-graph timer (fn, count, timer) -> ms per call or an error string."""
    rows = []
    for name, B, T, sr, n_fft, hop, preset, backward in CONFIGS[: 2 if quick else None]:
        if device.type != "cuda":  # (a CPU run is a smoke test: small inputs)
            B, T = 1, min(T, 32_000)
        torch.manual_seed(0)
        x = torch.randn(B, T, device=device)
        ours = _spectro_frontend(sr, n_fft, hop, preset, device)
        theirs = _torch_frontend(sr, n_fft, hop, preset, device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = torch.compile(theirs)
            out_ref = theirs(x)
            out = ours(x)
            compiled(x)
        row = {"config": f"{name} B={B} T={T} {n_fft}/{hop}", "ours_vs_torch_max_abs": (out - out_ref).abs().max().item()}
        mel_bytes = out.numel() * out.element_size()
        row["floor_ms"] = (x.numel() * 4 + mel_bytes) / bw * 1e3
        with torch.no_grad():
            row["fwd_torch_ms"] = timer(lambda i: theirs(x), reps, warmup)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row["fwd_compiled_ms"] = timer(lambda i: compiled(x), reps, warmup)
            row["fwd_spectro_ms"] = timer(lambda i: ours(x), reps, warmup)
            row["peak_extra_x_out"] = _peak_extra(lambda: ours(x), device)
            if device.type == "cuda" and graph_time is not None:  # GPU time alone: 10 calls in one CUDA graph
                for lib, fn in (("torch", theirs), ("spectro", ours)):
                    t = graph_time(lambda i: fn(x), 10, timer)
                    row[f"fwd_{lib}_graph_ms"] = t if isinstance(t, float) else None
        if backward:
            xg = x.clone().requires_grad_()
            g = torch.randn_like(out)

            def fb(f):
                return lambda i: torch.autograd.grad(f(xg), xg, g)

            row["fb_torch_ms"] = timer(fb(theirs), reps, warmup)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row["fb_compiled_ms"] = timer(fb(compiled), reps, warmup)
            row["fb_spectro_ms"] = timer(fb(ours), reps, warmup)
        rows.append(row)
        print(f"{row['config']:<36} fwd torch {row['fwd_torch_ms']:.3f} compiled {row['fwd_compiled_ms']:.3f} "
              f"spectro {row['fwd_spectro_ms']:.3f} ms (floor {row['floor_ms']:.3f})"
              + (f"  f+b torch {row['fb_torch_ms']:.3f} compiled {row['fb_compiled_ms']:.3f} spectro "
                 f"{row['fb_spectro_ms']:.3f} ms" if backward else ""), flush=True)
        del x, out, out_ref
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def markdown(rows, baseline):
    """The RESULTS.md section of the rows."""
    L = ["## mel frontends", "",
         f"spectro.LogMelSpectrogram against {baseline} + log: eager, and the same function under torch.compile "
         "(inductor). Forward: no gradient; forward + backward: the input gradient (torch.autograd.grad). x: "
         "speed-up of spectro over each. floor: signal read once + mel written once at the copy bandwidth. "
         "peak: spectro's peak extra memory over its output. graph: the forward's GPU time alone (10 calls replayed "
         "from one CUDA graph; under capture spectro recomputes the filterbank's band ranges per call, which it "
         "otherwise keeps per basis).", "",
         "| configuration | fwd torch ms | fwd compiled ms | fwd spectro ms | x torch | x compiled | graph torch ms | "
         "graph spectro ms | floor ms | peak | f+b torch ms | f+b compiled ms | f+b spectro ms | x torch | x compiled |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def r(a, b):
        return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) else "-"

    def v(a):
        return f"{a:.3f}" if isinstance(a, float) else "-"

    for row in rows:
        peak = row.get("peak_extra_x_out")
        L.append(
            f"| {row['config']} | {v(row['fwd_torch_ms'])} | {v(row['fwd_compiled_ms'])} | {v(row['fwd_spectro_ms'])} "
            f"| {r(row['fwd_torch_ms'], row['fwd_spectro_ms'])} | {r(row['fwd_compiled_ms'], row['fwd_spectro_ms'])} "
            f"| {v(row.get('fwd_torch_graph_ms'))} | {v(row.get('fwd_spectro_graph_ms'))} "
            f"| {v(row['floor_ms'])} | {f'{peak:.2f}' if peak is not None else '-'} "
            f"| {v(row.get('fb_torch_ms'))} | {v(row.get('fb_compiled_ms'))} | {v(row.get('fb_spectro_ms'))} "
            f"| {r(row.get('fb_torch_ms'), row.get('fb_spectro_ms'))} "
            f"| {r(row.get('fb_compiled_ms'), row.get('fb_spectro_ms'))} |")
    L.append("")
    return L


def baseline_name():
    return "torchaudio's MelSpectrogram" if torchaudio is not None else "torch ops (torch.stft, abs, matmul)"


def write_markdown(path, data):
    L = ["# mel frontend benchmark", "",
         f"Generated by `python benchmarks/frontends.py` ({data['device']}, torch {data['torch']}); do not edit by "
         "hand. `benchmarks/bench.py` puts the same section into RESULTS.md.", ""]
    L += markdown(data["rows"], data["baseline"])
    with open(path, "w") as f:
        f.write("\n".join(L))


def main() -> int:
    sys.path.insert(0, HERE)
    from bench import Timer, copy_bandwidth, graph_time  # noqa: PLC0415

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=HERE)
    p.add_argument("--render", metavar="FRONTENDS_JSON", help="write FRONTENDS.md (into --out) from a finished run")
    args = p.parse_args()
    if args.render:
        with open(args.render) as f:
            write_markdown(os.path.join(args.out, "FRONTENDS.md"), json.load(f))
        return 0
    os.makedirs(args.out, exist_ok=True)  # (before the runs: a missing folder must not cost the measurements)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    timer = Timer(device)
    bw = copy_bandwidth(device, timer)
    reps, warmup = (30, 5) if device.type == "cuda" else (3, 1)
    rows = run(device, timer, bw, reps, warmup, quick=args.quick or device.type != "cuda", graph_time=graph_time)
    data = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
            "baseline": baseline_name(), "rows": rows}
    with open(os.path.join(args.out, "frontends.json"), "w") as f:
        json.dump(data, f, indent=1)
    write_markdown(os.path.join(args.out, "FRONTENDS.md"), data)
    print("\n".join(markdown(rows, baseline_name())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
