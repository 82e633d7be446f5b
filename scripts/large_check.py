#!/usr/bin/env python3
"""spectro past 2^31 elements: every CUDA path on inputs whose signal or spectrum exceeds 2^31 elements,
each result checked in full against a chunked reference (torch.stft / torch.istft and their autograd on slices).

    python scripts/large_check.py                 # on the GPU (peak 125 GB of GPU memory: an H200; under a minute)
    python scripts/large_check.py --small         # the same logic scaled down (2^31 -> about 2^18), on the CPU
    python scripts/large_check.py --small --self-test   # ... and proves the checks see every element
    python scripts/large_check.py --paths fused,tiled --cases signal

Cases (sizes for the GPU run; --small divides them):

* ``signal``: x of shape (2, 2^30 + 2^20 + 7) float32: 2^31 + 2^21 + 14 signal elements (8.6 GB), n_fft 1024,
  hop 768, centre reflect padding; spectrum 1.44e9 complex elements (2.9e9 real values, 11.5 GB). The istft output
  (2^31+ elements) and the stft backward's input gradient (2^31+ elements) exceed 2^31 too.
* ``spectrum``: x of shape (1, 2^29) float32, n_fft 1024, hop 128: spectrum 513 x (2^22 + 1) = 2.15e9 complex
  elements (4.3e9 real values, past 2^32; 17 GB). istft reads it, and the istft backward writes a gradient of that
  size.

For each case and each kernel path (``--paths``, default ``fused,tiled,direct``: the single-kernel path forced, and
the two-kernel path with each of its framing / overlap-add kernels): stft, istft (length = T), the stft backward (input
gradient of sum(Re(X * G))) and the istft backward (spectrum gradient of sum(y * g)), all in float32. ``fused`` raises
where the single kernel does not cover a geometry (both cases here are covered). A rand window (values in
[0.5, 1.5)) keeps the envelope well away from 0, so the comparison measures indexing, not conditioning.

Reference: the same transforms by torch (float32, same device) on slices of frames, each exact on the part of the
result that no frame outside the slice reaches: frames [m0, m1) of the spectrum against torch.stft of the signal
slice they read (center=False in the interior, centre-padded slices at both ends, aligned to the hop); output samples
of istft and of the stft backward against torch.istft / autograd of the frames that cover them, slices overlapping by
ceil(n_fft / hop) - 1 frames; spectrum-gradient frames against autograd of torch.istft over a slice extending
ceil(n_fft / hop) - 1 frames beyond them on both sides. Every element is checked. Tolerance per slice, as in
tests/helpers.py: ||a - b|| <= 4 eps log2(n_fft) ||b|| and max |a - b| <= 4 eps log2(n_fft) max |b|.

Prints one line per check and a summary; exit status 0 iff every check passed. GPU memory: the single-kernel path
peaks at 54 GB, the two-kernel paths (their frames buffer) at 98 GB (``signal``) and 125 GB (``spectrum``); the
script sets ``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`` unless it is set (with the default allocator the
cached blocks of one path fragment the next one's 32 GB requests: an out-of-memory error on a 140 GB H200).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
import torch  # noqa: E402  (after the allocator's configuration)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import spectro  # noqa: E402

TWO31 = 2**31


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="scaled-down sizes on the CPU (tests the script's logic)")
    p.add_argument("--device", default=None, help="default: cuda, or cpu with --small")
    p.add_argument("--paths", default=None, help="comma-separated kernel paths (default fused,tiled,direct; "
                   "auto with --small)")
    p.add_argument("--cases", default="signal,spectrum", help="comma-separated: signal, spectrum")
    p.add_argument("--chunk-frames", type=int, default=None, help="frames per reference slice")
    p.add_argument("--self-test", action="store_true", help="also corrupt single elements of each result (first, "
                   "last, 2^31-th where it exists, random ones) and require every check to catch them")
    return p.parse_args()


def case_sizes(name: str, small: bool):
    """(B, T, n_fft, hop)."""
    if name == "signal":
        return (2, 2**30 + 2**20 + 7, 1024, 768) if not small else (2, 2**17 + 2**7 + 7, 64, 48)
    if name == "spectrum":
        return (1, 2**29, 1024, 128) if not small else (1, 2**16, 64, 8)
    raise ValueError(name)


class Tally:
    def __init__(self):
        self.rows = []

    def add(self, case, op, path, numel, err_norm, err_max, tol, seconds, ok, note=""):
        self.rows.append((case, op, path, numel, err_norm, err_max, tol, seconds, ok, note))
        flag = "ok" if ok else "FAILED"
        print(f"  {op:16s} {path:10s} {numel:>14,d} elements{' (> 2^31)' if numel > TWO31 else ''}: "
              f"rel. norm err {err_norm:.2e}, max err / max|ref| {err_max:.2e} (tol {tol:.1e}), {seconds:6.1f} s "
              f"{flag} {note}", flush=True)


class Err:
    """Accumulates the worst slice errors of one result."""

    def __init__(self, tol):
        self.tol, self.norm, self.max, self.ok, self.where = tol, 0.0, 0.0, True, ""

    def slice(self, a, b, where):
        a = a.to(b.dtype)
        d = (a - b).abs()
        bn = b.abs()
        ref_norm = bn.double().norm().item()
        ref_max = bn.max().item()
        en = d.double().norm().item() / max(ref_norm, 1e-30)
        em = d.max().item() / max(ref_max, 1e-30)
        finite = bool(torch.isfinite(a).all())
        if en > self.norm:
            self.norm = en
        if em > self.max:
            self.max = em
        if not finite or en > self.tol or em > self.tol:
            if self.ok:
                self.where = f"first bad slice: {where} (norm {en:.2e}, max {em:.2e}, finite {finite})"
            self.ok = False


def stft_kw(n_fft, hop, w):
    return dict(n_fft=n_fft, hop_length=hop, window=w, return_complex=True)


def frame_ranges(n_frames, chunk, overlap=0):
    """Slices [m0, m1) of frames, consecutive slices overlapping by `overlap` frames."""
    m0 = 0
    while True:
        m1 = min(n_frames, m0 + chunk)
        yield m0, m1
        if m1 == n_frames:
            return
        m0 = m1 - overlap


def check_stft(spec, x, n_fft, hop, w, chunk, err: Err):
    """spec (B, F, N) against torch.stft of signal slices: interior frames via center=False, the first and last
    frames via centre-padded (reflect) slices aligned to the hop."""
    B, T = x.shape
    N = spec.shape[-1]
    pad = n_fft // 2
    m_lo = -(-pad // hop)  # first frame that reads no left padding
    m_hi = (T + pad - n_fft) // hop + 1  # frames [m_lo, m_hi) read no padding
    # head: frames [0, m_lo) from x[:, :L], centred
    L = min(T, (m_lo - 1) * hop - pad + n_fft + 1) if m_lo > 0 else 0
    if m_lo > 0:
        ref = torch.stft(x[:, :max(L, pad + 1)], center=True, pad_mode="reflect", **stft_kw(n_fft, hop, w))
        err.slice(spec[:, :, :m_lo], ref[:, :, :m_lo], "head frames")
    for m0, m1 in frame_ranges(m_hi - m_lo, chunk):
        m0, m1 = m0 + m_lo, m1 + m_lo
        s0, s1 = m0 * hop - pad, (m1 - 1) * hop - pad + n_fft
        ref = torch.stft(x[:, s0:s1], center=False, **stft_kw(n_fft, hop, w))
        err.slice(spec[:, :, m0:m1], ref, f"frames [{m0}, {m1})")
    if m_hi < N:
        j0 = m_lo + 1
        s = hop * max(0, m_hi - j0)  # slice start, a multiple of hop: slice frame j = original frame j + s / hop
        ref = torch.stft(x[:, s:], center=True, pad_mode="reflect", **stft_kw(n_fft, hop, w))
        err.slice(spec[:, :, m_hi:], ref[:, :, m_hi - s // hop:], "tail frames")


def exact_positions(m0, m1, N, n_fft, hop):
    """Padded positions [lo, hi) reached only by frames in [m0, m1)."""
    lo = 0 if m0 == 0 else (m0 - 1) * hop + n_fft
    hi = n_fft + hop * (N - 1) if m1 == N else m1 * hop
    return lo, hi


def check_istft(y, spec, n_fft, hop, w, chunk, err: Err):
    """y (B, T) = istft(spec, center=True, length=T) against torch.istft(center=False) of frame slices."""
    B, T = y.shape
    N = spec.shape[-1]
    pad = n_fft // 2
    r = -(-n_fft // hop) - 1
    for m0, m1 in frame_ranges(N, max(chunk, 2 * r + 2), overlap=r):
        ref = torch.istft(spec[:, :, m0:m1], n_fft, hop, window=w, center=False)
        lo, hi = exact_positions(m0, m1, N, n_fft, hop)
        t0, t1 = max(lo - pad, 0), min(hi - pad, T)
        if t1 > t0:
            err.slice(y[:, t0:t1], ref[:, t0 + pad - m0 * hop: t1 + pad - m0 * hop], f"samples [{t0}, {t1})")


def check_stft_backward(gx, x, G, n_fft, hop, w, chunk, err: Err):
    """gx = d/dx sum(Re(stft(x) * G)) (centre reflect padding) against autograd of torch.stft on slices."""
    B, T = x.shape
    N = G.shape[-1]
    pad = n_fft // 2
    r = -(-n_fft // hop) - 1
    m_lo = -(-pad // hop)
    m_hi = (T + pad - n_fft) // hop + 1

    def grad_of(xs, Gs, center, frames):
        xs = xs.detach().requires_grad_(True)
        X = torch.stft(xs, center=center, pad_mode="reflect", **stft_kw(n_fft, hop, w))
        Gz = torch.zeros_like(X)
        Gz[:, :, frames] = Gs
        (torch.view_as_real(X) * torch.view_as_real(Gz)).sum().backward()
        return xs.grad

    # head: frames [0, J0) of a centred slice x[:, :L]; exact for t + pad < J0 * hop (reflections p = pad - t too)
    J0 = min(N, m_lo + r + 2)
    L = min(T, (J0 - 1) * hop - pad + n_fft)
    g = grad_of(x[:, :L], G[:, :, :J0], True, slice(0, J0))
    t1 = min(J0 * hop - pad, L)
    err.slice(gx[:, :t1], g[:, :t1], f"head samples [0, {t1})")
    # interior: frames [m0, m1) within [m_lo, m_hi), center=False slices; exact on positions only they reach
    for a, b in frame_ranges(m_hi - m_lo, max(chunk, 2 * r + 2), overlap=r):
        m0, m1 = a + m_lo, b + m_lo
        s0 = m0 * hop - pad
        g = grad_of(x[:, s0:(m1 - 1) * hop - pad + n_fft], G[:, :, m0:m1], False, slice(None))
        lo = (m0 - 1) * hop + n_fft if m0 > m_lo else m0 * hop
        hi = m1 * hop if m1 < m_hi else (m1 - 1) * hop + n_fft
        lo, hi = max(lo, (m_lo + r) * hop), min(hi, (m_hi - r) * hop)  # leave the ends to head / tail
        # and the samples that reflected padding reaches (t <= pad, t >= T - 1 - pad): head / tail too
        t0, t1 = max(lo - pad, pad + 1), min(hi - pad, T - 1 - pad)
        if t1 > t0:
            err.slice(gx[:, t0:t1], g[:, t0 - s0: t1 - s0], f"samples [{t0}, {t1})")
    # tail: a centred slice from s (a multiple of hop) with the frames [J1, N); exact for the positions no frame
    # before J1 reaches, p >= (J1 - 1) * hop + n_fft (the right reflections come from frames >= J1 too)
    J1 = max(0, m_hi - 2 * r - 2)  # (J1 - 1) hop + n_fft <= (m_hi - r) hop: no gap to the interior
    s = hop * max(0, J1 - m_lo - 1)
    g = grad_of(x[:, s:], G[:, :, J1:], True, slice(J1 - s // hop, None))
    t0 = max(0, (J1 - 1) * hop + n_fft - pad) if J1 > 0 else 0
    err.slice(gx[:, t0:], g[:, t0 - s:], f"tail samples [{t0}, {T})")


def check_istft_backward(gs, spec, gy, n_fft, hop, w, chunk, err: Err):
    """gs = d/dspec sum(istft(spec, center=True, length=T) * gy) against autograd of torch.istft (center=False) on
    frame slices extended by r frames on both sides."""
    B, T = gy.shape
    N = spec.shape[-1]
    pad = n_fft // 2
    r = -(-n_fft // hop) - 1
    for a0, a1 in frame_ranges(N, chunk):  # the frames checked: [a0, a1)
        m0, m1 = max(0, a0 - r), min(N, a1 + r)
        s = spec[:, :, m0:m1].detach().requires_grad_(True)
        y = torch.istft(s, n_fft, hop, window=w, center=False)  # padded positions [m0 hop, ...)
        # gy at padded position p is gy[p - pad] inside the signal, else 0 (trimmed)
        p0 = m0 * hop
        g = torch.zeros_like(y)
        t0, t1 = max(0, p0 - pad), min(T, p0 + y.shape[-1] - pad)
        if t1 > t0:
            g[:, t0 + pad - p0: t1 + pad - p0] = gy[:, t0:t1]
        (y * g).sum().backward()
        err.slice(gs[:, :, a0:a1], s.grad[:, :, a0 - m0: a1 - m0], f"frames [{a0}, {a1})")


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def corrupt_positions(numel, small, gen):
    """Flat indices to corrupt in --self-test: the ends, around 2^31 where the tensor reaches it, random ones."""
    pos = {0, numel - 1, numel // 2}
    if numel > TWO31:
        pos |= {TWO31 - 1, TWO31}
    pos |= set(torch.randint(0, numel, (6 if small else 2,), generator=gen).tolist())
    return sorted(pos)


def self_test(result, check, gen, small):
    """Corrupts one element of `result` at a time (a real value: for complex results one component); every one must
    make `check(corrupted, err)` fail. Returns the positions that went unnoticed."""
    rv = torch.view_as_real(result) if result.is_complex() else result  # a view: writes reach `result`
    missed = []
    bump = 10 * rv.abs().max().item() + 1.0
    for i in corrupt_positions(rv.numel(), small, gen):
        idx = tuple(int(j) for j in torch.unravel_index(torch.tensor(i), rv.shape))  # (logical order)
        old = rv[idx].item()
        rv[idx] = old + bump
        e = Err(1e-3)
        check(result, e)
        rv[idx] = old
        if e.ok:
            missed.append(i)
    return missed


def randn_on(shape, device, gen):
    return torch.randn(shape, device=device, generator=gen)


def run_case(name, args, device, paths, tally: Tally):
    B, T, n_fft, hop = case_sizes(name, args.small)
    eps = torch.finfo(torch.float32).eps
    tol = 4 * eps * math.log2(n_fft)
    chunk = args.chunk_frames or (2**16 if not args.small else 97)
    gen = torch.Generator(device=device).manual_seed(1)  # inputs made on the device (no host copy of 2^31 values)
    cpu_gen = torch.Generator().manual_seed(2)
    N = 1 + (T + 2 * (n_fft // 2) - n_fft) // hop
    F = n_fft // 2 + 1
    print(f"case {name}: B={B} T={T} n_fft={n_fft} hop={hop}: signal {B * T:,d} elements, spectrum "
          f"{B * F * N:,d} complex ({2 * B * F * N:,d} real values)", flush=True)
    if not args.small:
        assert max(B * T, B * F * N) > TWO31, "the case does not exceed 2^31 elements"
    x = randn_on((B, T), device, gen)
    w = 0.5 + torch.rand(n_fft, device=device, generator=gen)
    gy = randn_on((B, T), device, gen)  # istft backward's fixed linear loss sum(y * gy)

    def record(op, path, result, dt, check):
        e = Err(tol)
        check(result, e)
        note = e.where
        ok = e.ok
        if args.self_test:
            missed = self_test(result, check, cpu_gen, args.small)
            ok = ok and not missed
            note += f" self-test: {'missed ' + str(missed) if missed else 'every corruption caught'}"
        tally.add(name, op, path, result.numel(), e.norm, e.max, tol, dt, ok, note)

    for path in paths:
        with spectro.kernel_path(path):
            # stft
            t = time.time()
            spec = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
            sync(device)
            record("stft", path, spec, time.time() - t,
                   lambda r, e: check_stft(r, x, n_fft, hop, w, chunk, e))
            # istft (length = T)
            t = time.time()
            y = spectro.istft(spec, n_fft, hop, window=w, length=T)
            sync(device)
            record("istft", path, y, time.time() - t,
                   lambda r, e: check_istft(r, spec, n_fft, hop, w, chunk, e))
            del y
            # istft backward: spectrum gradient of sum(y * gy) (y.backward(gy): no product tensor)
            s = spec.detach().requires_grad_(True)
            t = time.time()
            spectro.istft(s, n_fft, hop, window=w, length=T).backward(gy)
            sync(device)
            gs = s.grad
            del s
            record("istft backward", path, gs, time.time() - t,
                   lambda r, e: check_istft_backward(r, spec, gy, n_fft, hop, w, chunk, e))
            del gs
            # stft backward: input gradient of sum(Re(X * conj(G))) = X.backward(G), G = the spectrum itself (any
            # fixed tensor will do; the reference forms the same loss as sum(view_as_real(X) * view_as_real(G)))
            G = spec
            del spec
            xs = x.detach().requires_grad_(True)
            t = time.time()
            spectro.stft(xs, n_fft, hop, window=w, return_complex=True).backward(G)
            sync(device)
            gx = xs.grad
            del xs
            record("stft backward", path, gx, time.time() - t,
                   lambda r, e: check_stft_backward(r, x, G, n_fft, hop, w, chunk, e))
            del gx, G
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            print(f"  (peak GPU memory so far {torch.cuda.max_memory_allocated() / 1e9:.1f} GB)", flush=True)


def main():
    args = parse_args()
    device = args.device or ("cpu" if args.small else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("CUDA is not available (use --small for the scaled-down CPU run)")
        return 2
    paths = (args.paths or ("auto" if args.small else "fused,tiled,direct")).split(",")
    cases = args.cases.split(",")
    print(f"spectro large check: device {device}"
          f"{' (' + torch.cuda.get_device_name(device) + ')' if device.startswith('cuda') else ''}, torch "
          f"{torch.__version__}, paths {paths}, cases {cases}{', SMALL sizes' if args.small else ''}", flush=True)
    tally = Tally()
    t0 = time.time()
    for name in cases:
        run_case(name, args, device, paths, tally)
    bad = [r for r in tally.rows if not r[8]]
    print("\nsummary:")
    for case, op, path, numel, en, em, tol, dt, ok, note in tally.rows:
        print(f"  {case:9s} {op:16s} {path:10s} {numel:>14,d}{'*' if numel > TWO31 else ' '} "
              f"norm {en:.1e} max {em:.1e} {'ok' if ok else 'FAILED'}")
    print(f"  (* past 2^31 elements; tolerance 4 eps log2(n_fft))")
    print(f"{len(tally.rows) - len(bad)} passed, {len(bad)} failed in {time.time() - t0:.0f} s")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
