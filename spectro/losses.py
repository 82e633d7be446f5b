"""Spectral losses on spectro.stft: multi-resolution STFT losses (auraloss) and multi-scale mel losses (DAC, BigVGAN,
HiFi-GAN, Vocos), as modules and functions.

Which anchor maps to which class
--------------------------------
============================================================  ==========================================================
anchor                                                        spectro
============================================================  ==========================================================
``auraloss.freq.STFTLoss`` (auraloss 0.4)                     :class:`STFTLoss` / :func:`stft_loss`
``auraloss.freq.MultiResolutionSTFTLoss`` (auraloss 0.4)      :class:`MultiResolutionSTFTLoss` /
                                                              :func:`multi_resolution_stft_loss`
``auraloss.freq.MelSTFTLoss``                                 :class:`STFTLoss` with ``scale="mel"``
``dac.nn.loss.MelSpectrogramLoss`` (DAC's ``conf/base.yml``)  :class:`MelSpectrogramLoss` / :func:`mel_spectrogram_loss`
BigVGAN ``loss.MultiScaleMelSpectrogramLoss``                 :class:`MelSpectrogramLoss` (same defaults)
HiFi-GAN / BigVGAN-v1 mel L1 (``mel_spectrogram`` + L1 x 45)  :class:`MelSpectrogramLoss`, one scale, ``padding="same"``
Vocos ``MelSpecReconstructionLoss``                           :class:`MelSpectrogramLoss`, 1 scale, ``mel_scale="htk"``
Parallel WaveGAN ``MultiResolutionSTFTLoss`` (returns         :class:`spectro.MultiResolutionSTFTLoss` (unchanged)
``(sc, mag)``)
============================================================  ==========================================================

Implementation. The common multi-resolution case (spectral convergence + log and linear magnitude distances over
several resolutions, ``reduction`` "mean" or "sum", optionally after perceptual weighting) is one C++ op,
``spectro::stft_loss`` (:func:`_mrstft_op`), over one ``spectro::stft_loss_sums`` per resolution: on CUDA one kernel
transforms both signals together (x + i y, one complex FFT per frame), forms the clamped magnitudes and the four
sums the terms need, and never writes a spectrum; one more kernel reduces every resolution's sums into the terms
and the loss. Its backward (one autograd node) is one kernel per resolution (both spectra recomputed, the magnitude
gradients formed per bin) plus the analysis' adjoint. On the CPU the op is
its composite definition (spectro.stft's analysis + ATen ops). The other terms (``w_phs``, ``scale="mel"``,
``scale_invariance``, ``reduction="none"``) take the general composite path :func:`_general_terms`. The mel loss
against a target signal is one C++ op, ``spectro::mel_loss`` (:func:`_mel_loss_op`): ``spectro::mel_analysis`` per
scale and signal (one kernel each on CUDA) and ATen's means; with only the prediction requiring grad its backward
is, per scale, one mel kernel that forms the L1 loss's gradient itself, plus the adjoint. Half-precision
inputs (e.g. under ``torch.autocast``) are computed in float32 with autocast disabled inside the loss; gradients
come back in the input's dtype.

Determinism: nothing here uses floating-point atomics, index_add or scatter. The fused loss kernel reduces each
block's terms in a fixed order and the blocks' partial sums in one ATen reduction; spectro.stft / mel_analysis and
their backwards are gathers; ATen's elementwise ops and reductions are deterministic for a given shape. The same
inputs give bitwise the same loss and gradient on every run. (``perceptual_weighting``'s FIR is a cuDNN ``conv1d``,
whose backward is deterministic only with ``torch.backends.cudnn.deterministic = True``; the ``padding="same"``
reflect padding is built from flips and a cat, not ``F.pad(mode="reflect")``, whose CUDA backward accumulates with
atomicAdd.)
"""
from __future__ import annotations

import contextlib
import functools
import math
import operator
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch

from . import mel as _mel
from .functional import _is_compiling
from .functional import stft as _stft

__all__ = [
    "STFTLoss",
    "MultiResolutionSTFTLoss",
    "MelSpectrogramLoss",
    "stft_loss",
    "multi_resolution_stft_loss",
    "mel_spectrogram_loss",
]

_HALF = (torch.float16, torch.bfloat16)
LN10 = math.log(10)
_REDUCTIONS = ("mean", "sum", "none")
_OUTPUTS = ("loss", "full")
_DISTANCES = ("L1", "L2")

WindowArg = Union[str, Callable[[int], torch.Tensor]]


# --------------------------------------------------------------------------------------------------------------
# Argument checks (ValueError naming the argument).
def _is_int(v) -> bool:
    """A Python int or an integer scalar of numpy / torch (anything with __index__ but bool)."""
    if isinstance(v, bool) or isinstance(v, float):
        return False
    try:
        operator.index(v)
    except TypeError:
        return False
    return True


def _check_geometry(fn: str, fft_sizes, hop_sizes, win_lengths, names=("fft_sizes", "hop_sizes", "win_lengths")):
    """Lists of resolutions: equal lengths, at least one, positive ints, win_length <= fft_size."""
    lists = [list(v) for v in (fft_sizes, hop_sizes, win_lengths)]
    if len({len(v) for v in lists}) != 1:
        raise ValueError(f"{fn}: {names[0]}, {names[1]} and {names[2]} must have the same length, but got "
                         f"{len(lists[0])}, {len(lists[1])} and {len(lists[2])}")
    if len(lists[0]) == 0:
        raise ValueError(f"{fn}: {names[0]} must hold at least one resolution")
    single = names[0] == "fft_size"  # STFTLoss: scalar arguments, no index in the messages
    for i, (n, h, w) in enumerate(zip(*lists)):
        at = "" if single else f"[{i}]"
        for name, v in zip(names, (n, h, w)):
            if not _is_int(v) or v <= 0:
                raise ValueError(f"{fn}: {name}{at} must be a positive int, but got {v!r}")
        if w > n:
            raise ValueError(f"{fn}: {names[2]}{at}={w} is longer than its FFT size {names[0]}{at}={n}")
    return [tuple(int(v) for v in r) for r in zip(*lists)]


def _check_choice(fn: str, name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{fn}: {name} must be one of {', '.join(map(repr, allowed))}, but got {value!r}")


def _check_pair(fn: str, x, y, xname: str = "input", yname: str = "target") -> None:
    for name, t in ((xname, x), (yname, y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{fn}: {name} must be a Tensor, but got {type(t).__name__}")
        if t.dim() == 0:
            raise ValueError(f"{fn}: {name} must have a time dimension (..., T), but got a 0-d tensor")
    if x.shape != y.shape:
        raise ValueError(f"{fn}: {xname} and {yname} must have the same shape, but got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")


def _check_length(fn: str, name: str, T: int, n_fft: int, what: str, pad: int) -> None:
    """Reflect padding by `pad` needs pad < T (torch.nn.functional.pad's rule), and the padded signal one frame."""
    if pad >= T:
        raise ValueError(f"{fn}: {name} has {T} samples, too short for {what}: reflect padding by {pad} needs at "
                         f"least {pad + 1} samples")
    if T + 2 * pad < n_fft:
        raise ValueError(f"{fn}: {name} has {T} samples, too short for {what}: the padded signal ({T + 2 * pad}) is "
                         f"shorter than one frame ({n_fft})")


def _shortest_length(n_fft: int, pad: int) -> int:
    """The fewest samples _check_length accepts for (n_fft, pad)."""
    return max(pad + 1, n_fft - 2 * pad)


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float32 if t.dtype in _HALF else t.dtype


def _to_dtype(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """t.to(dtype), without the call where t has that dtype already (the usual case, on every call of a loss)."""
    return t if t.dtype == dtype else t.to(dtype)


# The losses run their ops in float32 / float64 with autocast disabled. Where autocast is already off for the inputs'
# device (the usual case) they enter no context: torch.autocast's entry and exit cost host time on every call.
_AUTOCAST_ALREADY_OFF = contextlib.nullcontext()
_IS_AUTOCAST_ENABLED_TAKES_DEVICE = torch.torch_version.TorchVersion(torch.__version__) >= (2, 4)


def _is_autocast_enabled(device_type: str) -> bool:
    """torch.is_autocast_enabled(device_type), for "cpu" or "cuda" (torch 2.3 has one function per device type)."""
    if _IS_AUTOCAST_ENABLED_TAKES_DEVICE:
        return torch.is_autocast_enabled(device_type)
    return torch.is_autocast_enabled() if device_type == "cuda" else torch.is_autocast_cpu_enabled()


def _autocast_disabled(device_type: str):
    """The context the losses call their ops in: ``torch.autocast(device_type, enabled=False)``, or a no-op one where
    autocast is known to be off for CPU / CUDA tensors already. Other device types always get torch.autocast, and so
    does tracing by torch.compile / torch.export (the context is traced once, not entered per call)."""
    if device_type in ("cpu", "cuda") and not _is_compiling() and not _is_autocast_enabled(device_type):
        return _AUTOCAST_ALREADY_OFF
    return torch.autocast(device_type, enabled=False)


# --------------------------------------------------------------------------------------------------------------
# Windows and filterbanks.
def _make_window(window: WindowArg, win_length: int) -> torch.Tensor:
    """auraloss's window: ``getattr(torch, name)(win_length)`` (periodic where torch's function has the choice), in
    float32; or a callable of win_length."""
    if isinstance(window, str):
        fn = getattr(torch, window, None)
        if fn is None or not callable(fn) or not window.endswith("_window"):
            raise ValueError(f"window must name a torch window function (e.g. 'hann_window'), but got {window!r}")
        w = fn(win_length, dtype=torch.float32)
    elif callable(window):
        w = window(win_length)
    else:
        raise ValueError(f"window must be a torch window function name or a callable, but got {window!r}")
    if not isinstance(w, torch.Tensor) or w.shape != (win_length,):
        raise ValueError(f"window must give a 1D tensor of size win_length={win_length}, but got {w!r:.80}")
    return w.detach().to(torch.float32)


def _periodic_hann64(n: int) -> torch.Tensor:
    """The periodic Hann window computed in float64 (scipy.signal.get_window('hann', n), which audiotools / DAC /
    BigVGAN convert to float32)."""
    k = torch.arange(n, dtype=torch.float64)
    return 0.5 - 0.5 * torch.cos(2 * math.pi * k / n)


def _mel_filters(sample_rate, n_fft, n_mels, f_min=0.0, f_max=None, htk=False, norm="slaney") -> torch.Tensor:
    """librosa's filterbank ``(n_mels, n_fft // 2 + 1)`` in float32: :func:`spectro.mel.mel_filters`."""
    if norm not in ("slaney", None):
        raise ValueError(f"mel_norm must be 'slaney' or None, but got {norm!r}")
    return _mel.mel_filters(sample_rate, n_fft, n_mels, f_min, f_max, htk, norm)


@functools.lru_cache(maxsize=None)
def _a_weighting_taps_np(sample_rate: float, ntaps: int = 101):
    """auraloss's perceptual weighting (FIRFilter 'aw'): the analog A-weighting curve (IEC 61672 poles, +1.9997 dB
    at 1 kHz) made digital by the bilinear transform, its magnitude response sampled at 512 frequencies, and a
    least-squares linear-phase FIR of ``ntaps`` taps fitted to it; float32 taps."""
    import numpy as np
    import scipy.signal

    w1, w2, w3, w4 = (2 * np.pi * f for f in (20.598997, 107.65265, 737.86223, 12194.217))
    gain = w4 ** 2 * 10 ** (1.9997 / 20)
    den = np.polymul([1, 2 * w4, w4 ** 2], [1, 2 * w1, w1 ** 2])  # (s + w4)^2 (s + w1)^2 (s + w3) (s + w2)
    den = np.polymul(np.polymul(den, [1, w3]), [1, w2])
    b, a = scipy.signal.bilinear([gain, 0, 0, 0, 0], den, fs=sample_rate)
    freqs, resp = scipy.signal.freqz(b, a, worN=512, fs=sample_rate)
    return scipy.signal.firls(ntaps, freqs, np.abs(resp), fs=sample_rate).astype(np.float32)


def _a_weighting_taps(sample_rate) -> torch.Tensor:
    return torch.from_numpy(_a_weighting_taps_np(float(sample_rate)).copy())


def _prefilter(x2d: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """(N, T) signals through the FIR (zero padding ntaps // 2 on each side: same length)."""
    k = taps.to(x2d.dtype).view(1, 1, -1)
    return torch.nn.functional.conv1d(x2d.unsqueeze(1), k, padding=k.shape[-1] // 2).squeeze(1)


# --------------------------------------------------------------------------------------------------------------
# STFT magnitudes and the loss terms.
def _spectrum(x2d: torch.Tensor, n_fft: int, hop: int, win_length: int, window: torch.Tensor) -> torch.Tensor:
    """torch.stft's defaults as auraloss calls it: centred frames, reflect padding, onesided, complex."""
    return _stft(x2d, n_fft, hop, win_length, window, center=True, pad_mode="reflect", return_complex=True)


def _magnitude(spec: torch.Tensor, eps: float) -> torch.Tensor:
    """auraloss: sqrt(max(re^2 + im^2, eps)). (Real ops on view_as_real: no complex elementwise op in the forward or
    the backward, which inductor cannot generate code for on CUDA.)"""
    return torch.view_as_real(spec).square().sum(-1).clamp(min=eps).sqrt()


def _distance(a: torch.Tensor, b: torch.Tensor, distance: str, reduction: str) -> torch.Tensor:
    if distance == "L1":
        return torch.nn.functional.l1_loss(a, b, reduction=reduction)
    return torch.nn.functional.mse_loss(a, b, reduction=reduction)


def _terms_from_magnitudes(xm, ym, want_sc, want_log, want_lin, distance, reduction):
    sc = torch.linalg.vector_norm(ym - xm) / torch.linalg.vector_norm(ym) if want_sc else None
    log = _distance(xm.log(), ym.log(), distance, reduction) if want_log else None
    lin = _distance(xm, ym, distance, reduction) if want_lin else None
    return sc, log, lin


def _padded_window(window: torch.Tensor, n_fft: int) -> torch.Tensor:
    """torch.stft's window of win_length < n_fft: zero-padded on both sides, centred ((n_fft - win_length) // 2
    zeros on the left)."""
    left = (n_fft - window.shape[-1]) // 2
    return torch.nn.functional.pad(window, (left, n_fft - window.shape[-1] - left))


# Padded windows in the op's dtype, per source window tensor (the modules' buffers): kept with a reference to their
# source, so an entry is reused only for that very tensor, unmodified (its _version).
_WINDOW_CACHE: "dict[tuple, tuple]" = {}


def _loss_window(window: torch.Tensor, n_fft: int, dtype: torch.dtype) -> torch.Tensor:
    if _is_compiling() or window.is_inference():  # (traced once / an inference tensor has no version: no cache)
        w = window.to(dtype)
        return _padded_window(w, n_fft) if w.shape[-1] < n_fft else w
    key = (id(window), n_fft, dtype)
    hit = _WINDOW_CACHE.get(key)
    if hit is not None and hit[0] is window and hit[1] == window._version:
        return hit[2]
    # Built with inference mode off: kept from a call in inference mode (a validation step), an inference tensor
    # would make the next call that records gradients fail to save it for backward.
    with torch.inference_mode(False):
        w = window.to(dtype)
        w = _padded_window(w, n_fft) if w.shape[-1] < n_fft else w
    if not window.requires_grad:
        if len(_WINDOW_CACHE) >= 64:
            _WINDOW_CACHE.clear()
        _WINDOW_CACHE[key] = (window, window._version, w)
    return w


def _mrstft_op(x2d: torch.Tensor, y2d: torch.Tensor, geometries: Sequence[Tuple[int, int, int]],
               windows: Sequence[torch.Tensor], eps: float, weights: Tuple[float, float, float], distance: str,
               reduction: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """THE common path, one op (``spectro::stft_loss``, C++): for each resolution ``(n_fft, hop, win_length)`` with its
    window, from the clamped magnitudes ``sqrt(max(|X|^2, eps))`` of both (N, T) signals,

    * spectral convergence ``||Y - X||_F / ||Y||_F`` (over the whole batch),
    * the log-magnitude distance ``reduce(d(ln X, ln Y))`` and the linear one ``reduce(d(X, Y))``, d = |.| (L1) or
      (.)^2 (L2), reduce = mean or sum over every bin of every frame of every signal,

    from the four sums of one ``spectro::stft_loss_sums`` per resolution (on CUDA one kernel: both signals transformed
    together, the spectra never leave shared memory; its backward one kernel plus the analysis' adjoint). Returns
    ``(loss, terms)``: the mean over resolutions of ``weights . (sc, log_mag, lin_mag)``, and those terms ``[R, 3]`` (a
    term of weight 0 is not computed and reads 0).
    """
    # The op takes one real dtype: float64 if either signal is, else float32 (half precision is computed in float32;
    # its gradient comes back in its own dtype through the conversion).
    dtype = torch.float64 if torch.float64 in (x2d.dtype, y2d.dtype) else torch.float32
    x2d, y2d = _to_dtype(x2d, dtype), _to_dtype(y2d, dtype)
    ws = [_loss_window(w, n_fft, dtype) for (n_fft, _, _), w in zip(geometries, windows)]
    return torch.ops.spectro.stft_loss(x2d, y2d, ws, [g[0] for g in geometries], [g[1] for g in geometries],
                                       float(eps), distance, reduction, [float(w) for w in weights])


def _general_terms(x2d, y2d, geometry, window, eps, fb, scale_invariance, want_sc, want_log, want_lin, want_phs,
                   distance, reduction):
    """One resolution of the general composite path: mel / chroma projection (``fb``), scale invariance, phase."""
    n_fft, hop, win_length = geometry
    xs = _spectrum(x2d, n_fft, hop, win_length, window)
    ys = _spectrum(y2d, n_fft, hop, win_length, window)
    xm, ym = _magnitude(xs, eps), _magnitude(ys, eps)
    if fb is not None:
        fb = fb.to(xm.dtype)
        xm, ym = torch.matmul(fb, xm), torch.matmul(fb, ym)
    if scale_invariance:
        # The optimal gain of each target signal: alpha = <X, Y> / <Y, Y> over its bins and frames. (auraloss 0.4
        # broadcasts alpha against the wrong axes, which gives this only for a batch of one signal.)
        alpha = (xm * ym).sum((-2, -1)) / ym.square().sum((-2, -1))
        ym = ym * alpha[:, None, None]
    sc, log, lin = _terms_from_magnitudes(xm, ym, want_sc, want_log, want_lin, distance, reduction)
    phs = torch.nn.functional.mse_loss(xs.angle(), ys.angle()) if want_phs else None
    return sc, log, lin, phs


# --------------------------------------------------------------------------------------------------------------
# The multi-resolution STFT loss (auraloss 0.4 semantics).
class _Config:
    """The validated arguments shared by the modules and the functions."""

    def __init__(self, fn, geometries, window, w_sc, w_log_mag, w_lin_mag, w_phs, sample_rate, scale, n_bins,
                 perceptual_weighting, scale_invariance, eps, output, reduction, mag_distance):
        _check_choice(fn, "output", output, _OUTPUTS)
        _check_choice(fn, "reduction", reduction, _REDUCTIONS)
        _check_choice(fn, "mag_distance", mag_distance, _DISTANCES)
        if scale is not None:
            if scale == "chroma":
                raise ValueError(f"{fn}: scale='chroma' is not supported (auraloss 0.4 cannot build it either: its "
                                 "chroma filterbank is a numpy array that register_buffer rejects)")
            _check_choice(fn, "scale", scale, (None, "mel"))
            if sample_rate is None:
                raise ValueError(f"{fn}: scale='mel' needs sample_rate")
            if not _is_int(n_bins) or n_bins <= 0:
                raise ValueError(f"{fn}: scale='mel' needs n_bins, a positive int, but got {n_bins!r}")
            for n_fft, _, _ in geometries:
                if n_bins > n_fft:
                    raise ValueError(f"{fn}: n_bins={n_bins} must be <= every FFT size, but got fft size {n_fft}")
        if perceptual_weighting and sample_rate is None:
            raise ValueError(f"{fn}: perceptual_weighting=True needs sample_rate")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"{fn}: eps must be a positive float, but got {eps!r}")
        self.fn, self.geometries, self.window = fn, geometries, window
        self.w_sc, self.w_log_mag, self.w_lin_mag, self.w_phs = w_sc, w_log_mag, w_lin_mag, w_phs
        self.sample_rate, self.scale, self.n_bins = sample_rate, scale, n_bins
        self.perceptual_weighting, self.scale_invariance = bool(perceptual_weighting), bool(scale_invariance)
        self.eps, self.output, self.reduction, self.mag_distance = float(eps), output, reduction, mag_distance
        # Every resolution pads by n_fft // 2 (centred frames): signals of at least min_length samples pass its check.
        self.min_length = max(_shortest_length(n_fft, n_fft // 2) for n_fft, _, _ in geometries)

    @property
    def common(self) -> bool:
        """Whether the terms go through _mrstft_op (the fused path)."""
        return (self.scale is None and not self.scale_invariance and not self.w_phs
                and self.reduction in ("mean", "sum"))


def _mrstft_forward(cfg: _Config, x: torch.Tensor, y: torch.Tensor, windows: Sequence[torch.Tensor],
                    fbs: Optional[Sequence[torch.Tensor]], taps: Optional[torch.Tensor], multi: bool):
    """auraloss's STFTLoss (multi=False, one resolution) or MultiResolutionSTFTLoss forward."""
    _check_pair(cfg.fn, x, y)
    T = x.shape[-1]
    if T < cfg.min_length:  # (too short for some resolution: the checks, which format their messages, name it)
        for i, (n_fft, _, _) in enumerate(cfg.geometries):
            what = f"fft_sizes[{i}]={n_fft}" if multi else f"fft_size={n_fft}"
            _check_length(cfg.fn, "input", T, n_fft, what, n_fft // 2)
    dtype = _compute_dtype(x)
    # auraloss moves its window to the input's device on every call (a module left on the CPU still works).
    device = x.device
    windows = [w if w.device == device else w.to(device) for w in windows]
    with _autocast_disabled(device.type):  # the loss runs in float32 / float64
        x2d = _to_dtype(x.reshape(-1, T), dtype)
        y2d = _to_dtype(y.reshape(-1, T), dtype)
        if taps is not None:
            x2d, y2d = _prefilter(x2d, taps), _prefilter(y2d, taps)
        want = (bool(cfg.w_sc), bool(cfg.w_log_mag), bool(cfg.w_lin_mag))
        if cfg.common:
            total, t = _mrstft_op(x2d, y2d, cfg.geometries, windows, cfg.eps,
                                  (cfg.w_sc, cfg.w_log_mag, cfg.w_lin_mag), cfg.mag_distance, cfg.reduction)
            if cfg.output == "loss":
                return total
            terms = [tuple(t[r, k] if want[k] else None for k in range(3)) + (None,) for r in range(t.shape[0])]
            columns = [[0.0 if v is None else v for v in col] for col in zip(*terms)]
            return (total,) + (tuple(c[0] for c in columns) if not multi else tuple(columns))
        else:
            terms = [_general_terms(x2d, y2d, g, w, cfg.eps, None if fbs is None else fbs[i], cfg.scale_invariance,
                                    *want, bool(cfg.w_phs), cfg.mag_distance, cfg.reduction)
                     for i, (g, w) in enumerate(zip(cfg.geometries, windows))]
        weights = (cfg.w_sc, cfg.w_log_mag, cfg.w_lin_mag, cfg.w_phs)
        losses, columns = [], [[], [], [], []]
        for r, t in enumerate(terms):
            loss = None
            for k, (w, v) in enumerate(zip(weights, t)):
                columns[k].append(0.0 if v is None else v)  # auraloss returns a float 0.0 for a term weighted 0
                if v is not None:
                    loss = w * v if loss is None else loss + w * v
            if loss is None:
                loss = x2d.new_zeros(())
            # auraloss's apply_reduction after the weighted sum (a no-op unless a term was kept unreduced).
            if loss.dim() > 0 and cfg.reduction == "mean":
                loss = loss.mean()
            elif loss.dim() > 0 and cfg.reduction == "sum":
                loss = loss.sum()
            losses.append(loss)
        if not multi:
            total = losses[0]
            if cfg.output == "loss":
                return total
            return (total,) + tuple(c[0] for c in columns)
        try:
            torch.broadcast_shapes(*(l.shape for l in losses))
        except RuntimeError:
            raise ValueError(f"{cfg.fn}: reduction='none' keeps one loss per bin and frame, whose shapes differ "
                             f"between resolutions ({', '.join(str(tuple(l.shape)) for l in losses)}), so they "
                             "cannot be added (auraloss fails here too): use one resolution, or reduction 'mean' / "
                             "'sum'") from None
        total = losses[0]
        for l in losses[1:]:
            total = total + l
        total = total / len(losses)
        if cfg.output == "loss":
            return total
        return (total,) + tuple(columns)


def _fbs_for(cfg: _Config) -> Optional[List[torch.Tensor]]:
    if cfg.scale != "mel":
        return None
    return [_mel_filters(cfg.sample_rate, n_fft, cfg.n_bins) for n_fft, _, _ in cfg.geometries]


_DOC_ARGS = """
    Args (auraloss 0.4's, same defaults):
        fft_size(s), hop_size(s), win_length(s): the resolution(s); ``win_length <= fft_size``, positive hops.
        window: name of a torch window function, ``getattr(torch, window)(win_length)`` (default
            ``"hann_window"``, periodic), or (spectro only) a callable of ``win_length``. Frames are centred with
            reflect padding (``torch.stft``'s defaults): signals need more than ``fft_size // 2`` samples.
        w_sc: weight of spectral convergence ``||Y - X||_F / ||Y||_F`` (Frobenius norms over the whole batch).
            Default 1.
        w_log_mag: weight of ``d(ln X, ln Y)`` (d from ``mag_distance``, reduced by ``reduction``). Default 1.
        w_lin_mag: weight of ``d(X, Y)``. Default 0.
        w_phs: weight of ``mse(angle(X), angle(Y))`` (always a mean, as auraloss). Default 0. Composite path.
        sample_rate: needed by ``scale="mel"`` and ``perceptual_weighting``.
        scale: None or ``"mel"``: project the magnitudes by librosa's slaney mel filterbank
            (``librosa.filters.mel(sr=sample_rate, n_fft=fft_size, n_mels=n_bins)``) first. Composite path.
            ``"chroma"`` raises (auraloss 0.4 cannot construct it).
        n_bins: the number of mel bands with ``scale="mel"``.
        perceptual_weighting: filter both signals by auraloss's 101-tap A-weighting FIR first (needs scipy).
        scale_invariance: scale each target spectrogram by its optimal gain ``<X, Y> / <Y, Y>`` first (per signal;
            auraloss 0.4 broadcasts this wrongly for more than one signal, so they agree for one signal). Composite.
        eps: magnitudes are ``sqrt(max(re^2 + im^2, eps))``. Default 1e-8.
        output: ``"loss"`` (default) or ``"full"`` (see Returns).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-bin log / lin terms; the spectral
            convergence and phase terms stay scalars and broadcast), applied to the magnitude distances.
        mag_distance: ``"L1"`` (default) or ``"L2"`` (squared error) for the magnitude distances.
        device: accepted for auraloss compatibility: moves the filterbank (and window) buffers there.
"""


class STFTLoss(torch.nn.Module):
    __doc__ = """auraloss 0.4's ``auraloss.freq.STFTLoss`` on spectro.stft (same arguments, defaults, results and
    state_dict keys). ``forward(input, target)`` on ``(..., T)`` signals (auraloss: ``(B, C, T)``); every leading
    dimension is batch.
    """ + _DOC_ARGS + """
    Returns:
        ``output="loss"``: ``w_sc * sc + w_log_mag * log_mag + w_lin_mag * lin_mag + w_phs * phs``.
        ``output="full"``: ``(loss, sc, log_mag, lin_mag, phs)``, a term weighted 0 as the float ``0.0`` (as auraloss).
    """

    def __init__(self, fft_size: int = 1024, hop_size: int = 256, win_length: int = 1024,
                 window: WindowArg = "hann_window", w_sc: float = 1.0, w_log_mag: float = 1.0,
                 w_lin_mag: float = 0.0, w_phs: float = 0.0, sample_rate: Optional[float] = None,
                 scale: Optional[str] = None, n_bins: Optional[int] = None, perceptual_weighting: bool = False,
                 scale_invariance: bool = False, eps: float = 1e-8, output: str = "loss", reduction: str = "mean",
                 mag_distance: str = "L1", device: Any = None):
        super().__init__()
        geometries = _check_geometry("STFTLoss", [fft_size], [hop_size], [win_length],
                                     ("fft_size", "hop_size", "win_length"))
        self._cfg = _Config("STFTLoss", geometries, window, w_sc, w_log_mag, w_lin_mag, w_phs, sample_rate, scale,
                            n_bins, perceptual_weighting, scale_invariance, eps, output, reduction, mag_distance)
        self.fft_size, self.hop_size, self.win_length = geometries[0]
        for k in ("w_sc", "w_log_mag", "w_lin_mag", "w_phs", "sample_rate", "scale", "n_bins",
                  "perceptual_weighting", "scale_invariance", "eps", "output", "reduction", "mag_distance"):
            setattr(self, k, getattr(self._cfg, k))
        self.device = device
        # auraloss keeps the window as a plain attribute (not in its state_dict): a non-persistent buffer here.
        self.register_buffer("window", _make_window(window, self.win_length), persistent=False)
        fbs = _fbs_for(self._cfg)
        if fbs is not None:  # auraloss's persistent buffer "fb", (1, n_bins, fft_size // 2 + 1)
            self.register_buffer("fb", fbs[0].unsqueeze(0))
        if self._cfg.perceptual_weighting:
            self.register_buffer("aw_taps", _a_weighting_taps(sample_rate), persistent=False)
        if device is not None:
            self.to(device)

    def _constants(self):
        """(window, filterbank or None, perceptual weighting's taps or None): the buffers as they are now (.to() /
        .double() replace them), read from _buffers (nn.Module's attribute lookup costs host time on every call, and
        an absent buffer an AttributeError)."""
        buffers = self._buffers
        fb = buffers["fb"][0] if self._cfg.scale is not None else None
        return buffers["window"], fb, buffers.get("aw_taps")

    def forward(self, input: torch.Tensor, target: torch.Tensor):
        window, fb, taps = self._constants()
        return _mrstft_forward(self._cfg, input, target, [window], None if fb is None else [fb], taps, multi=False)

    def extra_repr(self) -> str:
        return (f"fft_size={self.fft_size}, hop_size={self.hop_size}, win_length={self.win_length}, "
                f"w_sc={self.w_sc}, w_log_mag={self.w_log_mag}, w_lin_mag={self.w_lin_mag}, w_phs={self.w_phs}, "
                f"reduction={self.reduction!r}")


class MultiResolutionSTFTLoss(torch.nn.Module):
    __doc__ = """auraloss 0.4's ``auraloss.freq.MultiResolutionSTFTLoss`` on spectro.stft: the mean over resolutions of
    :class:`STFTLoss` (same arguments, defaults, results and state_dict keys: ``stft_losses.{i}``).

    Not Parallel WaveGAN's loss (which returns ``(spectral_convergence, log_magnitude)``, with eps 1e-7): that is
    :class:`spectro.MultiResolutionSTFTLoss`.

    ``forward(input, target)`` on ``(..., T)`` signals (auraloss: ``(B, C, T)``). The common case (no ``w_phs``, no
    ``scale``, no ``scale_invariance``, reduction mean / sum) runs each resolution as one ``spectro::stft_loss_sums``
    call (on CUDA one kernel for both signals forward, one plus the analysis' adjoint backward: no spectrum is
    stored); the rest is composite (spectro.stft and ATen ops).
    """ + _DOC_ARGS + """
    Returns:
        ``output="loss"``: the loss averaged over resolutions.
        ``output="full"``: ``(loss, [sc...], [log_mag...], [lin_mag...], [phs...])``, one entry per resolution,
        terms weighted 0 as the float ``0.0`` (as auraloss).
    """

    def __init__(self, fft_sizes: Sequence[int] = (1024, 2048, 512), hop_sizes: Sequence[int] = (120, 240, 50),
                 win_lengths: Sequence[int] = (600, 1200, 240), window: WindowArg = "hann_window",
                 w_sc: float = 1.0, w_log_mag: float = 1.0, w_lin_mag: float = 0.0, w_phs: float = 0.0,
                 sample_rate: Optional[float] = None, scale: Optional[str] = None, n_bins: Optional[int] = None,
                 perceptual_weighting: bool = False, scale_invariance: bool = False, **kwargs):
        super().__init__()
        allowed = {"eps", "output", "reduction", "mag_distance", "device"}
        unknown = set(kwargs) - allowed
        if unknown:  # auraloss passes **kwargs to STFTLoss, which raises TypeError for unknown names
            raise TypeError(f"MultiResolutionSTFTLoss got unexpected keyword argument(s) {sorted(unknown)}")
        geometries = _check_geometry("MultiResolutionSTFTLoss", fft_sizes, hop_sizes, win_lengths)
        self.fft_sizes = [g[0] for g in geometries]
        self.hop_sizes = [g[1] for g in geometries]
        self.win_lengths = [g[2] for g in geometries]
        self.stft_losses = torch.nn.ModuleList(
            STFTLoss(n, h, w, window, w_sc, w_log_mag, w_lin_mag, w_phs, sample_rate, scale, n_bins,
                     perceptual_weighting, scale_invariance, **kwargs) for n, h, w in geometries)
        first = self.stft_losses[0]._cfg
        self._cfg = _Config("MultiResolutionSTFTLoss", geometries, window, w_sc, w_log_mag, w_lin_mag, w_phs,
                            sample_rate, scale, n_bins, perceptual_weighting, scale_invariance, first.eps,
                            first.output, first.reduction, first.mag_distance)

    def forward(self, input: torch.Tensor, target: torch.Tensor):
        windows, fbs, taps = zip(*[l._constants() for l in self.stft_losses])
        return _mrstft_forward(self._cfg, input, target, windows, fbs if self._cfg.scale is not None else None,
                               taps[0], multi=True)


def _functional_forward(fn, x, y, geometries, window, kw, multi):
    cfg = _Config(fn, geometries, window, kw["w_sc"], kw["w_log_mag"], kw["w_lin_mag"], kw["w_phs"],
                  kw["sample_rate"], kw["scale"], kw["n_bins"], kw["perceptual_weighting"], kw["scale_invariance"],
                  kw["eps"], kw["output"], kw["reduction"], kw["mag_distance"])
    if not isinstance(x, torch.Tensor):
        _check_pair(fn, x, y)
    dev = x.device
    windows = [_make_window(window, w).to(dev) for _, _, w in geometries]
    fbs = _fbs_for(cfg)
    fbs = None if fbs is None else [f.to(dev) for f in fbs]
    taps = _a_weighting_taps(cfg.sample_rate).to(dev) if cfg.perceptual_weighting else None
    return _mrstft_forward(cfg, x, y, windows, fbs, taps, multi)


def stft_loss(input: torch.Tensor, target: torch.Tensor, fft_size: int = 1024, hop_size: int = 256,
              win_length: int = 1024, window: WindowArg = "hann_window", w_sc: float = 1.0, w_log_mag: float = 1.0,
              w_lin_mag: float = 0.0, w_phs: float = 0.0, sample_rate: Optional[float] = None,
              scale: Optional[str] = None, n_bins: Optional[int] = None, perceptual_weighting: bool = False,
              scale_invariance: bool = False, eps: float = 1e-8, output: str = "loss", reduction: str = "mean",
              mag_distance: str = "L1"):
    """:class:`STFTLoss` as a function (``auraloss.freq.STFTLoss(...)(input, target)``). Builds the window (and
    filterbank) on every call: under torch.compile prefer the module."""
    geometries = _check_geometry("stft_loss", [fft_size], [hop_size], [win_length],
                                 ("fft_size", "hop_size", "win_length"))
    # (explicitly, not locals(): torch.compile traces this on every supported torch)
    kw = dict(w_sc=w_sc, w_log_mag=w_log_mag, w_lin_mag=w_lin_mag, w_phs=w_phs, sample_rate=sample_rate, scale=scale,
              n_bins=n_bins, perceptual_weighting=perceptual_weighting, scale_invariance=scale_invariance, eps=eps,
              output=output, reduction=reduction, mag_distance=mag_distance)
    return _functional_forward("stft_loss", input, target, geometries, window, kw, multi=False)


def multi_resolution_stft_loss(input: torch.Tensor, target: torch.Tensor,
                               fft_sizes: Sequence[int] = (1024, 2048, 512),
                               hop_sizes: Sequence[int] = (120, 240, 50),
                               win_lengths: Sequence[int] = (600, 1200, 240), window: WindowArg = "hann_window",
                               w_sc: float = 1.0, w_log_mag: float = 1.0, w_lin_mag: float = 0.0,
                               w_phs: float = 0.0, sample_rate: Optional[float] = None, scale: Optional[str] = None,
                               n_bins: Optional[int] = None, perceptual_weighting: bool = False,
                               scale_invariance: bool = False, eps: float = 1e-8, output: str = "loss",
                               reduction: str = "mean", mag_distance: str = "L1"):
    """:class:`MultiResolutionSTFTLoss` as a function (``auraloss.freq.MultiResolutionSTFTLoss(...)(input,
    target)``). Builds the windows (and filterbanks) on every call: under torch.compile prefer the module."""
    geometries = _check_geometry("multi_resolution_stft_loss", fft_sizes, hop_sizes, win_lengths)
    # (explicitly, not locals(): torch.compile traces this on every supported torch)
    kw = dict(w_sc=w_sc, w_log_mag=w_log_mag, w_lin_mag=w_lin_mag, w_phs=w_phs, sample_rate=sample_rate, scale=scale,
              n_bins=n_bins, perceptual_weighting=perceptual_weighting, scale_invariance=scale_invariance, eps=eps,
              output=output, reduction=reduction, mag_distance=mag_distance)
    return _functional_forward("multi_resolution_stft_loss", input, target, geometries, window, kw, multi=True)


# --------------------------------------------------------------------------------------------------------------
# The multi-scale mel loss (DAC / BigVGAN; one scale: HiFi-GAN, Vocos).
_DAC_N_MELS = (5, 10, 20, 40, 80, 160, 320)
_DAC_WINDOWS = (32, 64, 128, 256, 512, 1024, 2048)


class _MelConfig:
    def __init__(self, fn, sample_rate, n_mels, window_lengths, clamp_eps, mag_weight, log_weight, pow, mel_fmin,
                 mel_fmax, hop_lengths, padding, mag_eps, mel_scale, mel_norm):
        if not isinstance(sample_rate, (int, float)) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise ValueError(f"{fn}: sample_rate must be a positive number, but got {sample_rate!r}")
        n_mels, window_lengths = list(n_mels), list(window_lengths)
        mel_fmin = [0.0] * len(window_lengths) if mel_fmin is None else list(mel_fmin)
        mel_fmax = [None] * len(window_lengths) if mel_fmax is None else list(mel_fmax)
        hops = [w // 4 if _is_int(w) else w for w in window_lengths] if hop_lengths is None else list(hop_lengths)
        lists = {"n_mels": n_mels, "window_lengths": window_lengths, "mel_fmin": mel_fmin, "mel_fmax": mel_fmax,
                 "hop_lengths": hops}
        if len({len(v) for v in lists.values()}) != 1:
            raise ValueError(f"{fn}: n_mels, window_lengths, mel_fmin, mel_fmax (and hop_lengths) must have the same "
                             f"length, but got " + ", ".join(f"{k}: {len(v)}" for k, v in lists.items()))
        if not window_lengths:
            raise ValueError(f"{fn}: window_lengths must hold at least one scale")
        for i, (m, w, h) in enumerate(zip(n_mels, window_lengths, hops)):
            for name, v in (("window_lengths", w), ("n_mels", m), ("hop_lengths", h)):
                if not _is_int(v) or v <= 0:
                    extra = " (the default hop is window_lengths[i] // 4)" if name == "hop_lengths" else ""
                    raise ValueError(f"{fn}: {name}[{i}] must be a positive int{extra}, but got {v!r}")
        _check_choice(fn, "padding", padding, ("center", "same"))
        _check_choice(fn, "mel_scale", mel_scale, ("slaney", "htk"))
        _check_choice(fn, "mel_norm", mel_norm, ("slaney", None))
        if not clamp_eps > 0:
            raise ValueError(f"{fn}: clamp_eps must be positive, but got {clamp_eps!r}")
        if mag_eps < 0:
            raise ValueError(f"{fn}: mag_eps must be >= 0, but got {mag_eps!r}")
        self.fn, self.sample_rate = fn, sample_rate
        self.scales = [tuple(v) for v in zip(window_lengths, hops, n_mels, mel_fmin, mel_fmax)]
        self.clamp_eps, self.mag_weight, self.log_weight, self.pow = float(clamp_eps), mag_weight, log_weight, pow
        self.padding, self.mag_eps, self.mel_scale, self.mel_norm = padding, float(mag_eps), mel_scale, mel_norm
        # What every call passes the ops: the hops, each scale's reflect padding (w // 2 centred, (w - h) // 2 for
        # "same"), and the shortest signal all of them accept.
        self.hops = [h for _, h, _, _, _ in self.scales]
        self.pads = [w // 2 if padding == "center" else (w - h) // 2 for w, h, _, _, _ in self.scales]
        self.min_length = max(_shortest_length(w, pad) for (w, _, _, _, _), pad in zip(self.scales, self.pads))

    def filterbanks(self) -> List[torch.Tensor]:
        return [_mel_filters(self.sample_rate, w, m, fmin, fmax, self.mel_scale == "htk", self.mel_norm)
                for w, _, m, fmin, fmax in self.scales]

    def windows(self) -> List[torch.Tensor]:
        # scipy.signal.get_window("hann", w) as DAC / BigVGAN make it: periodic, float64, then float32.
        return [_periodic_hann64(w).to(torch.float32) for w, _, _, _, _ in self.scales]


def _mel_pads(cfg: _MelConfig, T: int, name: str) -> List[int]:
    """Each scale's reflect padding (cfg.pads), after checking a signal of T samples (`name`) is long enough for it.
    (Only a signal too short for some scale goes through the per-scale checks, which format their messages.)"""
    if T < cfg.min_length:
        for i, ((w, _, _, _, _), pad) in enumerate(zip(cfg.scales, cfg.pads)):
            _check_length(cfg.fn, name, T, w, f"window_lengths[{i}]={w} with padding={cfg.padding!r}", pad)
    return cfg.pads


def _mel_spectrograms(cfg: _MelConfig, x: torch.Tensor, windows, fbs, name: str,
                      log: bool = False) -> List[torch.Tensor]:
    """The mel spectrogram of x (..., T) at every scale: (..., n_mels, frames) each, float32 (float64 input:
    float64): |STFT| (or sqrt(|STFT|^2 + mag_eps)) projected on the filterbank, by the op spectro::mel_analysis
    (reflect padding of w // 2 centred, or (w - h) // 2 uncentred for "same"). log: the loss's log-mel
    log10(max(mel, clamp_eps)^pow) = (pow / ln 10) ln(max(mel, clamp_eps)) instead, the op's log stage (on CUDA in
    the same kernel, and its derivative in the backward's)."""
    T = x.shape[-1]
    batch = x.shape[:-1]
    pads = _mel_pads(cfg, T, name)
    with _autocast_disabled(x.device.type):  # the loss runs in float32 / float64
        x2d = _to_dtype(x.reshape(-1, T), _compute_dtype(x))
        out = []
        for (w, h, _, _, _), pad, window, fb in zip(cfg.scales, pads, windows, fbs):
            # One spectro::mel_analysis call per scale: on CUDA one kernel forward and, for a signal that requires
            # grad, one kernel (the spectrum recomputed) + the analysis' adjoint backward.
            n_frames = 1 + (T + 2 * pad - w) // h
            stage = ("clamp", cfg.clamp_eps, cfg.pow / LN10) if log else ("none", 0.0, 1.0)
            mel = torch.ops.spectro.mel_analysis(
                x2d, window.to(x2d.dtype), fb.to(x2d.dtype).contiguous(), w, h, n_frames, pad, "reflect", 1.0, 1.0,
                float(cfg.mag_eps), *stage)
            out.append(mel.reshape(batch + mel.shape[-2:]))
        return out


def _mel_loss_op(cfg: _MelConfig, x, y, windows, fbs):
    """The loss against a target signal: one C++ op, ``spectro::mel_loss`` (one mel_analysis per scale and signal,
    the log-mels from its log stage when mag_weight is 0, the means and the sum over scales in ATen)."""
    T = x.shape[-1]
    pads = _mel_pads(cfg, T, "input")
    dtype = _compute_dtype(x)
    with _autocast_disabled(x.device.type):  # the loss runs in float32 / float64
        return torch.ops.spectro.mel_loss(
            _to_dtype(x.reshape(-1, T), dtype), _to_dtype(y.reshape(-1, T), dtype), windows, fbs, cfg.hops, pads,
            cfg.clamp_eps, float(cfg.pow), cfg.mag_eps, float(cfg.log_weight), float(cfg.mag_weight))


def _mel_loss(cfg: _MelConfig, x, y, y_mels, windows, fbs):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{cfg.fn}: input must be a Tensor, but got {type(x).__name__}")
    if (y is None) == (y_mels is None):
        raise ValueError(f"{cfg.fn}: pass exactly one of target (a signal) and y_mels (its precomputed mel "
                         "spectrograms, from MelSpectrogramLoss.mel_spectrograms)")
    if y is not None:
        _check_pair(cfg.fn, x, y)
        return _mel_loss_op(cfg, x, y, windows, fbs)
    elif x.dim() == 0:
        raise ValueError(f"{cfg.fn}: input must have a time dimension (..., T), but got a 0-d tensor")
    # A precomputed target's mel spectrograms. Only the log term (DAC's and BigVGAN's training values): the input's
    # log-mels straight from the op's log stage, the target's by the same formula in ATen.
    logs_only = not cfg.mag_weight
    x_mels = _mel_spectrograms(cfg, x, windows, fbs, "input", log=logs_only)
    y_mels = list(y_mels)
    if len(y_mels) != len(x_mels):
        raise ValueError(f"{cfg.fn}: y_mels must hold one mel spectrogram per scale ({len(x_mels)}), but got "
                         f"{len(y_mels)}")
    for i, (a, b) in enumerate(zip(x_mels, y_mels)):
        if not isinstance(b, torch.Tensor) or a.shape != b.shape:
            got = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
            raise ValueError(f"{cfg.fn}: y_mels[{i}] must have the shape of the input's mel spectrogram "
                             f"{tuple(a.shape)}, but got {got}")

    def log_mel(m):
        m = m.clamp(min=cfg.clamp_eps)
        return (m.pow(cfg.pow) if cfg.pow != 1 else m).log10()

    with _autocast_disabled(x.device.type):  # the loss runs in float32 / float64
        loss = None
        for i, (xm, ym) in enumerate(zip(x_mels, y_mels)):
            ym = ym.to(xm.dtype)
            terms = []
            if cfg.log_weight:
                if logs_only:
                    xl, yl = xm, ym.clamp(min=cfg.clamp_eps).log() * (cfg.pow / LN10)
                else:
                    xl, yl = log_mel(xm), log_mel(ym)
                terms.append(cfg.log_weight * torch.nn.functional.l1_loss(xl, yl))
            if cfg.mag_weight:
                terms.append(cfg.mag_weight * torch.nn.functional.l1_loss(xm, ym))
            for t in terms:
                loss = t if loss is None else loss + t
        return x_mels[0].new_zeros(()) if loss is None else loss


class MelSpectrogramLoss(torch.nn.Module):
    """Multi-scale mel-spectrogram L1 loss: DAC's ``dac.nn.loss.MelSpectrogramLoss`` with the values DAC trains with
    (its ``conf/base.yml``; the DAC class's own defaults differ: ``n_mels=[150, 80]``, ``window_lengths=[2048,
    512]``, ``mag_weight=1``, ``pow=2``), which are also BigVGAN-v2's ``MultiScaleMelSpectrogramLoss`` defaults.

    For each scale ``i``: a periodic Hann window of ``window_lengths[i]`` samples (= n_fft), hop
    ``window_lengths[i] // 4``, centred frames with reflect padding (audiotools' ``AudioSignal.stft`` with
    ``match_stride=False``: no extra padding), magnitudes ``|STFT|``, librosa's slaney mel filterbank of
    ``n_mels[i]`` bands from ``mel_fmin[i]`` to ``mel_fmax[i]`` (None: Nyquist), then

        ``log_weight * mean|log10(max(X, clamp_eps)^pow) - log10(max(Y, clamp_eps)^pow)| + mag_weight * mean|X - Y|``

    summed over the scales (DAC then weights the sum by 15; BigVGAN-v2 by 15 too: multiply the result). Inputs
    ``(..., T)`` (DAC: AudioSignals of ``(B, C, T)``; every leading dimension is batch); signals need more than
    ``max(window_lengths) // 2`` samples (reflect padding).

    ``forward(input, target=None, *, y_mels=None)``: pass the target signal, or its mel spectrograms precomputed by
    :meth:`mel_spectrograms` (a list, one ``(..., n_mels, frames)`` tensor per scale).

    Args:
        sample_rate: of the signals (Hz): places the mel filters.
        n_mels, window_lengths: per scale (same lengths). Default DAC's ``[5, 10, ..., 320]`` and ``[32, 64, ...,
            2048]``.
        clamp_eps, mag_weight, log_weight, pow: as DAC (defaults ``1e-5, 0.0, 1.0, 1.0``).
        mel_fmin, mel_fmax: per-scale band edges in Hz (an entry None: Nyquist). Default None: 0 Hz and Nyquist at
            every scale (DAC's ``[0.0] * 7`` and ``[None] * 7``, for any number of scales).

    Keyword-only extensions (defaults = DAC) cover the single-scale vocoder losses:

    * ``hop_lengths``: per-scale hops instead of ``window_lengths // 4``.
    * ``padding``: ``"center"`` (default) or ``"same"``: reflect padding by ``(window - hop) // 2`` on each side and
      uncentred frames (HiFi-GAN's / BigVGAN-v1's ``mel_spectrogram``, Vocos' ``padding="same"``).
    * ``mag_eps``: magnitudes ``sqrt(re^2 + im^2 + mag_eps)`` instead of ``|STFT|`` (HiFi-GAN: 1e-9).
    * ``mel_scale`` (``"slaney"`` / ``"htk"``) and ``mel_norm`` (``"slaney"`` / None): the filterbank
      (librosa.filters.mel's ``htk`` and ``norm``). Vocos (torchaudio's default filterbank): ``"htk"``, None.

    HiFi-GAN's mel loss ``45 * mean|ln(max(X, 1e-5)) - ln(max(Y, 1e-5))|`` (22.05 kHz, n_fft 1024, hop 256, 80 mels,
    fmax 8000) is ``MelSpectrogramLoss(22050, [80], [1024], mel_fmin=[0], mel_fmax=[8000], padding="same",
    mag_eps=1e-9, log_weight=45 * math.log(10))`` (``ln = ln(10) * log10``); Vocos' (24 kHz, 1024 / 256, 100 mels,
    clip 1e-7) is ``MelSpectrogramLoss(24000, [100], [1024], clamp_eps=1e-7, log_weight=45 * math.log(10),
    mel_scale="htk", mel_norm=None)``.

    Each scale's mel spectrogram is one ``spectro::mel_analysis`` call per signal (on CUDA one kernel: |STFT| and the
    projection without storing the spectrum), then ATen's clamp, log and means (deterministic); half-precision inputs
    are computed in float32 with autocast disabled inside.
    """

    def __init__(self, sample_rate: float, n_mels: Sequence[int] = _DAC_N_MELS,
                 window_lengths: Sequence[int] = _DAC_WINDOWS, clamp_eps: float = 1e-5, mag_weight: float = 0.0,
                 log_weight: float = 1.0, pow: float = 1.0, mel_fmin: Optional[Sequence[float]] = None,
                 mel_fmax: Optional[Sequence[Optional[float]]] = None, *, hop_lengths: Optional[Sequence[int]] = None,
                 padding: str = "center", mag_eps: float = 0.0, mel_scale: str = "slaney",
                 mel_norm: Optional[str] = "slaney"):
        super().__init__()
        self._cfg = _MelConfig("MelSpectrogramLoss", sample_rate, n_mels, window_lengths, clamp_eps, mag_weight,
                               log_weight, pow, mel_fmin, mel_fmax, hop_lengths, padding, mag_eps, mel_scale,
                               mel_norm)
        self.sample_rate = sample_rate
        self.n_mels = [s[2] for s in self._cfg.scales]
        self.window_lengths = [s[0] for s in self._cfg.scales]
        self.hop_lengths = [s[1] for s in self._cfg.scales]
        self.mel_fmin = [s[3] for s in self._cfg.scales]
        self.mel_fmax = [s[4] for s in self._cfg.scales]
        self.clamp_eps, self.mag_weight, self.log_weight, self.pow = clamp_eps, mag_weight, log_weight, pow
        # Constants, not state (DAC's loss has no state_dict entries): non-persistent buffers that follow .to().
        n = len(self._cfg.scales)
        self._window_names = [f"window_{i}" for i in range(n)]
        self._fb_names = [f"mel_fb_{i}" for i in range(n)]
        for wname, fbname, w, fb in zip(self._window_names, self._fb_names, self._cfg.windows(),
                                        self._cfg.filterbanks()):
            self.register_buffer(wname, w, persistent=False)
            self.register_buffer(fbname, fb, persistent=False)

    def _constants(self):
        """The windows and filterbanks: the buffers as they are now (.to() / .double() replace them), read from
        _buffers by name (nn.Module's attribute lookup costs host time on every call)."""
        buffers = self._buffers
        return [buffers[k] for k in self._window_names], [buffers[k] for k in self._fb_names]

    def mel_spectrograms(self, signal: torch.Tensor) -> List[torch.Tensor]:
        """The mel spectrogram (magnitude, before the clamp and log) of ``signal`` (..., T) at every scale: one
        ``(..., n_mels[i], frames)`` tensor per scale, to pass as ``y_mels`` (e.g. a target computed once)."""
        return _mel_spectrograms(self._cfg, signal, *self._constants(), "signal")

    def forward(self, input: torch.Tensor, target: Optional[torch.Tensor] = None, *,
                y_mels: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
        return _mel_loss(self._cfg, input, target, y_mels, *self._constants())

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, window_lengths={self.window_lengths}, "
                f"log_weight={self.log_weight}, mag_weight={self.mag_weight}, pow={self.pow}")


def mel_spectrogram_loss(input: torch.Tensor, target: Optional[torch.Tensor], sample_rate: float,
                         n_mels: Sequence[int] = _DAC_N_MELS, window_lengths: Sequence[int] = _DAC_WINDOWS,
                         clamp_eps: float = 1e-5, mag_weight: float = 0.0, log_weight: float = 1.0, pow: float = 1.0,
                         mel_fmin: Optional[Sequence[float]] = None,
                         mel_fmax: Optional[Sequence[Optional[float]]] = None, *,
                         y_mels: Optional[Sequence[torch.Tensor]] = None,
                         hop_lengths: Optional[Sequence[int]] = None, padding: str = "center", mag_eps: float = 0.0,
                         mel_scale: str = "slaney", mel_norm: Optional[str] = "slaney") -> torch.Tensor:
    """:class:`MelSpectrogramLoss` as a function (``target`` None with ``y_mels`` given). Builds the windows on
    every call (the filterbanks are cached on the host): under torch.compile prefer the module."""
    cfg = _MelConfig("mel_spectrogram_loss", sample_rate, n_mels, window_lengths, clamp_eps, mag_weight, log_weight,
                     pow, mel_fmin, mel_fmax, hop_lengths, padding, mag_eps, mel_scale, mel_norm)
    dev = input.device if isinstance(input, torch.Tensor) else None
    windows = [w.to(dev) for w in cfg.windows()]
    fbs = [f.to(dev) for f in cfg.filterbanks()]
    return _mel_loss(cfg, input, target, y_mels, windows, fbs)
