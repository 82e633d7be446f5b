"""nn.Module wrappers: STFT / ISTFT layers that own their window, and the multi-resolution STFT loss of vocoder
training, all on spectro.stft / spectro.istft."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple, Union

import torch

from .functional import _check_kernel_dtype, istft, stft
from .losses import _mrstft_op  # (the one multi-resolution path, shared with spectro.losses)

__all__ = ["STFT", "ISTFT", "MultiResolutionSTFTLoss"]

WindowSpec = Union[torch.Tensor, Callable[[int], torch.Tensor], None]


def _make_window(window: WindowSpec, win_length: int) -> torch.Tensor:
    if window is None:  # rectangular, explicitly chosen (so no warning, unlike the functional form's default)
        return torch.ones(win_length)
    w = window(win_length) if callable(window) else window
    if not isinstance(w, torch.Tensor) or w.dim() != 1 or w.shape[0] != win_length:
        shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"window must be a 1D tensor of size win_length={win_length} (or a function returning one), "
                         f"but got {shape}")
    return w.detach().clone()


class _Transform(torch.nn.Module):
    """Holds the geometry and the window (a buffer, or a Parameter with trainable_window=True)."""

    def __init__(self, n_fft: int, hop_length: Optional[int], win_length: Optional[int], window: WindowSpec,
                 center: bool, normalized: bool, onesided: Optional[bool], trainable_window: bool):
        super().__init__()
        if not isinstance(n_fft, int) or isinstance(n_fft, bool) or n_fft <= 0:
            raise ValueError(f"n_fft must be a positive int, but got {n_fft!r}")
        self.n_fft = n_fft
        self.hop_length = n_fft // 4 if hop_length is None else hop_length
        self.win_length = n_fft if win_length is None else win_length
        self.center, self.normalized, self.onesided = center, normalized, onesided
        w = _make_window(window, self.win_length)
        if trainable_window:
            self.window = torch.nn.Parameter(w)
        else:
            self.register_buffer("window", w)

    def extra_repr(self) -> str:
        kd = getattr(self, "kernel_dtype", "float32")
        return (f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
                f"center={self.center}, normalized={self.normalized}, onesided={self.onesided}"
                + (f", kernel_dtype={kd!r}" if kd != "float32" else ""))


class STFT(_Transform):
    """``spectro.stft`` as a layer: ``STFT(n_fft, ...)(x)`` equals ``spectro.stft(x, n_fft, ..., window=...)``.

    Args:
        n_fft, hop_length, win_length, center, pad_mode, normalized, onesided, return_complex, align_to_window: as
            :func:`spectro.stft` (``return_complex`` defaults to ``True`` here).
        window: a 1D tensor of size ``win_length``, a function of ``win_length`` returning one (default
            :func:`torch.hann_window`), or ``None`` for a rectangular window (``torch.ones``; no warning, as the
            choice is explicit here).
            Stored as the buffer ``window`` (moves with ``.to()``; made in the default dtype, so ``.double()``
            converts float32 values), or as a Parameter with ``trainable_window``.
        trainable_window: learn the window (its gradient comes from spectro's window gradient).
        kernel_dtype: (keyword-only) as :func:`spectro.stft`: ``"float32"`` (default), ``"mixed"`` (complex32
            result) or ``"float16"`` (input and window also rounded to half precision); checked here and passed to
            every call.
    """

    def __init__(self, n_fft: int, hop_length: Optional[int] = None, win_length: Optional[int] = None,
                 window: WindowSpec = torch.hann_window, center: bool = True, pad_mode: str = "reflect",
                 normalized: bool = False, onesided: Optional[bool] = None, return_complex: bool = True,
                 align_to_window: Optional[bool] = None, trainable_window: bool = False, *,
                 kernel_dtype: str = "float32"):
        _check_kernel_dtype("STFT", kernel_dtype)
        super().__init__(n_fft, hop_length, win_length, window, center, normalized, onesided, trainable_window)
        self.pad_mode, self.return_complex, self.align_to_window = pad_mode, return_complex, align_to_window
        self.kernel_dtype = kernel_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stft(x, self.n_fft, self.hop_length, self.win_length, self.window, self.center, self.pad_mode, self.normalized,
                    self.onesided, self.return_complex, self.align_to_window, kernel_dtype=self.kernel_dtype)


class ISTFT(_Transform):
    """``spectro.istft`` as a layer: ``ISTFT(n_fft, ...)(spec, length)`` equals ``spectro.istft(spec, n_fft, ...,
    window=..., length=length)``.

    Args:
        n_fft, hop_length, win_length, center, normalized, onesided, return_complex, torch_like, safety: as
            :func:`spectro.istft`.
        window, trainable_window: as :class:`STFT`.
        kernel_dtype: (keyword-only) as :func:`spectro.istft`: ``"float32"`` (default), ``"mixed"`` (float16
            result, or bfloat16 when the window is bfloat16, e.g. after ``.to(torch.bfloat16)``; complex32 with
            ``return_complex``) or ``"float16"`` (spectrum and window also rounded to half precision); checked here
            and passed to every call.
    """

    def __init__(self, n_fft: int, hop_length: Optional[int] = None, win_length: Optional[int] = None,
                 window: WindowSpec = torch.hann_window, center: bool = True, normalized: bool = False,
                 onesided: Optional[bool] = None, return_complex: bool = False, torch_like: bool = False,
                 safety: str = "auto", trainable_window: bool = False, *, kernel_dtype: str = "float32"):
        _check_kernel_dtype("ISTFT", kernel_dtype)
        super().__init__(n_fft, hop_length, win_length, window, center, normalized, onesided, trainable_window)
        self.return_complex, self.torch_like, self.safety = return_complex, torch_like, safety
        self.kernel_dtype = kernel_dtype

    def forward(self, spec: torch.Tensor, length: Optional[int] = None) -> torch.Tensor:
        return istft(spec, self.n_fft, self.hop_length, self.win_length, self.window, self.center, self.normalized,
                     self.onesided, length, self.return_complex, torch_like=self.torch_like, safety=self.safety,
                     kernel_dtype=self.kernel_dtype)


class MultiResolutionSTFTLoss(torch.nn.Module):
    """Multi-resolution STFT loss (Yamamoto et al., Parallel WaveGAN, 2020), as vocoders and codecs train with.

    For each resolution ``(n_fft, hop_length, win_length)`` with a Hann window (centred frames, reflect padding), with
    magnitudes ``|X| = sqrt(max(re^2 + im^2, eps))`` of the prediction ``x`` and ``|Y|`` of the target ``y``:

    * spectral convergence: ``|| |Y| - |X| ||_F / || |Y| ||_F`` (Frobenius norms over the whole batch);
    * log STFT magnitude: ``mean(| log|Y| - log|X| |)``.

    ``forward(x, y)`` returns both, each averaged over the resolutions: ``(spectral_convergence, log_magnitude)``.
    Inputs ``(..., T)``; half-precision inputs are computed in float32 (see :func:`spectro.stft`).

    Args:
        resolutions: ``(n_fft, hop_length, win_length)`` triples. Default: Parallel WaveGAN's
            ``((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))``.
        window: window function of ``win_length`` (default :func:`torch.hann_window`).
        eps: floor of the squared magnitude before the square root (keeps the log and its gradient finite).
    """

    def __init__(self, resolutions: Sequence[Tuple[int, int, int]] = ((1024, 120, 600), (2048, 240, 1200),
                                                                       (512, 50, 240)),
                 window: Callable[[int], torch.Tensor] = torch.hann_window, eps: float = 1e-7):
        super().__init__()
        if len(resolutions) == 0:
            raise ValueError("resolutions must hold at least one (n_fft, hop_length, win_length) triple")
        self.stfts = torch.nn.ModuleList(STFT(n, hop, win, window=window) for n, hop, win in resolutions)
        self.eps = eps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, but got {tuple(x.shape)} and {tuple(y.shape)}")
        T = x.shape[-1]
        stfts = self.stfts
        geometries = [(t.n_fft, t.hop_length, t.win_length) for t in stfts]
        _, terms = _mrstft_op(x.reshape(-1, T), y.reshape(-1, T), geometries, [t.window for t in stfts], self.eps,
                              (1.0, 1.0, 0.0), "L1", "mean")
        sc, mag, _ = terms.mean(0)  # (each term's mean over the resolutions)
        return sc, mag
