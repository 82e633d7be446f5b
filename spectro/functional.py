"""spectro.stft / spectro.istft: torch.stft / torch.istft's signatures, docstrings and __torch_function__ handling over
the C++ ops spectro::stft / spectro::istft, which own the semantics (csrc/api)."""
from __future__ import annotations

from typing import Optional

import torch

from . import _C

__all__ = ["stft", "istft"]

# The ops' direct entry points (csrc/python/module.cpp): one typed dispatcher call, with the same dispatch, errors
# and warnings as the torch.ops packets but no __torch_function__ handling, which stft / istft do themselves first (as
# torch's Python functions do). Under torch.compile the wrappers call the packets, which dynamo traces.
_stft = _C.stft
_istft = _C.istft
_is_compiling = torch.compiler.is_compiling
_has_torch_function = torch._C._has_torch_function_variadic
_handle_torch_function = torch.overrides.handle_torch_function
_KERNEL_DTYPES = ("float32", "mixed", "float16")


# Argument types: what torch's argument parser refuses with TypeError before its C++ function runs. Every other check
# runs once, in C++.
def _check_int(fn: str, name: str, value, optional: bool = True) -> None:
    """Sizes must be Python ints (or SymInts under torch.compile), as torch's schema requires: TypeError otherwise."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, torch.SymInt)):
        raise TypeError(f"spectro.{fn}: {name} must be an int, but got {type(value).__name__} ({value!r})")


def _check_kernel_dtype(fn: str, kernel_dtype) -> str:
    """kernel_dtype's check for the modules' constructors (the ops check it on every call)."""
    if isinstance(kernel_dtype, str) and kernel_dtype in _KERNEL_DTYPES:
        return kernel_dtype
    allowed = ", ".join(repr(k) for k in _KERNEL_DTYPES)
    if not isinstance(kernel_dtype, str):
        raise TypeError(f"spectro.{fn}: kernel_dtype must be a str, one of {allowed}, but got "
                        f"{type(kernel_dtype).__name__} ({kernel_dtype!r})")
    raise ValueError(f"spectro.{fn}: kernel_dtype must be one of {allowed}, but got {kernel_dtype!r}")


def _check_types(fn: str, input, n_fft, hop_length, win_length, window, kernel_dtype) -> None:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"spectro.{fn}: expected input to be a Tensor, but got {type(input).__name__}")
    if type(n_fft) is not int:  # (a SymInt under torch.compile passes)
        _check_int(fn, "n_fft", n_fft, optional=False)
    if hop_length is not None and type(hop_length) is not int:
        _check_int(fn, "hop_length", hop_length)
    if win_length is not None and type(win_length) is not int:
        _check_int(fn, "win_length", win_length)
    if window is not None and not isinstance(window, torch.Tensor):
        raise TypeError(f"spectro.{fn}: expected window to be a Tensor or None, but got {type(window).__name__}")
    if type(kernel_dtype) is not str:
        _check_kernel_dtype(fn, kernel_dtype)  # (raises TypeError; its values are checked in C++)


def stft(
    input: torch.Tensor,
    n_fft: int,
    hop_length: Optional[int] = None,
    win_length: Optional[int] = None,
    window: Optional[torch.Tensor] = None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided: Optional[bool] = None,
    return_complex: Optional[bool] = None,
    align_to_window: Optional[bool] = None,
    *,
    kernel_dtype: str = "float32",
) -> torch.Tensor:
    r"""Short-time Fourier transform: a drop-in replacement for :func:`torch.stft`.

    Same parameters, defaults, results (shape, dtype, strides, values to float rounding) and errors as
    ``torch.stft``. On CUDA one kernel pads, frames, windows and transforms (the FFT inside the kernel) where it
    applies, else a pad + frame + window kernel followed by cuFFT; on the CPU the latter with ATen's FFT.

    .. math::
        X[\omega, m] = \sum_{k=0}^{\text{n\_fft}-1} \text{window}[k]\ \text{input}[m \times \text{hop\_length} + k]\
                       \exp\left(- j \frac{2 \pi \cdot \omega k}{\text{n\_fft}}\right)

    Args:
        input: signal of shape ``(..., T)``, real (float32/float64) or complex (complex64/complex128). Unlike
            ``torch.stft``, any number of leading batch dimensions is accepted (torch allows 1D or 2D input).
            Half precision is accepted on every device and for every ``n_fft``: float16 / bfloat16 (and
            complex32) input, or a float16 / bfloat16 window, is computed in single precision (float32 /
            complex64): the op reads a half input as it is (on CUDA's single-kernel path the kernel loads half
            directly; elsewhere the op converts it in one pass) and the window is converted to float32. The result
            is then complex64 (torch.stft rejects bfloat16 and returns complex32 for float16 on CUDA with
            power-of-two ``n_fft`` only). With a float64 window the computation is double precision and a half
            input is converted to float64. Gradients come back in the input's and the window's own dtypes.
        n_fft: size of the Fourier transform.
        hop_length: distance between neighbouring frames. Default ``n_fft // 4``.
        win_length: size of the window, ``0 < win_length <= n_fft``; the window is zero-padded on both sides to
            ``n_fft``. Default ``n_fft``.
        window: 1D tensor of size ``win_length``, real or complex. Default: a rectangular window (``torch.ones``),
            with the same warning as torch. The computation runs in the promoted dtype of input and window (half
            precision promoted to single, as above). A complex window makes the result two-sided and complex, as in
            torch; it is computed as two transforms, one with its real and one with its imaginary part.
        center: pad ``input`` by ``n_fft // 2`` on both sides so that frame ``m`` is centred at
            ``m * hop_length``. Default ``True``.
        pad_mode: padding used when ``center`` is True: ``"reflect"`` (default), ``"constant"`` (zeros),
            ``"replicate"`` or ``"circular"``, as :func:`torch.nn.functional.pad`.
        normalized: multiply the result by ``n_fft ** -0.5``. Default ``False``.
        onesided: return only the ``n_fft // 2 + 1`` non-negative frequencies. Default ``True`` for real input,
            ``False`` for complex input (which cannot be onesided).
        return_complex: return a complex tensor (``True``) or torch's deprecated ``view_as_real`` layout
            (``False``, with torch's deprecation warning). Required for real input, as in torch.
        align_to_window: only with ``center=False``: when ``win_length < n_fft``, place frame ``m`` so that the
            window (rather than the ``n_fft`` span) starts at ``m * hop_length``. Default: ``False``.
        kernel_dtype: (keyword-only, not in torch.stft) the precision the result is stored in.

            * ``"float32"`` (default): as described above: the result in the compute dtype, complex64 (complex128
              when the input or window is double precision; float32 / float64 with ``return_complex=False``).
            * ``"mixed"``: the same single-precision computation (float32 / complex64; a half input is read in
              half precision, as above; windowing and the FFT in float32), with the
              spectrum *stored in half precision*: complex32 (float16 with ``return_complex=False``), each real
              and imaginary part the float32 result rounded once to nearest, so half the output bytes. Error
              against the exact transform of the input values, per real component: ``|X~ - X| <= eps16/2 * |X| +
              (1 + eps16/2) * e32 + 2**-25`` with ``eps16 = 2**-10`` (float16's machine epsilon), ``e32`` the
              float32 result's own error (FFT rounding, ``<~ 4 * eps32 * log2(n_fft) * max|X|``) and ``2**-25`` half
              the spacing of float16's subnormals. Magnitudes beyond float16's range (65504) become ``inf``
              (``normalized=True`` scales the spectrum by ``n_fft ** -0.5``). float64 / complex128 input or window:
              ``ValueError`` (convert to float32 first, or use ``"float32"``). Gradients: the gradient arriving at
              the complex32 result is converted to complex64, the backward runs in single precision, and the input
              and window gradients come back in their own dtypes. complex32 has few working torch ops
              (``.to(torch.complex64)`` or ``torch.view_as_real`` first). On CUDA's single-kernel path the kernel
              stores complex32 itself (half the output bytes written); elsewhere the single-precision result is
              converted in one more pass (the same values).
            * ``"float16"``: half-precision *storage* throughout, float32 arithmetic. The signal and the window are
              read as half-precision values: float16 / bfloat16 / complex32 as they are, wider dtypes (float32,
              float64, complex64, complex128) first rounded to nearest float16 / complex32 (one conversion pass);
              windowing and the FFT run in float32 (no half-precision arithmetic: it would add rounding that grows
              with ``log2(n_fft)``, and the kernels are not arithmetic-bound); the spectrum is stored as in
              ``"mixed"``. Exactly ``"mixed"`` applied to the rounded input and window, so the result depends only on
              their half-precision values (as in a pipeline that stores everything in half precision); never
              faster than ``"mixed"``. Error against the exact transform of the original values, per real
              component: the ``"mixed"`` bound plus ``(1 + eps16/2) * (eps16 + eps16**2/4) * |scale| * S_m``, the
              rounding of input and window (each value within ``eps16/2 * (|v| + 2**-14)``), with ``S_m = sum_k
              (|w[k]| + 2**-14) * (|x_m[k]| + 2**-14)`` over the samples ``x_m[k]`` of frame ``m`` and ``scale =
              n_fft ** -0.5`` with ``normalized=True``, else 1. Double-precision inputs are accepted (rounded).
              Gradients flow through the conversions: they come back in the input's and window's own dtypes.

    Returns:
        ``(..., n_fft // 2 + 1 or n_fft, n_frames)`` complex tensor (or ``(..., F, n_frames, 2)`` real), with
        ``n_frames = 1 + (T_padded - n_fft) // hop_length``. Like torch's, the result lies in a frame-major buffer
        (bins contiguous): its strides equal ``torch.stft``'s (also for the half-precision kernel_dtypes).
    """
    # __torch_function__ (tensor subclasses, TorchFunctionModes) sees spectro.stft itself, as torch.stft's does.
    if _has_torch_function(input, window):
        return _handle_torch_function(
            stft, (input, window), input, n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode, normalized=normalized, onesided=onesided, return_complex=return_complex,
            align_to_window=align_to_window, kernel_dtype=kernel_dtype,
        )
    if center and align_to_window is not None:  # (torch.stft's first check)
        raise RuntimeError("stft align_to_window should only be set when center = false")
    if (type(input) is not torch.Tensor or type(n_fft) is not int or type(kernel_dtype) is not str
            or not (hop_length is None or type(hop_length) is int)
            or not (win_length is None or type(win_length) is int)
            or not (window is None or isinstance(window, torch.Tensor))):
        _check_types("stft", input, n_fft, hop_length, win_length, window, kernel_dtype)
    if type(pad_mode) is not str:
        raise NotImplementedError(
            "spectro.stft: pad_mode must be one of 'constant', 'reflect', 'replicate', 'circular', but got "
            f"{pad_mode!r}"
        )
    # Eagerly the op's direct entry point (arguments by position: the cheapest call); dynamo traces the packet.
    if _is_compiling():
        return torch.ops.spectro.stft(
            input, n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided, return_complex,
            align_to_window, kernel_dtype=kernel_dtype,
        )
    return _stft(input, n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided, return_complex,
                 align_to_window, kernel_dtype)


def istft(
    input: torch.Tensor,
    n_fft: int,
    hop_length: Optional[int] = None,
    win_length: Optional[int] = None,
    window: Optional[torch.Tensor] = None,
    center: bool = True,
    normalized: bool = False,
    onesided: Optional[bool] = None,
    length: Optional[int] = None,
    return_complex: bool = False,
    *,
    torch_like: bool = False,
    safety: str = "auto",
    kernel_dtype: str = "float32",
) -> torch.Tensor:
    r"""Inverse short-time Fourier transform: a drop-in replacement for :func:`torch.istft`.

    Same parameters, defaults, results and errors as ``torch.istft`` (inverse FFT, window, overlap-add, division by
    the window envelope, trimming), without torch's GPU->host synchronisation: by default the call never waits for
    the GPU in steady state, so it can run inside CUDA graphs and ``torch.compile``.

    Args:
        input: complex spectrum ``(..., F, n_frames)`` with ``F = n_fft // 2 + 1`` (onesided) or ``n_fft``; any
            number of leading batch dimensions (torch allows 2D or 3D). complex64, complex128, or complex32 (half):
            a complex32 spectrum is computed in single precision (the op reads it as it is: on CUDA's single-kernel
            path the kernel loads complex32 directly, elsewhere the op converts it to complex64 in one pass; with a
            float64 window it is converted to complex128), and the result is float16 (complex32 with
            ``return_complex=True``) unless the window promotes it (a float32 window gives float32; a bfloat16
            window, promoted with float16, too).
        n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex: as
            :func:`torch.istft`. A complex window needs ``return_complex=True`` and divides by torch's complex window
            envelope (the sum of the squared shifted windows). ``hop_length`` defaults to
            ``n_fft // 4``, ``win_length`` to ``n_fft``, the window to rectangular. Two-sided real inverses use the
            first ``n_fft // 2 + 1`` bins, as torch does.
        torch_like: what a NOLA violation does. torch.istft raises ``RuntimeError`` when the window envelope
            (sum of squared, shifted windows) falls below ``1e-11`` anywhere in the output. With
            ``torch_like=True`` spectro raises exactly there (same condition, same exception type). With the default
            ``torch_like=False`` it never raises for NOLA: output samples whose envelope is below ``1e-11`` are set
            to 0 and every other sample is divided by its envelope, and a detected violation only warns.
        safety: when the NOLA condition is checked (a check copies one scalar to the host, i.e. synchronises):
            ``"auto"`` (default) checks once per (window storage and version, geometry) and remembers a pass, so
            steady-state calls never synchronise; it skips the check while a CUDA graph is being captured or
            torch.compile is tracing. ``"always"`` checks every call. ``"off"`` never checks
            (``torch_like=True`` with ``safety="off"`` is an error: it could not raise where torch raises).
        kernel_dtype: the precision the result is stored in.

            * ``"float32"`` (default): as described here: the result in the promoted dtype of the input's real type
              and the window's.
            * ``"mixed"``: the same single-precision computation (complex64 / float32; a complex32 spectrum is read
              in half precision, as above; inverse FFT, window, overlap-add and envelope
              division in float32), with the signal *stored in half precision*: **float16**, or **bfloat16 when the
              window is bfloat16** (the way to ask for a bfloat16 signal: torch has no complex bfloat16 spectrum to
              carry that choice), whatever the spectrum's dtype (complex64 or complex32). With
              ``return_complex=True``: complex32 (a bfloat16 window then raises ``ValueError``: there is no complex
              bfloat16). Each value is the float32 result rounded once to nearest. Error against the exact inverse
              of the input values, per real component: ``|y~ - y| <= eps/2 * |y| + (1 + eps/2) * e32 + tiny``
              with ``eps = 2**-10`` (float16) or ``2**-7`` (bfloat16), ``e32`` the float32 result's own error (FFT
              and overlap-add rounding, divided by the window envelope at that sample) and ``tiny`` half the
              spacing of the half dtype's subnormals (``2**-25`` for float16). float16 overflows to ``inf`` beyond
              65504. float64 / complex128 input or window: ``ValueError``. Gradients: the half gradient of the
              result is converted to float32 (complex64), the backward runs in single precision, and the
              spectrum's and window's gradients come back in their own dtypes. On CUDA's single-kernel path the
              kernel stores the half result itself; elsewhere the float32 result is converted in one more pass
              (the same values).
            * ``"float16"``: half-precision storage throughout, float32 arithmetic, as for :func:`stft`: the spectrum
              is read as complex32 (complex64 / complex128 first rounded to nearest) and the window as float16 /
              bfloat16 (float32 / float64 rounded to nearest float16), then exactly as ``"mixed"`` on those values
              (the same output dtypes; bfloat16 with a bfloat16 window). Error: the ``"mixed"`` bound against the
              exact inverse of the rounded spectrum with the rounded window ``w~``; against the exact inverse of the
              original spectrum (with ``w~``), add ``(1 + eps/2) * (eps16/2) * sum_m |w~[t - m hop]| A_m / env(t)``
              at sample ``t``: the spectrum's rounding, with ``A_m = |scale| * sum_b c_b (|X_m[b]| + 2**-13.5)``
              over the bins ``b`` of frame ``m`` that the inverse uses (``c_b`` 2 for the interior bins of a real
              result, else 1), ``scale = 1 / n_fft`` (``n_fft ** -0.5`` with ``normalized=True``) and ``env`` the
              envelope of ``w~``. Double-precision inputs are accepted (rounded).

    Returns:
        real signal ``(..., length)`` (complex with ``return_complex=True``) in the promoted dtype of the input's
        real type and the window's (float16 for a complex32 input with a float16 or no window; with
        ``kernel_dtype="mixed"``, float16 / bfloat16 / complex32 as above); ``length`` defaults to
        ``n_fft + hop_length * (n_frames - 1)`` minus the centre padding.
    """
    # __torch_function__ (tensor subclasses, TorchFunctionModes) sees spectro.istft itself, as torch.istft's does.
    if _has_torch_function(input, window):
        return _handle_torch_function(
            istft, (input, window), input, n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, normalized=normalized, onesided=onesided, length=length, return_complex=return_complex,
            torch_like=torch_like, safety=safety, kernel_dtype=kernel_dtype,
        )
    if type(safety) is not str:
        raise ValueError(f"spectro.istft: safety must be one of 'auto', 'always', 'off', but got {safety!r}")
    if (type(input) is not torch.Tensor or type(n_fft) is not int or type(kernel_dtype) is not str
            or not (hop_length is None or type(hop_length) is int)
            or not (win_length is None or type(win_length) is int)
            or not (window is None or isinstance(window, torch.Tensor))):
        _check_types("istft", input, n_fft, hop_length, win_length, window, kernel_dtype)
    if length is not None and type(length) is not int:
        _check_int("istft", "length", length)
    if _is_compiling():
        if torch_like or safety == "always":
            # The NOLA check reads the host: run eagerly, outside the graph (a graph break), as torch.istft's does.
            _C.istft_nola_check(
                input, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex,
                torch_like=torch_like, safety=safety, kernel_dtype=kernel_dtype,
            )
        return torch.ops.spectro.istft(
            input, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex,
            torch_like=torch_like, safety=safety, kernel_dtype=kernel_dtype,
        )
    return _istft(input, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex,
                  torch_like, safety, kernel_dtype)
