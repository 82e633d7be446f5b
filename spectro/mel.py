"""Mel frontends on spectro.stft: filterbanks (torchaudio's and librosa's), torchaudio's MelSpectrogram /
AmplitudeToDB, a configurable log-mel frontend (HiFi-GAN, BigVGAN, Vocos, ...), Whisper's log-mel and a dynamic
(key-shift / speed) mel spectrogram.

Every frontend runs through one internal function, :func:`_mel_core` (pad -> STFT -> power or magnitude -> mel
bands -> log), which is one call of the op ``spectro::mel_analysis``: on CUDA one kernel (the in-kernel FFT with a
mel epilogue: the complex spectrum never reaches global memory), elsewhere its composite definition (spectro's
analysis + torch ops); gradients go through that composite. Whatever scales the magnitude linearly (torchaudio's
window normalisation, the dynamic frontend's key-shift rescale, its bin crop / zero-padding) is folded into the
small filterbank rather than applied to the spectrogram.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Optional, Tuple, Union

import torch

from . import _C
from .functional import _check_kernel_dtype, _has_torch_function, _is_compiling, stft

__all__ = [
    "melscale_fbanks",
    "mel_filters",
    "amplitude_to_db",
    "mel_spectrogram",
    "log_mel_spectrogram",
    "whisper_log_mel",
    "MelSpectrogram",
    "AmplitudeToDB",
    "LogMelSpectrogram",
    "DynamicMelSpectrogram",
]

_LOGS = ("ln", "log10", "db", None)
_LOG_MODES = ("clamp", "add", "log1p")
_PAD_MODES = ("constant", "reflect", "replicate", "circular")

PadSpec = Union[int, Tuple[int, int], str]


# ----------------------------------------------------------------------------------------------------------------
# Mel scales
def _hz_to_mel(freq: float, mel_scale: str) -> float:
    """One frequency (Hz, a Python float) to mels: "htk" 2595 log10(1 + f/700); "slaney" linear below 1 kHz
    (3 / 200 mel per Hz), logarithmic above (27 / ln 6.4 mels per e-fold); "kaldi" 1127 ln(1 + f/700)."""
    if mel_scale == "htk":
        return 2595.0 * math.log10(1.0 + freq / 700.0)
    if mel_scale == "kaldi":
        return 1127.0 * math.log(1.0 + freq / 700.0)
    f_sp = 200.0 / 3
    if freq >= 1000.0:
        return 1000.0 / f_sp + math.log(freq / 1000.0) / (math.log(6.4) / 27.0)
    return freq / f_sp


def _mel_to_hz(mels: torch.Tensor, mel_scale: str) -> torch.Tensor:
    """Mels (a tensor) back to Hz, in the tensor's dtype (the arithmetic of torchaudio's and librosa's _mel_to_hz)."""
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_mel = 1000.0 / f_sp
    logstep = math.log(6.4) / 27.0
    freqs = f_sp * mels
    if torch.compiler.is_compiling():  # (boolean-mask indexing has a data-dependent size: the same values by where)
        return torch.where(mels >= min_log_mel, 1000.0 * torch.exp(logstep * (mels - min_log_mel)), freqs)
    log_t = mels >= min_log_mel  # (the masked form of both libraries: exp of the selected elements only)
    freqs[log_t] = 1000.0 * torch.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def _check_scale(fn: str, mel_scale: str, allowed=("htk", "slaney")) -> None:
    if mel_scale not in allowed:
        raise ValueError(f"spectro.{fn}: mel_scale should be one of {', '.join(map(repr, allowed))}, but got "
                         f"{mel_scale!r}")


def _check_band(fn: str, f_min: float, f_max: float, sample_rate: float) -> None:
    if sample_rate <= 0:
        raise ValueError(f"spectro.{fn}: sample_rate must be positive, but got {sample_rate}")
    if f_min < 0:
        raise ValueError(f"spectro.{fn}: f_min must be >= 0, but got f_min={f_min}")
    if f_min > f_max:
        raise ValueError(f"spectro.{fn}: Require f_min: {f_min} <= f_max: {f_max}")
    if f_max > sample_rate / 2:
        raise ValueError(f"spectro.{fn}: f_max={f_max} is above the Nyquist frequency sample_rate / 2 = "
                         f"{sample_rate / 2} (filters there would see no bins)")


def _check_n_mels(fn: str, n_mels) -> None:
    if isinstance(n_mels, bool) or not isinstance(n_mels, int) or n_mels <= 0:
        raise ValueError(f"spectro.{fn}: n_mels must be a positive int, but got {n_mels!r}")


def _numpy_linspace(start: float, stop: float, num: int) -> torch.Tensor:
    """float64 numpy.linspace(start, stop, num): i * step + start, last point exactly stop (torch.linspace rounds
    differently: it computes the second half backwards from stop)."""
    y = torch.arange(num, dtype=torch.float64)
    if num > 1:
        y = y * ((stop - start) / (num - 1)) + start
        y[-1] = stop
    else:
        y = y + start
    return y


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                    norm: Optional[str] = None, mel_scale: str = "htk") -> torch.Tensor:
    r"""Triangular mel filterbank with the signature, layout and values of ``torchaudio.functional.melscale_fbanks``.

    Built as torchaudio builds it: in the default dtype (float32) on the CPU, on the frequency grid
    ``linspace(0, sample_rate // 2, n_freqs)``, with filter corners ``mel_to_hz(linspace(mel(f_min), mel(f_max),
    n_mels + 2))``; the same operations in the same order, so the values equal torchaudio's to float rounding (bit
    for bit on the CPU in our tests).

    Args:
        n_freqs: number of frequency bins (``n_fft // 2 + 1``).
        f_min, f_max: frequency band (Hz), ``0 <= f_min <= f_max <= sample_rate / 2``.
        n_mels: number of mel filters.
        sample_rate: sample rate (Hz).
        norm: ``None`` or ``"slaney"`` (divide each triangle by its width in Hz: constant area, ``2 / (f[i+2] -
            f[i])``).
        mel_scale: ``"htk"`` (default), ``"slaney"``, or ``"kaldi"`` (Kaldi's fbank as torchaudio.compliance.kaldi
            builds it: triangles linear in mel (1127 ln(1 + f / 700)) over the bins ``k * sample_rate / (2 *
            (n_freqs - 1))``, the Nyquist bin weighted 0; ``norm`` must be None).

    Returns:
        ``(n_freqs, n_mels)`` tensor: ``spec.transpose(-1, -2) @ fb`` maps ``(..., n_freqs, time)`` to
        ``(..., time, n_mels)``.

    Warns (as torchaudio) when a filter is all zeros (``n_mels`` too high for ``n_freqs``).
    """
    _check_scale("melscale_fbanks", mel_scale, ("htk", "slaney", "kaldi"))
    if norm is not None and norm != "slaney":
        raise ValueError(f"spectro.melscale_fbanks: norm must be one of None or 'slaney', but got {norm!r}")
    _check_n_mels("melscale_fbanks", n_mels)
    if isinstance(n_freqs, bool) or not isinstance(n_freqs, int) or n_freqs < 2:
        raise ValueError(f"spectro.melscale_fbanks: n_freqs must be an int >= 2, but got {n_freqs!r}")
    _check_band("melscale_fbanks", f_min, f_max, sample_rate)
    if mel_scale == "kaldi":
        if norm is not None:
            raise ValueError("spectro.melscale_fbanks: mel_scale='kaldi' takes norm=None")
        fb = _kaldi_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate)
    else:
        all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
        m_pts = torch.linspace(_hz_to_mel(f_min, mel_scale), _hz_to_mel(f_max, mel_scale), n_mels + 2)
        f_pts = _mel_to_hz(m_pts, mel_scale)
        # Triangles: rising edge (f - f[i]) / (f[i+1] - f[i]), falling edge (f[i+2] - f) / (f[i+2] - f[i+1]).
        f_diff = f_pts[1:] - f_pts[:-1]
        slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
        down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
        up = slopes[:, 2:] / f_diff[1:]
        fb = torch.max(torch.zeros(1), torch.min(down, up))
        if norm == "slaney":
            fb = fb * (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    if not torch.compiler.is_compiling() and (fb.max(dim=0).values == 0.0).any():
        warnings.warn(
            "At least one mel filterbank has all zero values. "
            f"The value for `n_mels` ({n_mels}) may be set too high. "
            f"Or, the value for `n_freqs` ({n_freqs}) may be set too low.",
            stacklevel=2,
        )
    return fb


def _kaldi_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: float) -> torch.Tensor:
    """Kaldi's mel banks (torchaudio.compliance.kaldi.get_mel_banks without VTLN, plus the zero Nyquist row that
    kaldi.fbank appends), (n_freqs, n_mels), default dtype."""
    n_fft = 2 * (n_freqs - 1)
    m_lo, m_hi = _hz_to_mel(f_min, "kaldi"), _hz_to_mel(f_max, "kaldi")
    delta = (m_hi - m_lo) / (n_mels + 1)
    b = torch.arange(n_mels).unsqueeze(1)
    left, center, right = m_lo + b * delta, m_lo + (b + 1.0) * delta, m_lo + (b + 2.0) * delta
    mel = 1127.0 * (1.0 + (sample_rate / n_fft) * torch.arange(n_fft // 2) / 700.0).log()
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.max(torch.zeros(1), torch.min(up, down))  # (n_mels, n_fft // 2)
    return torch.nn.functional.pad(banks, (0, 1)).t().contiguous()


def mel_filters(sample_rate: float, n_fft: int, n_mels: int = 128, f_min: float = 0.0, f_max: Optional[float] = None,
                htk: bool = False, norm: Union[str, float, None] = "slaney", *, dtype: torch.dtype = torch.float32,
                device=None) -> torch.Tensor:
    r"""Mel filterbank with the semantics of ``librosa.filters.mel`` (librosa's defaults: Slaney scale, Slaney
    area normalisation), as a torch tensor.

    Built as librosa builds it: float64 arithmetic on the grid ``k * sample_rate / n_fft`` (numpy's rfftfreq), corners
    ``mel_to_hz(linspace(mel(f_min), mel(f_max), n_mels + 2))`` with numpy's linspace rounding; the triangles are
    rounded to ``dtype`` before the normalisation is applied (librosa fills a ``dtype`` array, then scales it), so
    the values equal librosa's (and the ``mel_filters.npz`` of openai-whisper) to float rounding.

    Args:
        sample_rate: sample rate (Hz).
        n_fft: FFT size; the filterbank has ``n_fft // 2 + 1`` columns.
        n_mels: number of filters. Default 128.
        f_min, f_max: band (Hz); ``f_max`` defaults to ``sample_rate / 2``.
        htk: HTK mel scale (2595 log10(1 + f / 700)) instead of Slaney's.
        norm: ``"slaney"`` (divide each triangle by its width: constant area), ``None``, or a number ``p``: each
            filter divided by its ``p``-norm (``math.inf``: max norm), as librosa.util.normalize.
        dtype, device: of the returned tensor (float32 on the CPU by default).

    Returns:
        ``(n_mels, n_fft // 2 + 1)`` tensor (librosa's layout: ``mel_filters(...) @ power_spec``).

    Warns (as librosa) when some filter is empty.
    """
    if f_max is None:
        f_max = float(sample_rate) / 2
    _check_n_mels("mel_filters", n_mels)
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft <= 0:
        raise ValueError(f"spectro.mel_filters: n_fft must be a positive int, but got {n_fft!r}")
    _check_band("mel_filters", f_min, f_max, sample_rate)
    if isinstance(norm, str) and norm != "slaney":
        raise ValueError(f"spectro.mel_filters: unsupported norm={norm!r} (None, 'slaney' or a number)")
    scale = "htk" if htk else "slaney"
    fftfreqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (1.0 / (n_fft * (1.0 / sample_rate)))
    m_pts = _numpy_linspace(_hz_to_mel(float(f_min), scale), _hz_to_mel(float(f_max), scale), n_mels + 2)
    mel_f = _mel_to_hz(m_pts, scale)
    fdiff = mel_f[1:] - mel_f[:-1]
    ramps = mel_f.unsqueeze(1) - fftfreqs.unsqueeze(0)  # (n_mels + 2, n_freqs)
    lower = -ramps[:-2] / fdiff[:-1].unsqueeze(1)
    upper = ramps[2:] / fdiff[1:].unsqueeze(1)
    weights = torch.clamp_min(torch.minimum(lower, upper), 0.0).to(dtype)  # librosa's dtype array
    if norm == "slaney":
        enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
        weights = (weights.double() * enorm.unsqueeze(1)).to(dtype)
    elif norm is not None:
        mag = weights.double().abs()
        if norm == math.inf:
            length = mag.amax(dim=1, keepdim=True)
        elif norm == -math.inf:
            length = mag.amin(dim=1, keepdim=True)
        elif norm == 0:
            length = (mag > 0).sum(dim=1, keepdim=True).double()
        elif norm > 0:
            length = (mag ** norm).sum(dim=1, keepdim=True) ** (1.0 / norm)
        else:
            raise ValueError(f"spectro.mel_filters: unsupported norm={norm!r}")
        length = torch.where(length < torch.finfo(dtype).tiny, torch.ones_like(length), length)
        weights = (weights.double() / length).to(dtype)
    empty = (mel_f[:-2] == 0) | (weights.amax(dim=1) > 0)
    if not torch.compiler.is_compiling() and not bool(empty.all()):
        warnings.warn(
            "Empty filters detected in mel frequency basis. Some channels will produce empty responses. "
            "Try increasing your sampling rate (and fmax) or reducing n_mels.",
            stacklevel=2,
        )
    return weights.to(device) if device is not None else weights


def _filterbank(fn: str, sample_rate, n_fft, n_mels, f_min, f_max, norm, mel_scale) -> torch.Tensor:
    """The (n_mels, n_freqs) float32 filterbank of the log-mel frontends: mel_scale "slaney" -> librosa's
    filters.mel (norm None / "slaney"); "htk" -> torchaudio's melscale_fbanks (HTK scale, norm None / "slaney")."""
    _check_scale(fn, mel_scale, ("htk", "slaney"))
    if norm is not None and norm != "slaney":
        raise ValueError(f"spectro.{fn}: norm must be None or 'slaney', but got {norm!r}")
    if mel_scale == "slaney":  # (f_max default: librosa's sample_rate / 2, torchaudio's sample_rate // 2)
        return mel_filters(sample_rate, n_fft, n_mels, f_min, f_max, htk=False, norm=norm)
    f_max = float(sample_rate // 2) if f_max is None else f_max
    return melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate, norm, "htk").t().contiguous()


# ----------------------------------------------------------------------------------------------------------------
# The core
def _check_power(fn: str, power) -> float:
    if power is None or isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0:
        raise ValueError(f"spectro.{fn}: power must be a positive number (1: magnitude, 2: power), but got "
                         f"{power!r}")
    return float(power)


def _check_log(fn: str, log, log_mode, log_eps) -> None:
    if log not in _LOGS:
        raise ValueError(f"spectro.{fn}: log must be one of 'ln', 'log10', 'db' or None, but got {log!r}")
    if log_mode not in _LOG_MODES:
        raise ValueError(f"spectro.{fn}: log_mode must be one of 'clamp', 'add', 'log1p', but got {log_mode!r}")
    if log is not None and log_mode != "log1p" and not log_eps >= 0:
        raise ValueError(f"spectro.{fn}: log_eps must be >= 0, but got {log_eps!r}")


def _check_signal(fn: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"spectro.{fn}: expected waveform to be a Tensor, but got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"spectro.{fn}: expected waveform of shape (..., time), but got a 0-d tensor")
    if x.dtype.is_complex:
        raise ValueError(f"spectro.{fn}: expected a real waveform, but got {x.dtype}")


def _pad_pair(fn: str, pad) -> Tuple[int, int]:
    if isinstance(pad, (tuple, list)) and len(pad) == 2:
        left, right = pad
    elif isinstance(pad, int) and not isinstance(pad, bool):
        left = right = pad
    else:
        raise ValueError(f"spectro.{fn}: pad must be an int or a (left, right) pair, but got {pad!r}")
    if left < 0 or right < 0:
        raise ValueError(f"spectro.{fn}: pad must be >= 0, but got {pad!r}")
    return int(left), int(right)


def _mel_core(x: torch.Tensor, window: torch.Tensor, basis: torch.Tensor, n_fft: int, hop_length: int, win_length: int,
              center: bool, pad_mode: str, pad: Tuple[int, int], pad_value_mode: str, normalized: bool,
              power: float, mag_eps: float, drop_last: bool, log: Optional[str], log_mode: str, log_eps: float,
              kernel_dtype: str) -> torch.Tensor:
    """The one code path of every mel frontend:

        y = log(basis @ (|STFT(pad(x))|^2 + mag_eps)^(power / 2))

    x: (..., T) real; window: (win_length,); basis: (n_mels, F) with F = the bins used (n_fft // 2 + 1, or fewer /
    more with the dynamic frontend's crop / zero-padding: columns past the spectrum's bins are dropped, bins past
    the columns are ignored), every linear rescale already folded in; contiguous, the op takes it without a copy
    (the frontends' modules hold theirs so). pad: samples added on each side before framing, by
    pad_value_mode. normalized: stft's normalized (n_fft ** -0.5). drop_last: drop the last frame (Whisper).
    log: None / "ln" / "log10" / "db" ((20 / power) * log10: 10 log10 of a power mel (power 2), 20 log10 of a
    magnitude mel (power 1)). log_mode: "clamp" (log(max(m, eps))), "add" (log(m + eps)), "log1p" (log(1 + m)).
    Returns (..., n_mels, frames), in the spectrum's real dtype (float32 for float32 / half input).

    With kernel_dtype "float32" this is one call of the op spectro::mel_analysis (on CUDA one kernel: the spectrum
    stays on chip; its gradients through the op's composite definition). kernel_dtype "mixed" / "float16" store the
    spectrum in half precision first (spectro.stft), then take the same steps with torch ops.
    """
    if kernel_dtype == "float32" and not _is_compiling() and not _has_torch_function(x, window, basis):
        # Eagerly, the op call below is made in C++ (csrc/api/mel_frontend.cpp: the same calls, without the Python
        # steps); None where it is not one op call. torch.compile traces the Python steps.
        out = _C.mel_frontend(x, window, basis, n_fft, hop_length, win_length, center, pad_mode, pad[0], pad[1],
                              pad_value_mode, normalized, power, mag_eps, drop_last, log, log_mode, log_eps)
        if out is not None:
            return out
    shape = x.shape
    # A symmetric pad without centre padding is the op's own padding (HiFi-GAN / BigVGAN / Vocos "same"): no padded
    # copy of the signal.
    T = shape[-1]
    if (kernel_dtype == "float32" and not center and pad[0] == pad[1] > 0 and pad_value_mode in _PAD_MODES and T > 0
            and (pad_value_mode != "reflect" or pad[0] < T) and (pad_value_mode != "circular" or pad[0] <= T)):
        op_args = _mel_op_args(x, window, n_fft, hop_length, win_length, True, pad_value_mode, drop_last,
                               centre_pad=pad[0])
        if op_args is not None:
            return _mel_op(x, op_args, basis, n_fft, normalized, power, mag_eps, log, log_mode, log_eps)
    if pad[0] or pad[1]:
        if pad_value_mode == "constant":
            x = torch.nn.functional.pad(x, pad)
        else:  # torch's non-constant 1-D pads take (C, T) / (N, C, T) only
            x = torch.nn.functional.pad(x.reshape(-1, 1, shape[-1]), pad, mode=pad_value_mode)
            x = x.reshape(shape[:-1] + x.shape[-1:])
    op_args = _mel_op_args(x, window, n_fft, hop_length, win_length, center, pad_mode, drop_last)
    if kernel_dtype == "float32" and op_args is not None:
        return _mel_op(x, op_args, basis, n_fft, normalized, power, mag_eps, log, log_mode, log_eps)

    bins = n_fft // 2 + 1
    if basis.shape[1] > bins:  # zero-padded bins contribute nothing: drop the basis' columns instead
        basis = basis[:, :bins]
    log_scale = _log_scale(log, power)
    stage = "none" if log is None else log_mode
    spec = stft(x, n_fft, hop_length, win_length, window, center, pad_mode, normalized, True, True,
                kernel_dtype=kernel_dtype)  # (..., n_fft // 2 + 1, frames), frame-major
    if drop_last:
        spec = spec[..., :-1]
    n_bins = basis.shape[1]
    if n_bins < spec.shape[-2]:  # (a view: no pass)
        spec = spec[..., :n_bins, :]
    re_im = torch.view_as_real(spec)
    if re_im.dtype == torch.float16:  # kernel_dtype "mixed" / "float16": square in float32 (|X|^2 overflows half)
        re_im = re_im.float()
    if power == 1.0 and mag_eps == 0.0:
        m = torch.linalg.vector_norm(re_im, dim=-1)  # |X| with real ops (inductor has no complex CUDA codegen)
    else:
        m = re_im.square().sum(-1)  # |X|^2: one pass producing the squares, one summing the pairs
        if mag_eps != 0.0:
            m = m + mag_eps
        if power != 2.0:
            m = m.sqrt() if power == 1.0 else m.pow(power / 2)
    basis = basis.to(dtype=m.dtype, device=m.device)
    mel = torch.matmul(basis, m)  # (n_mels, F) @ (..., F, N)
    if stage == "clamp":
        mel = mel.clamp_min(log_eps).log()
    elif stage == "add":
        mel = (mel + log_eps).log()
    elif stage == "log1p":
        mel = mel.log1p()
    return mel * log_scale if stage != "none" and log_scale != 1.0 else mel


def _log_scale(log: Optional[str], power: float) -> float:
    if log == "log10":
        return 1.0 / math.log(10.0)
    if log == "db":
        return 20.0 / power / math.log(10.0)
    return 1.0


def _mel_op(x, op_args, basis, n_fft, normalized, power, mag_eps, log, log_mode, log_eps) -> torch.Tensor:
    """One call of spectro::mel_analysis with _mel_op_args' arguments; (..., n_mels, frames)."""
    x2, w, hop_length, n_frames, centre_pad, op_pad_mode = op_args
    if basis.shape[1] > n_fft // 2 + 1:  # zero-padded bins contribute nothing: drop the basis' columns instead
        basis = basis[:, : n_fft // 2 + 1]
    basis = basis.to(dtype=w.dtype, device=w.device).contiguous()
    out = torch.ops.spectro.mel_analysis(
        x2, w, basis, n_fft, hop_length, n_frames, centre_pad, op_pad_mode,
        n_fft ** -0.5 if normalized else 1.0, float(power), float(mag_eps), "none" if log is None else log_mode,
        float(log_eps), _log_scale(log, power))
    return out.reshape(x.shape[:-1] + out.shape[-2:])


def _mel_op_args(x: torch.Tensor, window: torch.Tensor, n_fft: int, hop_length: int, win_length: int, center: bool,
                 pad_mode: str, drop_last: bool, centre_pad: Optional[int] = None):
    """spectro::mel_analysis's arguments for spectro.stft's geometry (x as (batch, T), the window centred in n_fft
    samples, torch's dtype promotion), or None where the call is not one spectro.stft accepts (the stft path then
    raises its error) or leaves no frame. centre_pad: the padding on each side when center (default n_fft // 2)."""
    T = x.shape[-1]
    if not (0 < hop_length and 0 < win_length <= n_fft and window.dim() == 1 and window.shape[0] == win_length):
        return None
    if window.dtype.is_complex or not window.dtype.is_floating_point or x.dtype not in _MEL_DTYPES:
        return None
    if window.device != x.device:
        return None
    if centre_pad is None:
        centre_pad = n_fft // 2 if center else 0
    if center and pad_mode == "reflect" and centre_pad >= max(T, 1):
        return None
    if center and pad_mode == "circular" and centre_pad > T:
        return None
    span = T + 2 * centre_pad
    if span < n_fft:
        return None
    n_frames = 1 + (span - n_fft) // hop_length - (1 if drop_last else 0)
    if n_frames < 1:
        return None
    compute = torch.promote_types(torch.float32 if x.dtype != torch.float64 else torch.float64, window.dtype)
    w = window.to(compute)
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        w = torch.nn.functional.pad(w, (left, n_fft - win_length - left))
    if compute == torch.float64 or x.dtype == torch.float32:
        x = x.to(compute)
    return x.reshape(-1, T), w.contiguous(), hop_length, n_frames, centre_pad, pad_mode if center else "constant"


_MEL_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _window(fn: str, window, win_length: int, like: torch.Tensor) -> torch.Tensor:
    if window is None:  # periodic Hann, in double precision for a double-precision signal
        dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        return torch.hann_window(win_length, dtype=dtype, device=like.device)
    if not isinstance(window, torch.Tensor) or window.dim() != 1 or window.shape[0] != win_length:
        shape = tuple(window.shape) if isinstance(window, torch.Tensor) else type(window).__name__
        raise ValueError(f"spectro.{fn}: window must be a 1-D tensor of size win_length={win_length}, but got {shape}")
    return window.to(like.device)


def _check_basis(fn: str, mel_basis: torch.Tensor, n_fft: int, n_mels: Optional[int]) -> None:
    if not isinstance(mel_basis, torch.Tensor) or mel_basis.dim() != 2:
        shape = tuple(mel_basis.shape) if isinstance(mel_basis, torch.Tensor) else type(mel_basis).__name__
        raise ValueError(f"spectro.{fn}: mel_basis must be a 2-D (n_mels, n_fft // 2 + 1) tensor, but got {shape}")
    if mel_basis.shape[1] != n_fft // 2 + 1:
        raise ValueError(f"spectro.{fn}: mel_basis has {mel_basis.shape[1]} frequency bins, but n_fft={n_fft} gives "
                         f"n_fft // 2 + 1 = {n_fft // 2 + 1} (mel_basis must be (n_mels, n_fft // 2 + 1))")
    if n_mels is not None and mel_basis.shape[0] != n_mels:
        raise ValueError(f"spectro.{fn}: mel_basis has {mel_basis.shape[0]} filters, but n_mels={n_mels}")


# ----------------------------------------------------------------------------------------------------------------
# Functional forms
def mel_spectrogram(waveform: torch.Tensor, sample_rate: int = 16000, n_fft: int = 400,
                    win_length: Optional[int] = None, hop_length: Optional[int] = None, f_min: float = 0.0,
                    f_max: Optional[float] = None, pad: int = 0, n_mels: int = 128,
                    window: Optional[torch.Tensor] = None, power: float = 2.0, normalized: Union[bool, str] = False,
                    center: bool = True, pad_mode: str = "reflect", norm: Optional[str] = None,
                    mel_scale: str = "htk", fb: Optional[torch.Tensor] = None, *,
                    kernel_dtype: str = "float32") -> torch.Tensor:
    r"""torchaudio's ``MelSpectrogram`` as a function (the forward of :class:`MelSpectrogram`).

    ``fb @ |STFT(x)|^power`` with torchaudio's semantics: ``pad`` zeros on each side first; hop default
    ``win_length // 2``; ``normalized`` True / ``"window"`` divides the spectrum by ``sqrt(sum(window ** 2))``,
    ``"frame_length"`` by ``sqrt(n_fft)``; ``window`` default a periodic Hann window of ``win_length``; ``fb`` a
    ``(n_freqs, n_mels)`` filterbank (default :func:`melscale_fbanks` of the arguments, built on each call: the
    module caches it). ``kernel_dtype`` as :func:`spectro.stft`. Returns ``(..., n_mels, time)``.
    """
    _check_signal("mel_spectrogram", waveform)
    power = _check_power("mel_spectrogram", power)
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 2 if hop_length is None else hop_length
    if fb is None:
        f_max = float(sample_rate // 2) if f_max is None else f_max
        fb = melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate, norm, mel_scale)
    elif fb.dim() != 2 or fb.shape[0] != n_fft // 2 + 1:
        raise ValueError(f"spectro.mel_spectrogram: fb must be (n_fft // 2 + 1, n_mels) = ({n_fft // 2 + 1}, ...), "
                         f"but got {tuple(fb.shape)}")
    window = _window("mel_spectrogram", window, win_length, waveform)
    if normalized not in (False, True, "window", "frame_length"):
        raise ValueError(f"spectro.mel_spectrogram: normalized must be a bool, 'window' or 'frame_length', but got "
                         f"{normalized!r}")
    if normalized is True or normalized == "window":  # the spectrum / ||window||: fold ||window||^-power into fb
        fb = fb * window.to(fb.device, fb.dtype).pow(2.0).sum().sqrt().pow(-power)
    return _mel_core(waveform, window, fb.t(), n_fft, hop_length, win_length, center, pad_mode, (pad, pad),
                     "constant", normalized == "frame_length", power, 0.0, False, None, "clamp", 0.0, kernel_dtype)


def log_mel_spectrogram(x: torch.Tensor, sample_rate: int, n_fft: int, hop_length: Optional[int] = None,
                        win_length: Optional[int] = None, f_min: float = 0.0, f_max: Optional[float] = None,
                        n_mels: int = 80, window: Optional[torch.Tensor] = None, power: float = 1.0,
                        mag_eps: float = 0.0, center: bool = True, pad: PadSpec = 0, pad_mode: str = "reflect",
                        norm: Optional[str] = "slaney", mel_scale: str = "slaney",
                        mel_basis: Optional[torch.Tensor] = None, log: Optional[str] = "ln", log_eps: float = 1e-5,
                        log_mode: str = "clamp", *, kernel_dtype: str = "float32") -> torch.Tensor:
    r"""The log-mel spectrogram of vocoders and codecs (the forward of :class:`LogMelSpectrogram`; see it for the
    arguments). ``window`` is a tensor of size ``win_length`` (default: periodic Hann); ``mel_basis`` an
    ``(n_mels, n_fft // 2 + 1)`` filterbank (default: built from the arguments on every call; the module caches it).
    """
    _check_signal("log_mel_spectrogram", x)
    power = _check_power("log_mel_spectrogram", power)
    _check_log("log_mel_spectrogram", log, log_mode, log_eps)
    if not mag_eps >= 0:
        raise ValueError(f"spectro.log_mel_spectrogram: mag_eps must be >= 0, but got {mag_eps!r}")
    if pad_mode not in _PAD_MODES:
        raise ValueError(f"spectro.log_mel_spectrogram: pad_mode must be one of {_PAD_MODES}, but got {pad_mode!r}")
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 4 if hop_length is None else hop_length
    if isinstance(pad, str):
        if pad != "same":
            raise ValueError(f"spectro.log_mel_spectrogram: pad must be an int, a pair or 'same', but got {pad!r}")
        pad = ((win_length - hop_length) // 2, (win_length - hop_length) // 2)
    pad = _pad_pair("log_mel_spectrogram", pad)
    if mel_basis is None:
        mel_basis = _filterbank("log_mel_spectrogram", sample_rate, n_fft, n_mels, f_min, f_max, norm, mel_scale)
    else:
        _check_basis("log_mel_spectrogram", mel_basis, n_fft, None)
    window = _window("log_mel_spectrogram", window, win_length, x)
    return _mel_core(x, window, mel_basis, n_fft, hop_length, win_length, center, pad_mode, pad, pad_mode,
                     False, power, mag_eps, False, log, log_mode, log_eps, kernel_dtype)


_WHISPER_FILTERS = {}  # (n_mels, device) -> filterbank
_WHISPER_WINDOWS = {}  # device -> periodic Hann window of 400


def _kept(cache: dict, key, build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """cache[key], built by build() on first use. Built with inference mode off (a tensor built in inference mode,
    kept, would make a later call that records gradients fail); under torch.compile built in the graph, not kept."""
    t = cache.get(key)
    if t is None:
        if _is_compiling():
            return build()
        with torch.inference_mode(False):
            t = build()
        cache[key] = t
    return t


def whisper_log_mel(audio, n_mels: int = 80, padding: int = 0, device=None, *, max_scope: str = "tensor",
                    filters: Optional[torch.Tensor] = None, kernel_dtype: str = "float32") -> torch.Tensor:
    r"""openai-whisper's ``whisper.audio.log_mel_spectrogram`` on spectro.stft.

    ``padding`` zeros appended on the right; STFT n_fft 400, hop 160, periodic Hann, center reflect; the last frame
    dropped; power spectrum; librosa's slaney filterbank ``mel_filters(16000, 400, n_mels)`` (the values of whisper's
    ``mel_filters.npz``; any ``n_mels``); ``log10(clamp(m, 1e-10))``; ``max(x, x.max() - 8)``; ``(x + 4) / 4``.

    Args:
        audio: ``(..., samples)`` tensor (or numpy array) of 16 kHz audio.
        n_mels: 80 (Whisper v1-v3 except large-v3) or 128 (large-v3); other values also work.
        padding: zeros appended on the right before the STFT (whisper pads by 30 s of samples).
        device: move ``audio`` there first (as whisper's argument).
        max_scope: where the dynamic-range max is taken: ``"tensor"`` (whisper: the whole tensor, batch included)
            or ``"example"`` (each ``(n_mels, frames)`` spectrogram on its own, as Hugging Face's extractor).
        filters: an ``(n_mels, 201)`` filterbank to use instead (e.g. loaded from whisper's npz).
        kernel_dtype: as :func:`spectro.stft`.

    Returns:
        ``(..., n_mels, n_frames)`` with ``n_frames = (samples + padding) // 160``.
    """
    if not isinstance(audio, torch.Tensor):
        audio = torch.as_tensor(audio)
    if device is not None:
        audio = audio.to(device)
    _check_signal("whisper_log_mel", audio)
    if max_scope not in ("tensor", "example"):
        raise ValueError(f"spectro.whisper_log_mel: max_scope must be 'tensor' or 'example', but got {max_scope!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"spectro.whisper_log_mel: padding must be an int >= 0, but got {padding!r}")
    if filters is None:  # (built once per n_mels and device, as the window per device)
        filters = _kept(_WHISPER_FILTERS, (n_mels, audio.device),
                        lambda: mel_filters(16000, 400, n_mels, device=audio.device))
    else:
        _check_basis("whisper_log_mel", filters, 400, n_mels)
    window = _kept(_WHISPER_WINDOWS, audio.device, lambda: torch.hann_window(400, device=audio.device))
    x = _mel_core(audio, window, filters, 400, 160, 400, True, "reflect", (0, padding), "constant", False, 2.0,
                  0.0, True, "log10", "clamp", 1e-10, kernel_dtype)
    top = x.amax(dim=(-2, -1), keepdim=True) if max_scope == "example" else x.max()
    return (torch.maximum(x, top - 8.0) + 4.0) / 4.0


def amplitude_to_db(x: torch.Tensor, multiplier: float, amin: float, db_multiplier: float,
                    top_db: Optional[float] = None) -> torch.Tensor:
    r"""``torchaudio.functional.amplitude_to_DB``: ``multiplier * log10(clamp(x, amin)) - multiplier *
    db_multiplier``; with ``top_db``, clipped from below at ``max - top_db``, the max taken over the whole tensor
    for 2-D ``(freq, time)`` and 3-D ``(channel, freq, time)`` input, and per ``(channel, freq, time)`` block (each
    item of the leading dims) for 4-D and larger input.
    """
    x_db = multiplier * torch.log10(torch.clamp(x, min=amin))
    x_db = x_db - multiplier * db_multiplier
    if top_db is not None:
        shape = x_db.size()
        if x_db.dim() < 2:
            raise ValueError(f"spectro.amplitude_to_db: top_db needs input of shape (..., freq, time), but got "
                             f"{tuple(shape)}")
        packed = shape[-3] if x_db.dim() > 2 else 1
        x_db = x_db.reshape(-1, packed, shape[-2], shape[-1])
        x_db = torch.max(x_db, (x_db.amax(dim=(-3, -2, -1)) - top_db).view(-1, 1, 1, 1))
        x_db = x_db.reshape(shape)
    return x_db


# ----------------------------------------------------------------------------------------------------------------
# Modules
class _Spectrogram(torch.nn.Module):
    """Holds MelSpectrogram's window where torchaudio's does (state dict key ``spectrogram.window``)."""

    def __init__(self, window: torch.Tensor):
        super().__init__()
        self.register_buffer("window", window)


class _MelScale(torch.nn.Module):
    """Holds MelSpectrogram's filterbank where torchaudio's does (state dict key ``mel_scale.fb``: (n_freqs,
    n_mels)), stored as the transpose of an (n_mels, n_freqs) contiguous tensor: the layout the mel kernel reads, so
    a call passes it without a copy (and, on CUDA, its band ranges are kept across calls). A loaded state dict is
    copied into it in place and ``.to()`` keeps the strides, so the layout stays."""

    def __init__(self, fb: torch.Tensor):
        super().__init__()
        self.register_buffer("fb", fb.t().contiguous().t())


class MelSpectrogram(torch.nn.Module):
    r"""``torchaudio.transforms.MelSpectrogram`` on spectro.stft: same constructor, defaults, buffers
    (``spectrogram.window``, ``mel_scale.fb``: its state dicts load) and output ``(..., n_mels, time)``.

    Args:
        sample_rate (16000), n_fft (400), win_length (n_fft), hop_length (win_length // 2), f_min (0), f_max
        (sample_rate // 2), pad (0: zeros added on each side), n_mels (128), window_fn (torch.hann_window), power
        (2.0; any positive value), normalized (False; True / "window" / "frame_length"), wkwargs (window_fn's
        keyword arguments), center (True), pad_mode ("reflect"), onesided (deprecated, ignored, warns as
        torchaudio), norm (None / "slaney"), mel_scale ("htk" / "slaney"): as torchaudio.
        kernel_dtype: (keyword-only) as :func:`spectro.stft`.

    Any number of leading batch dimensions; float32 / float64 (float64 input computes in float64 even with the
    float32 buffers); float16 / bfloat16 input computes in float32 and returns float32.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: Optional[int] = None,
                 hop_length: Optional[int] = None, f_min: float = 0.0, f_max: Optional[float] = None, pad: int = 0,
                 n_mels: int = 128, window_fn: Callable[..., torch.Tensor] = torch.hann_window, power: float = 2.0,
                 normalized: Union[bool, str] = False, wkwargs: Optional[dict] = None, center: bool = True,
                 pad_mode: str = "reflect", onesided: Optional[bool] = None, norm: Optional[str] = None,
                 mel_scale: str = "htk", *, kernel_dtype: str = "float32"):
        super().__init__()
        if onesided is not None:
            warnings.warn("Argument 'onesided' has been deprecated and has no influence on the behavior of this "
                          "module.", stacklevel=2)
        self.power = _check_power("MelSpectrogram", power)
        _check_kernel_dtype("MelSpectrogram", kernel_dtype)
        if normalized not in (False, True, "window", "frame_length"):
            raise ValueError(f"spectro.MelSpectrogram: normalized must be a bool, 'window' or 'frame_length', but "
                             f"got {normalized!r}")
        self.sample_rate, self.n_fft, self.n_mels = sample_rate, n_fft, n_mels
        self.win_length = win_length if win_length is not None else n_fft
        self.hop_length = hop_length if hop_length is not None else self.win_length // 2
        self.pad, self.normalized, self.center, self.pad_mode = pad, normalized, center, pad_mode
        self.f_min, self.f_max = f_min, f_max
        self.norm, self.mel_scale_type, self.kernel_dtype = norm, mel_scale, kernel_dtype
        window = window_fn(self.win_length) if wkwargs is None else window_fn(self.win_length, **wkwargs)
        self.spectrogram = _Spectrogram(window)
        f_max_ = f_max if f_max is not None else float(sample_rate // 2)
        self.mel_scale = _MelScale(melscale_fbanks(n_fft // 2 + 1, f_min, f_max_, n_mels, sample_rate, norm,
                                                   mel_scale))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """waveform ``(..., time)`` -> mel spectrogram ``(..., n_mels, frames)``."""
        sub = self._modules  # (not through Module.__getattr__: its Python lookups cost more than the rest)
        return mel_spectrogram(waveform, self.sample_rate, self.n_fft, self.win_length, self.hop_length,
                               pad=self.pad, window=sub["spectrogram"]._buffers["window"], power=self.power,
                               normalized=self.normalized, center=self.center, pad_mode=self.pad_mode,
                               fb=sub["mel_scale"]._buffers["fb"], kernel_dtype=self.kernel_dtype)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, win_length={self.win_length}, "
                f"hop_length={self.hop_length}, n_mels={self.n_mels}, power={self.power}")


class AmplitudeToDB(torch.nn.Module):
    r"""``torchaudio.transforms.AmplitudeToDB``: power (``stype="power"``: 10 log10) or magnitude (any other
    ``stype``: 20 log10) to decibels, clamped at ``amin = 1e-10``, reference 1; ``top_db`` (>= 0) clips at the max
    minus ``top_db`` (the max's scope: see :func:`amplitude_to_db`)."""

    def __init__(self, stype: str = "power", top_db: Optional[float] = None):
        super().__init__()
        if top_db is not None and top_db < 0:
            raise ValueError("top_db must be positive value")
        self.stype, self.top_db = stype, top_db
        self.multiplier = 10.0 if stype == "power" else 20.0
        self.amin = 1e-10
        self.ref_value = 1.0
        self.db_multiplier = math.log10(max(self.amin, self.ref_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return amplitude_to_db(x, self.multiplier, self.amin, self.db_multiplier, self.top_db)


class LogMelSpectrogram(torch.nn.Module):
    r"""Log-mel spectrogram of vocoder / codec training (HiFi-GAN, BigVGAN, Vocos, ...), one module for their
    variants.

    ``log(mel_basis @ (re^2 + im^2 + mag_eps)^(power / 2))`` of ``spectro.stft(pad(x))``.

    Args:
        sample_rate, n_fft: sample rate (Hz) and FFT size.
        hop_length: default ``win_length // 4``. win_length: default ``n_fft``.
        f_min, f_max: filterbank band (f_max default ``sample_rate / 2``; ``sample_rate // 2`` with
            ``mel_scale="htk"``, as torchaudio). n_mels: 80.
        window_fn: window function of ``win_length`` (default periodic Hann), stored as the buffer ``window``.
        power: 1 (magnitude, default) or 2 (power); any positive value works.
        mag_eps: added under the square root: ``sqrt(re^2 + im^2 + mag_eps)`` (HiFi-GAN / BigVGAN: 1e-9; keeps
            the gradient finite at zero bins).
        center: torch.stft's centring (by ``pad_mode``).
        pad: samples added on each side before framing, by ``pad_mode``: an int, a ``(left, right)`` pair or
            ``"same"`` (``(win_length - hop_length) // 2`` each side: Vocos' "same"); HiFi-GAN / BigVGAN use
            ``(n_fft - hop_length) // 2`` with ``center=False``.
        pad_mode: "reflect" (default), "constant", "replicate", "circular".
        norm, mel_scale: the filterbank: ``mel_scale="slaney"`` is librosa's ``filters.mel`` (norm "slaney" or
            None; float64 construction), ``"htk"`` torchaudio's ``melscale_fbanks`` (HTK scale; norm None or
            "slaney"; Vocos: norm None, mel_scale "htk").
        mel_basis: an ``(n_mels, n_fft // 2 + 1)`` filterbank used instead (stored as the buffer ``mel_basis``).
        log: "ln" (default), "log10", "db" (decibels: ``10 * log10`` of a power mel (power 2), ``20 * log10`` of
            a magnitude mel (power 1); ``20 / power * log10`` in general) or None (no log).
        log_eps: the log's floor. log_mode: "clamp" (``log(max(m, log_eps))``, default), "add" (``log(m +
            log_eps)``) or "log1p" (``log(1 + m)``, log_eps unused).
        kernel_dtype: (keyword-only) as :func:`spectro.stft`.

    Input ``(..., time)``; output ``(..., n_mels, frames)``, float32 for float32 / half inputs, float64 for float64.
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: Optional[int] = None,
                 win_length: Optional[int] = None, f_min: float = 0.0, f_max: Optional[float] = None,
                 n_mels: int = 80, window_fn: Callable[..., torch.Tensor] = torch.hann_window, power: float = 1.0,
                 mag_eps: float = 0.0, center: bool = True, pad: PadSpec = 0, pad_mode: str = "reflect",
                 norm: Optional[str] = "slaney", mel_scale: str = "slaney", mel_basis: Optional[torch.Tensor] = None,
                 log: Optional[str] = "ln", log_eps: float = 1e-5, log_mode: str = "clamp", *,
                 kernel_dtype: str = "float32"):
        super().__init__()
        self.power = _check_power("LogMelSpectrogram", power)
        _check_log("LogMelSpectrogram", log, log_mode, log_eps)
        _check_kernel_dtype("LogMelSpectrogram", kernel_dtype)
        if not mag_eps >= 0:
            raise ValueError(f"spectro.LogMelSpectrogram: mag_eps must be >= 0, but got {mag_eps!r}")
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"spectro.LogMelSpectrogram: pad_mode must be one of {_PAD_MODES}, but got {pad_mode!r}")
        self.sample_rate, self.n_fft = sample_rate, n_fft
        self.win_length = n_fft if win_length is None else win_length
        self.hop_length = self.win_length // 4 if hop_length is None else hop_length
        if pad == "same":
            pad = (self.win_length - self.hop_length) // 2
        self.pad = _pad_pair("LogMelSpectrogram", pad)
        self.mag_eps, self.center, self.pad_mode = float(mag_eps), center, pad_mode
        self.log, self.log_eps, self.log_mode, self.kernel_dtype = log, float(log_eps), log_mode, kernel_dtype
        if mel_basis is None:
            _check_n_mels("LogMelSpectrogram", n_mels)
            mel_basis = _filterbank("LogMelSpectrogram", sample_rate, n_fft, n_mels, f_min, f_max, norm, mel_scale)
        else:
            _check_basis("LogMelSpectrogram", mel_basis, n_fft, None)
            mel_basis = mel_basis.detach().clone()
        self.n_mels = mel_basis.shape[0]
        self.window_fn = window_fn
        self.register_buffer("window", window_fn(self.win_length))
        self.register_buffer("mel_basis", mel_basis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ``(..., time)`` -> log-mel ``(..., n_mels, frames)``."""
        _check_signal("LogMelSpectrogram", x)
        buffers = self._buffers  # (not through Module.__getattr__: a third of an eager call's Python time)
        return _mel_core(x, buffers["window"], buffers["mel_basis"], self.n_fft, self.hop_length, self.win_length,
                         self.center, self.pad_mode, self.pad, self.pad_mode, False, self.power, self.mag_eps, False,
                         self.log, self.log_mode, self.log_eps, self.kernel_dtype)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"win_length={self.win_length}, n_mels={self.n_mels}, power={self.power}, pad={self.pad}, "
                f"center={self.center}, log={self.log!r}, log_mode={self.log_mode!r}, log_eps={self.log_eps}")


class DynamicMelSpectrogram(LogMelSpectrogram):
    r"""A :class:`LogMelSpectrogram` with per-call pitch (``keyshift``) and tempo (``speed``) changes of the
    analysis, as RMVPE's and torchfcpe's / DDSP-SVC's mel extractors (data augmentation for pitch and voice models).

    ``forward(x, keyshift=0, speed=1)``: with ``f = 2 ** (keyshift / 12)``, the STFT uses ``n_fft' =
    round(n_fft * f)``, ``win_length' = round(win_length * f)`` (a fresh ``window_fn(win_length')``, cached per
    size and device) and ``hop_length' = round(hop_length * speed)``; its ``n_fft' // 2 + 1`` bins are cropped or
    zero-padded back to ``n_fft // 2 + 1`` and the magnitude multiplied by ``win_length / win_length'`` (so the
    power by its square), then the base filterbank applies. ``keyshift=0, speed=1`` equals LogMelSpectrogram.
    Crop, zero-padding and rescale are folded into the filterbank (no extra pass). ``pad="same"`` pads
    ``((win' - hop') // 2, (win' - hop' + 1) // 2)`` per call (torchfcpe's padding, with ``center=False``).
    Arguments as :class:`LogMelSpectrogram` (RMVPE: ``mel_scale="htk", norm="slaney"`` of librosa with htk=True
    — pass ``mel_basis=spectro.mel_filters(..., htk=True)`` —, power 1, center True, log_eps 1e-5; torchfcpe:
    slaney, ``mag_eps=1e-9``, ``center=False``, ``pad="same"``).
    """

    def __init__(self, *args, **kwargs):
        pad = kwargs.get("pad", 0)
        if pad == "same":
            kwargs["pad"] = 0
        super().__init__(*args, **kwargs)
        self.pad_same = pad == "same"
        self._windows = {}

    def _window_for(self, win_length: int, like: torch.Tensor) -> torch.Tensor:
        if win_length == self.win_length:
            return self.window
        device, dtype = self.window.device, self.window.dtype
        return _kept(self._windows, (win_length, device, dtype),
                     lambda: self.window_fn(win_length).to(device, dtype))

    def forward(self, x: torch.Tensor, keyshift: float = 0.0, speed: float = 1.0) -> torch.Tensor:
        """x ``(..., time)`` -> log-mel ``(..., n_mels, frames)`` with the analysis scaled by ``keyshift``
        semitones (window and FFT size) and ``speed`` (hop)."""
        _check_signal("DynamicMelSpectrogram", x)
        if not speed > 0:
            raise ValueError(f"spectro.DynamicMelSpectrogram: speed must be positive, but got {speed!r}")
        factor = 2.0 ** (keyshift / 12.0)
        n_fft = int(round(self.n_fft * factor))
        win = int(round(self.win_length * factor))
        hop = int(round(self.hop_length * speed))
        if n_fft < 1 or win < 1 or hop < 1:
            raise ValueError(f"spectro.DynamicMelSpectrogram: keyshift={keyshift}, speed={speed} give n_fft={n_fft}, "
                             f"win_length={win}, hop_length={hop}: each must be >= 1")
        basis = self.mel_basis  # (n_mels, n_freqs)
        if keyshift != 0:
            basis = basis * (self.win_length / win) ** self.power
        pad = ((win - hop) // 2, (win - hop + 1) // 2) if self.pad_same else self.pad
        return _mel_core(x, self._window_for(win, x), basis, n_fft, hop, win, self.center, self.pad_mode, pad,
                         self.pad_mode, False, self.power, self.mag_eps, False, self.log, self.log_mode, self.log_eps,
                         self.kernel_dtype)
