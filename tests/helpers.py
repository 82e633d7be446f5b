"""Shared helpers for spectro's tests: tolerances (with their error analysis), comparisons with informative failure
messages, seeded input generators, independent float64 reference implementations and a small covering-array
generator for the parity grids.

Tolerances: error analysis
--------------------------
spectro.stft computes  Y = FFT(s * w (.) frame(x))  and torch.stft computes the same thing with the products taken in
another order (torch: x*w, then the FFT applies the normalisation; spectro: one fused (s*w[k]) * x per element).
Both then call the same FFT library (pocketfft/MKL on CPU, cuFFT on CUDA). With unit roundoff u = eps/2:

* the pre-FFT products carry a relative error <= 3u per element (2 roundings each side), i.e. <= 3u norm-wise;
* a Cooley-Tukey style FFT of size n is norm-wise backward/forward stable: ||fl(FFT x) - FFT x||_2 <=
  c * u * log2(n) * ||FFT x||_2 with a small constant c (Higham, "Accuracy and Stability of Numerical Algorithms",
  2nd ed., Thm 24.2: c ~ (mu + gamma_4 (sqrt 2 + mu)) / u, about 5 with accurate twiddles; mixed-radix and Bluestein
  sizes such as 15 or 400 have comparable constants).

Each implementation is within that bound of the exact result, so their difference is within twice of it:

    ||a - b||_2 / ||b||_2  <=  k * eps * log2(n)        (NORM criterion)

and we take k = 4 (i.e. c ~ 4 for the FFT plus the products, times 2 implementations, in units of eps = 2u).
Measured ratios (CPU, float32) are ~0.1-0.2 in these units, so k = 4 leaves a 20x margin while staying ~1e6 times
tighter than a real indexing/windowing bug (which gives relative errors O(1)). For float64 the same formula gives
~1e-14, well inside the 1e-10 the project asks for.

A norm-wise bound allows a single element to carry the whole error, and a bug that corrupts one frame of many
barely moves the global norm. So we also bound every element by an absolute tolerance scaled by the largest
reference magnitude (ELEMENT criterion):

    |a_j - b_j|  <=  k * eps * log2(n) * max_j |b_j|

(the rigorous per-element bound has an extra sqrt(n) factor, |d_j| <= ||d||_2, but rounding errors of an FFT are
spread over the bins, so in practice each bin's error is ~ the rms error; the measured worst-element ratio is also
~0.2 in these units.)

istft divides the overlap-added frames by the window envelope env[t] = sum_m w[t - m*hop]^2. Both sides compute
OLA[t] with the error above and divide by env[t] (one more rounding), so the error of y[t] is the OLA error
amplified by 1/env[t]: we compare env-weighted signals, (a - b) * env vs b * env, with the same criteria.

The rounding errors of OLA[t] = sum_m w * frame_m scale with the terms' magnitudes, sum_m |w| * |frame_m|, not with
the sum: when the frames cancel (a short output, tiny n_fft) |OLA| can be far below its terms. So an istft
comparison may pass `scale` = that magnitude sum (reference_istft(..., magnitudes=True)): the criteria then measure
the error against max(|b|, scale) instead of |b|.
"""
from __future__ import annotations

import itertools
import math
import random
import warnings
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional, Sequence

import pytest
import torch

K_TOL = 4.0
ENVELOPE_EPS = 1e-11  # torch.istft's NOLA threshold


def real_dtype_of(dtype: torch.dtype) -> torch.dtype:
    return dtype.to_real() if dtype.is_complex else dtype


def eps_of(dtype: torch.dtype) -> float:
    return torch.finfo(real_dtype_of(dtype)).eps


def fft_tolerance(dtype: torch.dtype, n_fft: int, k: float = K_TOL) -> float:
    """k * eps * log2(n): the relative (norm-wise) tolerance for results of size-n FFTs (see module docstring)."""
    return k * eps_of(dtype) * max(1.0, math.log2(max(n_fft, 2)))


def _as_complex_or_real(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu")


def _describe_index(shape, flat_index: int) -> tuple:
    return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat_index), shape))


def assert_close_fft(
    actual: torch.Tensor,
    expected: torch.Tensor,
    n_fft: int,
    *,
    what: str = "",
    k: float = K_TOL,
    check_strides: bool = True,
    weight: Optional[torch.Tensor] = None,
    tol_dtype: Optional[torch.dtype] = None,
    scale: Optional[torch.Tensor] = None,
) -> None:
    """Assert `actual` equals `expected` (torch's result) to FFT rounding: same shape, dtype, strides (unless
    check_strides=False), device, NaN pattern; NORM and ELEMENT criteria of the module docstring.

    weight: optional real tensor broadcastable to the values (for istft: the window envelope), applied to both the
    difference and the reference before the criteria.
    scale: optional nonnegative real tensor like the values, the magnitudes the reference is computed from (see the
    module docstring); the criteria use max(|b|, scale) in place of |b|.
    """
    ctx = f"[{what}] " if what else ""
    assert isinstance(actual, torch.Tensor), f"{ctx}expected a Tensor, got {type(actual).__name__}"
    assert actual.shape == expected.shape, f"{ctx}shape {tuple(actual.shape)} != torch's {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{ctx}dtype {actual.dtype} != torch's {expected.dtype}"
    assert actual.device == expected.device, f"{ctx}device {actual.device} != torch's {expected.device}"
    if check_strides:
        assert_same_strides(actual, expected, what=what)
    a = _as_complex_or_real(actual)
    b = _as_complex_or_real(expected)
    nan_a, nan_b = torch.isnan(a), torch.isnan(b)
    if not torch.equal(nan_a, nan_b):
        diff = (nan_a != nan_b).nonzero()
        raise AssertionError(
            f"{ctx}NaN pattern differs from torch's at {diff.shape[0]} positions, first {tuple(diff[0].tolist())}: "
            f"spectro NaN={bool(nan_a[tuple(diff[0])])}, torch NaN={bool(nan_b[tuple(diff[0])])}"
        )
    inf_a, inf_b = torch.isinf(a), torch.isinf(b)
    if not torch.equal(inf_a, inf_b):
        diff = (inf_a != inf_b).nonzero()
        raise AssertionError(f"{ctx}Inf pattern differs from torch's, first at {tuple(diff[0].tolist())}")
    finite = torch.isfinite(a) & torch.isfinite(b)
    if not finite.any():
        return
    ra = torch.view_as_real(a) if a.is_complex() else a
    rb = torch.view_as_real(b) if b.is_complex() else b
    same_inf = torch.equal(torch.isposinf(ra), torch.isposinf(rb)) and torch.equal(
        torch.isneginf(ra), torch.isneginf(rb)
    )
    if not same_inf:
        raise AssertionError(f"{ctx}infinities (sign or component) differ from torch's")
    a = torch.where(finite, a, torch.zeros((), dtype=a.dtype))
    b = torch.where(finite, b, torch.zeros((), dtype=b.dtype))
    d = (a.to(torch.complex128) if a.is_complex() else a.double()) - (
        b.to(torch.complex128) if b.is_complex() else b.double()
    )
    ref = b.to(torch.complex128) if b.is_complex() else b.double()
    if scale is not None:
        ref = torch.maximum(ref.abs(), scale.detach().to("cpu", torch.float64))
    if weight is not None:
        weight = weight.detach().to("cpu", torch.float64)
        d = d * weight
        ref = ref * weight
    tol = fft_tolerance(tol_dtype or expected.dtype, n_fft, k)
    ref_norm = ref.abs().norm().item()
    err_norm = d.abs().norm().item()
    if err_norm > tol * ref_norm:
        raise AssertionError(
            f"{ctx}norm-wise relative error ||a-b||/||b|| = {err_norm / max(ref_norm, 1e-300):.3e} exceeds "
            f"k*eps*log2(n_fft) = {tol:.3e} (n_fft={n_fft}, dtype={expected.dtype}, ||b||={ref_norm:.3e})"
        )
    atol = tol * ref.abs().max().item()
    err = d.abs()
    worst = int(err.reshape(-1).argmax())
    if err.reshape(-1)[worst].item() > atol:
        idx = _describe_index(err.shape, worst)
        raise AssertionError(
            f"{ctx}element {idx}: |a-b| = {err.reshape(-1)[worst].item():.3e} exceeds k*eps*log2(n_fft)*max|b| = "
            f"{atol:.3e}; spectro {a.reshape(-1)[worst].item()}, torch {b.reshape(-1)[worst].item()}; "
            f"{int((err > atol).sum())} element(s) out of tolerance"
        )


def assert_same_strides(actual: torch.Tensor, expected: torch.Tensor, *, what: str = "") -> None:
    """Strides must equal torch's, except along dimensions of size 1 (whose stride is meaningless)."""
    ctx = f"[{what}] " if what else ""
    mism = [
        d for d in range(actual.dim()) if actual.shape[d] != 1 and actual.stride(d) != expected.stride(d)
    ]
    assert not mism, (
        f"{ctx}strides {actual.stride()} != torch's {expected.stride()} (shape {tuple(actual.shape)}; "
        f"differs in dims {mism})"
    )


# --------------------------------------------------------------------------------------------------------------
# Inputs
def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def seed_of(*parts) -> int:
    """A stable seed from test parameters (Python's hash() of str is salted per process, so not that)."""
    s = "|".join(str(p) for p in parts)
    h = 0
    for ch in s.encode():
        h = (h * 131 + ch) % (2**31 - 1)
    return h


def randn(shape, dtype, gen: torch.Generator, device="cpu") -> torch.Tensor:
    """Seeded standard normal values (complex: independent real and imaginary parts), made on the CPU so that every
    device sees the same numbers."""
    if dtype.is_complex:
        r = real_dtype_of(dtype)
        t = torch.complex(torch.randn(shape, generator=gen, dtype=r), torch.randn(shape, generator=gen, dtype=r))
    else:
        t = torch.randn(shape, generator=gen, dtype=dtype)
    return t.to(device)


def make_signal(batch_shape, T: int, dtype, gen, device="cpu", layout: str = "contiguous") -> torch.Tensor:
    """Signal of shape batch_shape + (T,) with the requested memory layout:

    contiguous  -- a fresh tensor;
    step2       -- every other sample of a longer buffer (non-unit time stride);
    transposed  -- time-major storage viewed as (..., T) (time stride 1 but batch stride 1 too; needs a batch dim);
    offset      -- a slice starting at a non-zero storage offset, non-contiguous in the batch dims.
    """
    batch_shape = tuple(batch_shape)
    if layout == "contiguous":
        x = randn(batch_shape + (T,), dtype, gen)
    elif layout == "step2":
        x = randn(batch_shape + (2 * T,), dtype, gen)[..., ::2]
    elif layout == "transposed":
        assert len(batch_shape) >= 1, "transposed layout needs a batch dimension"
        x = randn((T,) + batch_shape, dtype, gen).movedim(0, -1)
    elif layout == "offset":
        x = randn(batch_shape + (T + 5,), dtype, gen)[..., 3 : 3 + T]
    else:
        raise ValueError(layout)
    x = x.to(device)
    if layout != "contiguous" and x.numel() > 1:
        assert not x.is_contiguous() or layout == "offset" and not batch_shape, f"layout {layout} is contiguous"
    return x


def make_window(kind: Optional[str], win_length: int, dtype, gen, device="cpu") -> Optional[torch.Tensor]:
    """None, "hann" (periodic), "rand" (uniform in [0.5, 1.5): positive, so NOLA holds whenever the frames cover
    every sample), "randn" (signed), "ones", "zeros", "hann_sym" (symmetric hann: zero at both ends)."""
    if kind is None:
        return None
    if kind == "hann":
        w = torch.hann_window(win_length, dtype=dtype)
    elif kind == "hann_sym":
        w = torch.hann_window(win_length, periodic=False, dtype=dtype)
    elif kind == "rand":
        w = 0.5 + torch.rand(win_length, generator=gen, dtype=dtype)
    elif kind == "randn":
        w = torch.randn(win_length, generator=gen, dtype=dtype)
    elif kind == "ones":
        w = torch.ones(win_length, dtype=dtype)
    elif kind == "zeros":
        w = torch.zeros(win_length, dtype=dtype)
    else:
        raise ValueError(kind)
    return w.to(device)


# --------------------------------------------------------------------------------------------------------------
# Torch references on any number of batch dims (torch.stft takes 1D/2D, torch.istft 2D/3D).
def torch_stft_nd(x: torch.Tensor, n_fft: int, **kw) -> torch.Tensor:
    if x.dim() <= 2:
        return torch.stft(x, n_fft, **kw)
    batch = x.shape[:-1]
    out = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, **kw)
    return out.reshape(batch + out.shape[1:])


def torch_istft_nd(spec: torch.Tensor, n_fft: int, **kw) -> torch.Tensor:
    if spec.dim() <= 3:
        return torch.istft(spec, n_fft, **kw)
    batch = spec.shape[:-2]
    out = torch.istft(spec.reshape((-1,) + spec.shape[-2:]), n_fft, **kw)
    return out.reshape(batch + out.shape[1:])


def padded_window(window: Optional[torch.Tensor], win_length: int, n_fft: int, dtype=torch.float64, device="cpu"):
    """The window centred in n_fft zeros (torch's convention), float64 on `device`."""
    w = torch.ones(win_length, dtype=dtype, device=device) if window is None else window.to(device, dtype)
    left = (n_fft - win_length) // 2
    return torch.nn.functional.pad(w, (left, n_fft - win_length - left))


def envelope(window_n_fft: torch.Tensor, hop: int, n_frames: int) -> torch.Tensor:
    """sum_m w[p - m*hop]^2 over p in [0, n_fft + hop*(n_frames-1)), float64, by a plain loop (independent of
    spectro's implementation)."""
    n_fft = window_n_fft.shape[0]
    w2 = window_n_fft.detach().to("cpu", torch.float64) ** 2
    env = torch.zeros(n_fft + hop * (n_frames - 1), dtype=torch.float64)
    for m in range(n_frames):
        env[m * hop : m * hop + n_fft] += w2
    return env


def istft_envelope(window, n_fft, hop, win_length, n_frames, center, length) -> torch.Tensor:
    """The window envelope at each output sample of istft (0 past the natural end), float64 on the CPU."""
    env = envelope(padded_window(window, win_length, n_fft), hop, n_frames)
    start = n_fft // 2 if center else 0
    end = (env.shape[0] - n_fft // 2 if center else env.shape[0]) if length is None else start + length
    out = torch.zeros(end - start, dtype=torch.float64)
    avail = env[start : min(end, env.shape[0])]
    out[: avail.shape[0]] = avail
    return out


def reference_istft(
    spec: torch.Tensor,
    n_fft: int,
    hop: int,
    win_length: int,
    window,
    center: bool,
    normalized: bool,
    onesided: bool,
    length: Optional[int],
    return_complex: bool,
    magnitudes: bool = False,
) -> torch.Tensor:
    """A float64 istft written from torch.istft's definition, except that samples whose envelope is below 1e-11 are
    set to 0 instead of raising (spectro's torch_like=False semantics). spec: (B, F, N). With magnitudes=True it
    overlap-adds |w| * |frame| instead (the `scale` of assert_close_fft)."""
    s = spec.detach().to("cpu", torch.complex128).transpose(-1, -2)  # (B, N, F)
    if return_complex:
        frames = torch.fft.ifft(s, n=n_fft, dim=-1)
    else:
        frames = torch.fft.irfft(s[..., : n_fft // 2 + 1], n=n_fft, dim=-1)
    if normalized:
        frames = frames * math.sqrt(n_fft)
    w = padded_window(window, win_length, n_fft)
    frames = (frames.abs() * w.abs()) if magnitudes else frames * w
    B, N = frames.shape[0], frames.shape[1]
    span = n_fft + hop * (N - 1)
    y = torch.zeros(B, span, dtype=frames.dtype)
    for m in range(N):
        y[:, m * hop : m * hop + n_fft] += frames[:, m]
    env = envelope(w, hop, N)
    ok = env >= ENVELOPE_EPS
    y = torch.where(ok, y / torch.where(ok, env, torch.ones_like(env)), torch.zeros((), dtype=y.dtype))
    start = n_fft // 2 if center else 0
    end = (span - n_fft // 2 if center else span) if length is None else start + length
    out = torch.zeros(B, end - start, dtype=y.dtype)
    avail = y[:, start : min(end, span)]
    out[:, : avail.shape[1]] = avail
    return out


# --------------------------------------------------------------------------------------------------------------
# Warnings
@contextmanager
def record_warnings():
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        yield rec


def messages(rec) -> List[str]:
    return [str(w.message) for w in rec]


def has_warning(rec, fragment: str) -> bool:
    return any(fragment in str(w.message) for w in rec)


# --------------------------------------------------------------------------------------------------------------
# Covering arrays: every t-tuple of values of the listed axes appears in at least one generated configuration.
def covering_configs(
    axes: Dict[str, Sequence],
    *,
    strength: int = 2,
    strong: Sequence[str] = (),
    strong_strength: int = 3,
    valid: Callable[[dict], bool] = lambda cfg: True,
    seed: int = 0,
    candidates: int = 40,
) -> List[dict]:
    """Greedy (AETG-style) mixed-strength covering array over `axes`: every `strength`-tuple of values over any
    `strength` axes, and every `strong_strength`-tuple over the axes named in `strong`, occurs in some returned
    configuration, among those that `valid` (a predicate on partial or complete configs) admits. Deterministic for
    a given seed."""
    rng = random.Random(seed)
    names = list(axes)
    interactions = [tuple(c) for c in itertools.combinations(names, strength)]
    if strong:
        interactions += [
            tuple(c) for c in itertools.combinations([n for n in names if n in strong], strong_strength)
        ]
    interactions = list(dict.fromkeys(interactions))
    uncovered = set()
    for inter in interactions:
        for values in itertools.product(*(range(len(axes[n])) for n in inter)):
            partial = {n: axes[n][v] for n, v in zip(inter, values)}
            if valid(partial):
                uncovered.add((inter, values))

    def covered_by(cfg_idx):
        return {
            (inter, tuple(cfg_idx[n] for n in inter))
            for inter in interactions
            if (inter, tuple(cfg_idx[n] for n in inter)) in uncovered
        }

    configs = []
    ordered = sorted(uncovered, key=repr)
    while uncovered:
        best, best_gain = None, set()
        seeds = [t for t in ordered if t in uncovered]
        for _ in range(candidates):
            inter, values = seeds[rng.randrange(len(seeds))] if rng.random() < 0.5 else seeds[0]
            for _attempt in range(50):
                idx = {n: rng.randrange(len(axes[n])) for n in names}
                idx.update(dict(zip(inter, values)))
                if valid({n: axes[n][i] for n, i in idx.items()}):
                    break
            else:
                continue
            gain = covered_by(idx)
            if len(gain) > len(best_gain):
                best, best_gain = idx, gain
        if best is None:  # the seed tuple admits no valid completion: drop it
            uncovered.discard(seeds[0])
            continue
        uncovered -= best_gain
        configs.append({n: axes[n][i] for n, i in best.items()})
    return configs


def config_id(cfg: dict) -> str:
    def short(v):
        if isinstance(v, torch.dtype):
            return str(v).replace("torch.", "")
        return str(v)

    return "-".join(f"{k}={short(v)}" for k, v in cfg.items())


def known_bug(reason: str, raises=None):
    """xfail(strict=True) for a bug found in spectro (reported to the lead). When the bug is fixed the test XPASSes,
    which fails the run, so the marker must be removed then. `raises`: the failure the bug causes (any other
    exception still fails the test)."""
    return pytest.mark.xfail(strict=True, reason=f"spectro bug: {reason}", raises=raises)


def autocast_model(device, dtype, name, T=3000, n_fft=256):
    """A near-identity float32 Linear over T samples, its input x and a float32 Hann window, for autocast tests:
    under torch.autocast(device, dtype) the Linear's output arrives in `dtype` (returns (lin, x, w))."""
    # (torch 2.3 has no torch.amp.is_autocast_available; its CPU autocast takes float16.)
    available = getattr(torch.amp, "is_autocast_available", lambda device: True)
    if device == "cpu" and dtype == torch.float16 and not available("cpu"):
        import pytest

        pytest.skip("no CPU autocast")
    gen = generator(seed_of(name, dtype))
    lin = torch.nn.Linear(T, T, bias=False).to(device)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(T) + 0.01 * torch.randn(T, T, generator=gen))
    x = torch.randn(2, T, generator=gen).to(device)
    return lin, x, torch.hann_window(n_fft, device=device)


def assert_reached_parameters(lin):
    """After loss.backward(): a finite, non-zero float32 gradient on the Linear's weight."""
    g = lin.weight.grad
    assert g is not None and g.dtype == torch.float32
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def assert_graph_step_matches_eager(device, loss_of, noise, lr: float, replays: int = 3, param_atol: float = 1e-6):
    """A training step (forward, backward, SGD step) of a small Conv1d generator on `noise` (B, 1, T), with the loss
    `loss_of(prediction)`, captured in one CUDA graph and replayed: the losses and final parameters equal those of the
    same steps run eagerly on a twin model (one rounding apart: cuDNN may pick another convolution algorithm)."""
    gen = torch.nn.Conv1d(1, 1, 9, padding=4).to(device)
    eager = torch.nn.Conv1d(1, 1, 9, padding=4).to(device)
    eager.load_state_dict(gen.state_dict())

    def step(model, opt):
        opt.zero_grad(set_to_none=False)
        loss = loss_of(model(noise))
        loss.backward()
        opt.step()
        return loss

    opt, opt_eager = torch.optim.SGD(gen.parameters(), lr=lr), torch.optim.SGD(eager.parameters(), lr=lr)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):  # warm-up (also the eager model's first two steps)
            step(gen, opt)
            step(eager, opt_eager)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_loss = step(gen, opt)
    for _ in range(replays):
        graph.replay()
        ref = step(eager, opt_eager)
        torch.cuda.synchronize()
        torch.testing.assert_close(static_loss, ref, rtol=1e-5, atol=0)
    for a, b in zip(gen.parameters(), eager.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=param_atol)
