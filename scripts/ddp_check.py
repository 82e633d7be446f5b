#!/usr/bin/env python3
"""spectro under DistributedDataParallel: gradients and weights equal a single-process run.

    torchrun --nproc-per-node 2 scripts/ddp_check.py            # one GPU per rank, NCCL
    torchrun --nproc-per-node 2 scripts/ddp_check.py --cpu      # CPU ranks, gloo
    python scripts/ddp_check.py --cpu                           # one process (world size 1)
    python scripts/ddp_check.py --cross-device                  # tensors on cuda:1 while cuda:0 is current

Each rank trains a small model whose loss goes through spectro for a few SGD steps on its shard of a fixed global
batch: ``spectro.STFT`` (its window trainable) -> a per-frame MLP on the log magnitude giving a mask ->
``spectro.ISTFT`` (its window a buffer), and ``spectro.MultiResolutionSTFTLoss`` plus an L1 loss against the clean signal. The loss is
the mean over examples (each example's MR-STFT loss computed alone), so the mean of the ranks' losses is the loss of
the global batch and DDP's averaged gradient is its gradient. Every rank also runs the same steps in one process
over the whole global batch (the reference) and checks, at every step, that DDP's all-reduced gradients equal the
reference's at the same weights (max |diff| <= 1e-4 max |ref| per tensor: float32, another reduction order), and at
the end that the weights equal those of the reference's own trajectory (the same steps in one process).

Synchronisation (CUDA): step 1 is a warm-up (cuFFT plans, DDP's bucket rebuild, istft's first NOLA check, which
synchronises once per window version and geometry by design); steps 2.. run under
``torch.cuda.set_sync_debug_mode("error")``: any GPU->host synchronisation in the forward, the loss, the backward
(with DDP's all-reduce hooks) or the optimizer step raises. ``--sync-scope forward`` restricts the error mode to
DDP's forward and the loss, ``--sync-scope model`` to the model's own forward and the loss (spectro and the model
only, none of DDP's code), should DDP itself synchronise on some version.
On every device the script also counts istft's NOLA checks (each one synchronises on CUDA) after the warm-up: DDP
broadcasts module buffers before every forward (``broadcast_buffers=True``, its default), which writes the ISTFT
window buffer in place; the count shows whether that makes istft check again.

``--cross-device`` (one process, 2 GPUs): with cuda:0 current, stft / istft / their backward on tensors that live on
cuda:1 under every kernel path, compared bit for bit with the same calls made with cuda:1 current, and the current
device must still be cuda:0 afterwards.

Exit status 0 iff every check passed on every rank; rank 0 prints the summary.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import spectro  # noqa: E402

GLOBAL_BATCH = 8
T = 4096
N_FFT, HOP = 256, 64
RESOLUTIONS = ((256, 64, 256), (128, 32, 128), (512, 128, 512))
RTOL = 1e-4


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu", action="store_true", help="CPU ranks with gloo (default: one GPU per rank, NCCL)")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--sync-scope", choices=("step", "forward", "model"), default="step",
                   help="CUDA: what runs under set_sync_debug_mode('error') after the warm-up step")
    p.add_argument("--broadcast-buffers", type=int, choices=(0, 1), default=1, help="DDP's broadcast_buffers")
    p.add_argument("--cross-device", action="store_true", help="one process: tensors on cuda:1 while cuda:0 is "
                   "current")
    return p.parse_args()


class Enhancer(nn.Module):
    """stft -> mask from a per-frame MLP on the log magnitude -> istft."""

    def __init__(self):
        super().__init__()
        F = N_FFT // 2 + 1
        self.stft = spectro.STFT(N_FFT, HOP, trainable_window=True)
        self.istft = spectro.ISTFT(N_FFT, HOP)  # window: a buffer
        self.net = nn.Sequential(nn.Linear(F, 64), nn.Tanh(), nn.Linear(64, F))

    sync_mode = "default"  # --sync-scope model: set_sync_debug_mode inside forward only (not DDP's own hooks)

    def forward(self, x):
        with sync_debug(self.sync_mode, x.device):
            X = self.stft(x)  # (B, F, N)
            logmag = (X.real.square() + X.imag.square()).clamp_min(1e-10).log()
            mask = torch.sigmoid(self.net(logmag.transpose(1, 2))).transpose(1, 2)
            return self.istft(X * mask, length=x.shape[-1])


def global_batch(step: int):
    """(noisy, clean), each (GLOBAL_BATCH, T) float32 on the CPU, the same on every rank."""
    g = torch.Generator().manual_seed(1000 + step)
    t = torch.arange(T, dtype=torch.float32) / 16000
    f0 = 100 + 900 * torch.rand(GLOBAL_BATCH, 1, generator=g)
    clean = torch.sin(2 * torch.pi * f0 * t) * (0.5 + torch.rand(GLOBAL_BATCH, 1, generator=g))
    noisy = clean + 0.3 * torch.randn(GLOBAL_BATCH, T, generator=g)
    return noisy, clean


def loss_fn(mrstft, y, clean):
    """Mean over examples of (spectral convergence + log magnitude + L1), each example's MR-STFT loss alone."""
    total = 0.0
    for i in range(y.shape[0]):
        sc, mag = mrstft(y[i:i + 1], clean[i:i + 1])
        total = total + sc + mag + (y[i] - clean[i]).abs().mean()
    return total / y.shape[0]


def max_rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


class NolaCounter:
    """Counts istft's NOLA checks read on the host (each one synchronises on CUDA), as spectro._C counts them."""

    def __init__(self):
        self._start = spectro._C.nola_host_checks()

    @property
    def count(self):
        return spectro._C.nola_host_checks() - self._start


def sync_debug(mode: str, device):
    class _Ctx:
        def __enter__(self):
            if device.type == "cuda":
                self.prev = torch.cuda.get_sync_debug_mode()
                torch.cuda.set_sync_debug_mode(mode)

        def __exit__(self, *exc):
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode(self.prev)
            return False

    return _Ctx()


def train_ddp(args):
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    if args.cpu:
        device = torch.device("cpu")
        dist.init_process_group("gloo", rank=rank, world_size=world)
    else:
        if not torch.cuda.is_available() or torch.cuda.device_count() < world:
            print(f"rank {rank}: needs {world} GPUs (found {torch.cuda.device_count()}); use --cpu", flush=True)
            return 2
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", rank=rank, world_size=world, device_id=device)
    assert GLOBAL_BATCH % world == 0, f"world size {world} must divide the global batch {GLOBAL_BATCH}"
    local_b = GLOBAL_BATCH // world
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = Enhancer().to(device)
    ref = copy.deepcopy(model)  # the single-process run
    probe = copy.deepcopy(model)  # the single-process gradient at DDP's current weights
    # (broadcast_buffers is passed only to turn it off: newer torch deprecates the argument with a warning)
    ddp_kw = {} if args.broadcast_buffers else {"broadcast_buffers": False}
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None, **ddp_kw)
    mrstft = spectro.MultiResolutionSTFTLoss(RESOLUTIONS).to(device)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.5)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=args.lr, momentum=0.5)
    counter = NolaCounter()
    failures = []
    log = []
    nola_after_warmup = 0
    for step in range(args.steps):
        noisy, clean = global_batch(step)
        lo, hi = rank * local_b, (rank + 1) * local_b
        xs, cs = noisy[lo:hi].to(device), clean[lo:hi].to(device)
        warm = step == 0
        before = counter.count
        # DDP step (the inputs are on the device before the error mode starts: the host->device copies are ours)
        opt.zero_grad(set_to_none=True)
        step_mode = "default" if warm else "error"
        fwd_mode = step_mode if args.sync_scope != "model" else "default"
        bwd_mode = step_mode if args.sync_scope == "step" else "default"
        model.sync_mode = step_mode if args.sync_scope == "model" else "default"
        with sync_debug(fwd_mode, device):
            out = ddp(xs)
        with sync_debug(step_mode, device):
            loss = loss_fn(mrstft, out, cs)
        model.sync_mode = "default"
        with sync_debug(bwd_mode, device):
            loss.backward()
            opt.step()
        if warm:
            nola_warmup = counter.count - before
        else:
            nola_after_warmup += counter.count - before
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        # reference gradient at the same weights: one process, the whole global batch (probe holds the weights DDP's
        # step started from)
        probe.zero_grad(set_to_none=True)
        loss_fn(mrstft, probe(noisy.to(device)), clean.to(device)).backward()
        worst = 0.0
        for n, p in probe.named_parameters():
            e = max_rel(grads[n], p.grad)
            worst = max(worst, e)
            if e > RTOL:
                failures.append(f"step {step}: gradient of {n} differs: max|diff|/max|ref| = {e:.2e}")
        probe.load_state_dict(model.state_dict())
        # the reference trajectory: the same steps in one process (its own weights from the start)
        ref_opt.zero_grad(set_to_none=True)
        ref_loss = loss_fn(mrstft, ref(noisy.to(device)), clean.to(device))
        ref_loss.backward()
        ref_opt.step()
        global_loss = loss.detach().clone()
        dist.all_reduce(global_loss)
        global_loss /= world
        log.append((step, global_loss.item(), ref_loss.item(), worst))
    worst_w = 0.0
    for (n, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        e = max_rel(p.detach(), q.detach())
        worst_w = max(worst_w, e)
        if e > RTOL:
            failures.append(f"final weight {n} differs: max|diff|/max|ref| = {e:.2e}")
    flag = torch.tensor([len(failures)], dtype=torch.int64, device=device)
    dist.all_reduce(flag)
    if rank == 0:
        print(f"ddp_check: world size {world}, backend {dist.get_backend()}, device "
              f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}, "
              f"global batch {GLOBAL_BATCH} ({local_b} per rank), {args.steps} SGD steps, broadcast_buffers="
              f"{bool(args.broadcast_buffers)}")
        for step, gl, rl, worst in log:
            print(f"  step {step}: loss (mean over ranks) {gl:.6f}, reference {rl:.6f}; gradients max|diff|/max|ref| "
                  f"{worst:.2e}{' (warm-up)' if step == 0 else ''}")
        print(f"  final weights max|diff|/max|ref| {worst_w:.2e} (tolerance {RTOL:g})")
        print(f"  istft NOLA checks (DDP forward, rank 0): {nola_warmup} in the warm-up step, "
              f"{nola_after_warmup} after it"
              f"{'' if nola_after_warmup == 0 else '  <- each synchronises on CUDA'}")
        scope_text = {"step": "forward, loss, backward with DDP's hooks, optimizer step",
                      "forward": "DDP's forward and the loss", "model": "the model's forward and the loss"}
        if device.type == "cuda":
            print(f"  steps 1..{args.steps - 1} ran under set_sync_debug_mode('error') "
                  f"({scope_text[args.sync_scope]})"
                  ": no synchronisation")
    for f in failures:
        print(f"rank {rank}: FAILED {f}", flush=True)
    ok = flag.item() == 0
    if rank == 0:
        print("ddp_check: all checks passed" if ok else f"ddp_check: {flag.item()} failure(s)", flush=True)
    dist.destroy_process_group()
    return 0 if ok else 1


def cross_device(args):
    """With cuda:0 current, every op on tensors on cuda:1, against the same calls with cuda:1 current."""
    if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        print(f"--cross-device needs 2 GPUs (found {torch.cuda.device_count() if torch.cuda.is_available() else 0})")
        return 2
    dev1 = torch.device("cuda", 1)
    failures = []

    def run(x, w, spec_grad):
        xs = x.clone().requires_grad_(True)
        X = spectro.stft(xs, N_FFT, HOP, window=w, return_complex=True)
        s = X.detach().clone().requires_grad_(True)
        y = spectro.istft(s, N_FFT, HOP, window=w, length=x.shape[-1])
        X.backward(spec_grad)
        y.backward(x)
        out = [X.detach(), y.detach(), xs.grad, s.grad]
        torch.cuda.synchronize(x.device)
        return out

    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, T, generator=g)
    w = torch.hann_window(N_FFT)
    paths = [p for p in spectro.kernel_path.PATHS]
    for path in paths:
        with spectro.kernel_path(path):
            sg = torch.randn(3, N_FFT // 2 + 1, 1 + T // HOP, generator=g, dtype=torch.complex64)
            with torch.cuda.device(dev1):
                expected = run(x.to(dev1), w.to(dev1), sg.to(dev1))
            torch.cuda.set_device(0)
            try:
                got = run(x.to(dev1), w.to(dev1), sg.to(dev1))
            except RuntimeError as e:
                if f"kernel_path('{path}') cannot run" in str(e):
                    print(f"  {path}: not covered (skipped)")
                    continue
                raise
            if torch.cuda.current_device() != 0:
                failures.append(f"{path}: the current device changed to {torch.cuda.current_device()}")
            for name, a, b in zip(["stft", "istft", "stft backward", "istft backward"], got, expected):
                if a.device != dev1:
                    failures.append(f"{path}: {name} on {a.device}, expected {dev1}")
                elif not torch.equal(a, b):
                    failures.append(f"{path}: {name} differs from the call made with cuda:1 current")
            print(f"  {path}: stft, istft and both backwards on cuda:1 with cuda:0 current: "
                  f"{'ok' if not failures else 'FAILED'}")
    print(f"cross-device: {torch.cuda.get_device_name(0)} / {torch.cuda.get_device_name(1)}, "
          f"{'all checks passed' if not failures else str(len(failures)) + ' failure(s)'}")
    for f in failures:
        print(f"FAILED {f}")
    return 0 if not failures else 1


def main():
    args = parse_args()
    if args.cross_device:
        return cross_device(args)
    return train_ddp(args)


if __name__ == "__main__":
    sys.exit(main())
