"""Spectral losses: spectro.losses against each loss's own library implementation on torch.stft, eager, float32,
forward + backward (the gradient of the prediction; the target without grad, as in training).

    python benchmarks/losses.py [--quick] [--out DIR]     # standalone: DIR/losses.json, DIR/LOSSES.md
    python benchmarks/losses.py --render DIR/losses.json  # LOSSES.md again from a finished run
    (benchmarks/bench.py runs it too and puts the same table into RESULTS.md)

Rows (the configurations the spectral-loss issue names), signals (B, 1, T):
  mrstft    auraloss 0.4's MultiResolutionSTFTLoss (its defaults: 1024 / 2048 / 512 FFTs, hops 120 / 240 / 50,
            windows 600 / 1200 / 240, spectral convergence + log magnitude) at B=16 x 65536 and B=4 x 160000:
            auraloss itself where it imports, else a row of dashes
  dac-mel   DAC's MelSpectrogramLoss with its training values (conf/base.yml: 7 scales, windows 32 .. 2048, 5 .. 320
            mels, 44.1 kHz) at DAC's batch B=72 x 16758 and B=8 x 16758: the anchor is DAC's computation transcribed
            on torch.stft (tests/test_losses.py checks spectro against the same transcription), with the librosa
            filterbank (spectro.mel_filters, equal to librosa's)
Per row: median time of one forward and of one forward + backward (CUDA events), the speed-up, the CUDA kernels one
forward + backward launches (torch.profiler), and peak extra memory over the two signals' bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

import spectro
from spectro import losses as SL

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import auraloss
except Exception:  # noqa: BLE001
    auraloss = None

DAC_N_MELS = [5, 10, 20, 40, 80, 160, 320]
DAC_WINDOWS = [32, 64, 128, 256, 512, 1024, 2048]
CONFIGS = [("mrstft", 16, 65536), ("mrstft", 4, 160_000), ("dac-mel", 72, 16758), ("dac-mel", 8, 16758)]


def dac_mel_loss_anchor(device, sample_rate=44100):
    """DAC's dac.nn.loss.MelSpectrogramLoss.forward (conf/base.yml values) as its code runs it: per scale
    torch.stft (periodic Hann from scipy, hop w // 4, centred), |.|, the mel projection, log10 of clamp 1e-5, L1."""
    bases = [spectro.mel_filters(sample_rate, w, n).to(device) for n, w in zip(DAC_N_MELS, DAC_WINDOWS)]
    windows = [SL._periodic_hann64(w).float().to(device) for w in DAC_WINDOWS]

    def loss(x, y):
        B, C, T = x.shape
        total = 0.0
        for basis, window, w in zip(bases, windows, DAC_WINDOWS):
            def mel(sig):
                st = torch.stft(sig.reshape(-1, T), n_fft=w, hop_length=w // 4, window=window, return_complex=True,
                                center=True)
                mag = torch.abs(st.reshape(B, C, st.shape[-2], st.shape[-1]))
                return (mag.transpose(2, -1) @ basis.T).transpose(-1, 2)
            xm, ym = mel(x), mel(y)
            total = total + torch.nn.functional.l1_loss(xm.clamp(1e-5).pow(1.0).log10(),
                                                        ym.clamp(1e-5).pow(1.0).log10())
        return total

    return loss


def _losses(kind, device):
    """(spectro's loss, the anchor or None)."""
    if kind == "mrstft":
        ours = SL.MultiResolutionSTFTLoss().to(device)
        theirs = auraloss.freq.MultiResolutionSTFTLoss().to(device) if auraloss is not None else None
        return ours, theirs
    return SL.MelSpectrogramLoss(44100).to(device), dac_mel_loss_anchor(device)


def _kernels(fn, device, show_host=False):
    """(CUDA kernels launched by one call of fn, their summed device time in ms); with show_host, the call's ops by
    host time on stderr (where eager time goes when the kernels are short), then each kernel's device time."""
    if device.type != "cuda":
        return None, None
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415
    fn()
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA] if show_host else [ProfilerActivity.CUDA]
                 ) as prof:
        fn()
        torch.cuda.synchronize(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA
               and not e.name.startswith(("Memcpy", "Memset"))]
    if show_host:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr, flush=True)
        # Each kernel in launch order with its device time (which scale and stage the time goes to).
        for e in sorted(kernels, key=lambda e: e.time_range.start):
            name = e.name.replace("void spectro::kernels::cuda::detail::", "").replace("spectro::kernels::cuda::", "")
            print(f"  kernel {e.device_time_total:9.1f} us  {name[:150]}", file=sys.stderr)
    return len(kernels), sum(e.device_time_total for e in kernels) / 1000.0


def _peak_extra(fn, device, signal_bytes):
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_stats(device)["requested_bytes.all.current"]
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.memory_stats(device)["requested_bytes.all.peak"] - base) / signal_bytes


def run(device, timer, reps, warmup, quick=False):
    rows = []
    for kind, B, T in CONFIGS[:: 2 if quick else 1]:
        if device.type != "cuda":  # (a CPU run is a smoke test: small inputs)
            B, T = 1, 16758
        torch.manual_seed(0)
        x = torch.randn(B, 1, T, device=device)
        y = 0.7 * x + 0.5 * torch.randn(B, 1, T, device=device)
        xg = x.clone().requires_grad_(True)
        ours, theirs = _losses(kind, device)
        row = {"config": f"{kind} B={B} T={T}", "anchor": "auraloss" if kind == "mrstft" else "DAC (transcribed)"}

        def fb(f):
            return lambda i=0: torch.autograd.grad(f(xg, y), xg)

        with torch.no_grad():
            row["fwd_spectro_ms"] = timer(lambda i: ours(x, y), reps, warmup)
        row["fb_spectro_ms"] = timer(fb(ours), reps, warmup)
        row["launches_spectro"], row["kernel_spectro_ms"] = _kernels(fb(ours), device, show_host=True)
        row["peak_spectro_x_signals"] = _peak_extra(fb(ours), device, 2 * x.numel() * x.element_size())
        if theirs is not None:
            a, b = ours(x, y).item(), theirs(x, y).item()
            row["rel_diff"] = abs(a - b) / abs(b)
            with torch.no_grad():
                row["fwd_anchor_ms"] = timer(lambda i: theirs(x, y), reps, warmup)
            row["fb_anchor_ms"] = timer(fb(theirs), reps, warmup)
            row["launches_anchor"], row["kernel_anchor_ms"] = _kernels(fb(theirs), device)
            row["peak_anchor_x_signals"] = _peak_extra(fb(theirs), device, 2 * x.numel() * x.element_size())
        rows.append(row)
        print(json.dumps(row), flush=True)
        del x, y, xg
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def markdown(rows):
    L = ["## spectral losses", "",
         "spectro.losses against the anchor library's implementation on torch.stft, eager, float32. fwd: forward only "
         "(no grad); f+b: forward + backward (the prediction's gradient). x: speed-up over the anchor. kernels: the "
         "summed device time of the CUDA kernels of one forward + backward (well below f+b: the host's time per call "
         "bounds it); launches: their number. peak: peak extra memory during forward + backward over the two signals' "
         "bytes.", "",
         "| configuration | anchor | fwd anchor ms | fwd spectro ms | x | f+b anchor ms | f+b spectro ms | x | "
         "kernels anchor ms | kernels spectro ms | launches anchor | launches spectro | peak anchor | peak spectro |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def r(a, b):
        return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) else "-"

    def v(a, fmt=".3f"):
        return format(a, fmt) if isinstance(a, (float, int)) else "-"

    for row in rows:
        L.append(f"| {row['config']} | {row['anchor']} | {v(row.get('fwd_anchor_ms'))} | {v(row['fwd_spectro_ms'])} "
                 f"| {r(row.get('fwd_anchor_ms'), row['fwd_spectro_ms'])} | {v(row.get('fb_anchor_ms'))} "
                 f"| {v(row['fb_spectro_ms'])} | {r(row.get('fb_anchor_ms'), row['fb_spectro_ms'])} "
                 f"| {v(row.get('kernel_anchor_ms'))} | {v(row.get('kernel_spectro_ms'))} "
                 f"| {v(row.get('launches_anchor'), 'd')} | {v(row.get('launches_spectro'), 'd')} "
                 f"| {v(row.get('peak_anchor_x_signals'), '.1f')} | {v(row.get('peak_spectro_x_signals'), '.1f')} |")
    L.append("")
    return L


def host_load():
    """The host's 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def load_note(data):
    """A sentence on the host's load during the run: the anchors' eager times are bound by their host time (hundreds
    of launches), so other work on the host slows them more than spectro's and raises the ratios."""
    start, end = data.get("host_load_start"), data.get("host_load_end")
    if start is None or end is None:
        return ""
    return (f"Host load average (1 min) {start} at the start, {end} at the end, {data.get('host_cpus')} CPUs: the "
            "anchors are host-bound, so a loaded host raises the ratios; compare runs made alone on the machine. ")


def write_markdown(path, data):
    L = ["# spectral loss benchmark", "",
         f"Generated by `python benchmarks/losses.py` ({data['device']}, torch {data['torch']}); do not edit by hand. "
         + load_note(data) + "`benchmarks/bench.py` puts the same section into RESULTS.md.", ""]
    L += markdown(data["rows"])
    with open(path, "w") as f:
        f.write("\n".join(L))


def main() -> int:
    sys.path.insert(0, HERE)
    from bench import Timer  # noqa: PLC0415

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=HERE)
    p.add_argument("--render", metavar="LOSSES_JSON", help="write LOSSES.md (into --out) from a finished run")
    args = p.parse_args()
    if args.render:
        with open(args.render) as f:
            write_markdown(os.path.join(args.out, "LOSSES.md"), json.load(f))
        return 0
    os.makedirs(args.out, exist_ok=True)  # (before the runs: a missing folder must not cost the measurements)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    timer = Timer(device)
    reps, warmup = (20, 3) if device.type == "cuda" else (2, 1)
    load_start = host_load()
    rows = run(device, timer, reps, warmup, quick=args.quick or device.type != "cuda")
    data = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
            "host_cpus": os.cpu_count(), "host_load_start": load_start, "host_load_end": host_load(), "rows": rows}
    with open(os.path.join(args.out, "losses.json"), "w") as f:
        json.dump(data, f, indent=1)
    write_markdown(os.path.join(args.out, "LOSSES.md"), data)
    print("\n".join(markdown(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
