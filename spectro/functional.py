"""spectro.stft / spectro.istft: torch.stft / torch.istft's signatures, semantics and errors on spectro's kernels."""
from __future__ import annotations

import warnings
import weakref
from typing import Optional

import torch

from . import _C, _geometry

__all__ = ["stft", "istft"]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")
_SAFETY = ("auto", "always", "off")
_SUPPORTED = (torch.float32, torch.float64, torch.complex64, torch.complex128, torch.float16, torch.bfloat16,
              torch.complex32)
_REAL_SUPPORTED = (torch.float32, torch.float64, torch.float16, torch.bfloat16)  # (the window's)
_COMPLEX_SUPPORTED = (torch.complex64, torch.complex128, torch.complex32)  # (istft's input: every complex dtype)
# The dtype a half-precision tensor is computed in (single precision). stft / istft give a half input to the op as it
# is when the computation is single precision (the ops read float16 / bfloat16 signals and complex32 spectra
# themselves), and convert it only for a double-precision computation (a float64 window).
_COMPUTE = {torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.complex32: torch.complex64}

# kernel_dtype values (see stft's docstring and notes/half_precision.md): "float32" (the compute dtype throughout),
# "mixed" (float32 arithmetic, result stored in half precision), "float16" (half-precision storage of the inputs as
# well: "mixed" on the inputs rounded to half precision).
_KERNEL_DTYPES = ("float32", "mixed", "float16")
# What "float16" rounds a wider input to: its half-precision counterpart.
_HALF_STORAGE = {torch.float32: torch.float16, torch.float64: torch.float16, torch.complex64: torch.complex32,
                 torch.complex128: torch.complex32}

_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128, torch.float16: torch.complex32}
_REAL_OF = {torch.complex64: torch.float32, torch.complex128: torch.float64, torch.complex32: torch.float16}

# The ops' direct entry points (csrc/python.cpp): one typed dispatcher call, about half the host time of the torch.ops
# packets' C++ entry points, with the same dispatch, errors and warnings but no __torch_function__ handling, which
# stft / istft do themselves first (as torch's Python functions do). Under torch.compile the wrappers call the
# packets, which dynamo traces.
_analysis = _C.analysis
_synthesis = _C.synthesis
if torch.torch_version.TorchVersion(torch.__version__) < (2, 4):
    # torch 2.3's pybind11 bindings convert no torch.dtype to at::ScalarType, so the direct entry points reject the
    # out_dtype of kernel_dtype="mixed" / "float16" (TypeError: incompatible function arguments): use the packets
    # (the same op and dispatch, a little more host time per call).
    _analysis = torch.ops.spectro.analysis.default
    _synthesis = torch.ops.spectro.synthesis.default
_is_compiling = torch.compiler.is_compiling
_has_torch_function = torch._C._has_torch_function_variadic
_handle_torch_function = torch.overrides.handle_torch_function

_warned = set()


def _warn_once(key: str, message: str) -> None:
    # torch's TORCH_WARN_ONCE: once per process, or every time under torch.set_warn_always(True).
    if key not in _warned or torch.is_warn_always_enabled():
        _warned.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def _check_dtype(fn: str, name: str, t: torch.Tensor) -> None:
    # RuntimeError, as torch.stft / torch.istft raise for dtypes they reject.
    if t.dtype not in _SUPPORTED:
        raise RuntimeError(f"spectro.{fn}: expected {name} of floating point or complex dtype, but got {t.dtype}")


def _check_int(fn: str, name: str, value, optional: bool = True) -> None:
    """Sizes must be Python ints (or SymInts under torch.compile), as torch's schema requires: TypeError otherwise."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, torch.SymInt)):
        raise TypeError(f"spectro.{fn}: {name} must be an int, but got {type(value).__name__} ({value!r})")


def _check_kernel_dtype(fn: str, kernel_dtype) -> str:
    """Validate kernel_dtype and return it."""
    if isinstance(kernel_dtype, str) and kernel_dtype in _KERNEL_DTYPES:  # (the common case first: every call)
        return kernel_dtype
    allowed = ", ".join(repr(k) for k in _KERNEL_DTYPES)
    if not isinstance(kernel_dtype, str):
        raise TypeError(f"spectro.{fn}: kernel_dtype must be a str, one of {allowed}, but got "
                        f"{type(kernel_dtype).__name__} ({kernel_dtype!r})")
    raise ValueError(f"spectro.{fn}: kernel_dtype must be one of {allowed}, but got {kernel_dtype!r}")


def _half_storage(t):
    """kernel_dtype="float16": t (input or window; None passes) as half-precision values: float16 / bfloat16 /
    complex32 as they are, wider dtypes rounded to nearest float16 / complex32 (one conversion pass)."""
    if t is None or t.dtype not in _HALF_STORAGE:
        return t
    return t.to(_HALF_STORAGE[t.dtype])


def _check_mixed_precision(fn: str, compute_dtype: torch.dtype) -> None:
    """kernel_dtype='mixed' computes in single precision: double-precision inputs are refused, not downcast."""
    if compute_dtype in (torch.float64, torch.complex128):
        raise ValueError(
            f"spectro.{fn}: kernel_dtype='mixed' computes in float32 and stores the result in half precision, but the "
            f"input and window promote to {compute_dtype} (double precision). Convert them to float32 (or a half "
            "dtype) first, or use kernel_dtype='float32' (which computes double precision inputs in double precision)"
        )


def _resolve_window(fn: str, window, win_length: int, n_fft: int, like: torch.Tensor, real_dtype) -> torch.Tensor:
    """The window zero-padded (centred) to n_fft, in real_dtype; a rectangular window when None."""
    if window is None:
        window = torch.ones(win_length, dtype=real_dtype, device=like.device)
    elif window.dtype != real_dtype:
        window = window.to(real_dtype)
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        window = torch.nn.functional.pad(window, (left, n_fft - win_length - left))
    return window


def _window_ok(window, win_length: int, like: torch.Tensor) -> bool:
    """Whether _check_window passes: the cheap test of every call (the messages are built only when it fails)."""
    return window is None or (
        isinstance(window, torch.Tensor)
        and window.dim() == 1
        and window.shape[0] == win_length
        and window.dtype in _REAL_SUPPORTED
        and window.device == like.device
    )


def _check_window(fn: str, window, win_length: int, like: torch.Tensor) -> None:
    if window is None:
        return
    if not isinstance(window, torch.Tensor):
        raise TypeError(f"spectro.{fn}: expected window to be a Tensor or None, but got {type(window).__name__}")
    if window.dim() != 1 or window.shape[0] != win_length:
        raise RuntimeError(
            f"spectro.{fn}: expected a 1D window tensor of size equal to win_length={win_length}, "
            f"but got window with size {tuple(window.shape)}"
        )
    if window.is_complex():
        raise RuntimeError(f"spectro.{fn}: complex windows are not supported (torch.{fn} accepts them)")
    _check_dtype(fn, "window", window)
    if window.device != like.device:
        raise RuntimeError(
            f"spectro.{fn}: expected window on the input's device {like.device}, but got window on {window.device}"
        )


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
        window: real 1D tensor of size ``win_length``. Default: a rectangular window (``torch.ones``), with the
            same warning as torch. Complex windows are not supported. The computation runs in the promoted dtype of
            input and window (half precision promoted to single, as above).
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
    # Host time: the common valid call is the wrapper's hot path (small eager calls are host-bound), so every check
    # below is a cheap inline test in the order of the original checks (which error a call with several bad
    # arguments gets is unchanged), and the helpers that build the error messages run only when a test fails. Each
    # tensor attribute is read once.
    if center and align_to_window is not None:
        raise RuntimeError("stft align_to_window should only be set when center = false")
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"spectro.stft: expected input to be a Tensor, but got {type(input).__name__}")
    in_dtype = input.dtype
    if in_dtype not in _SUPPORTED:
        _check_dtype("stft", "input", input)
    kd = kernel_dtype
    if type(kd) is not str or kd not in _KERNEL_DTYPES:
        kd = _check_kernel_dtype("stft", kernel_dtype)
    nd = input.dim()
    if nd < 1:
        raise RuntimeError("spectro.stft: expected input with at least 1 dimension (..., time), but got a 0-D tensor")
    if type(n_fft) is not int:  # (bool, float, ... raise there; a SymInt under torch.compile passes)
        _check_int("stft", "n_fft", n_fft, optional=False)
    if hop_length is None:
        hop_length = n_fft // 4
    elif type(hop_length) is not int:
        _check_int("stft", "hop_length", hop_length)
    if win_length is None:
        win_length = n_fft
    elif type(win_length) is not int:
        _check_int("stft", "win_length", win_length)
    if pad_mode not in _PAD_MODES:
        raise NotImplementedError(
            f"spectro.stft: pad_mode must be one of {', '.join(repr(m) for m in _PAD_MODES)}, but got {pad_mode!r}"
        )
    if return_complex is None:
        return_complex = input.is_complex()
        if not return_complex:
            raise RuntimeError(
                "stft requires the return_complex parameter be given for real inputs, and will further require "
                "that return_complex=True in a future PyTorch release."
            )
    if not return_complex:
        _warn_once(
            "stft_return_complex",
            "stft with return_complex=False is deprecated. In a future pytorch release, stft will return complex "
            "tensors for all inputs, and return_complex=False will raise an error.\nNote: you can still call "
            "torch.view_as_real on the complex output to recover the old return format.",
        )
    if window is None:
        _warn_once(
            "stft_window",
            "A window was not provided. A rectangular window will be applied,which is known to cause spectral "
            "leakage. Other windows such as torch.hann_window or torch.hamming_window are recommended to reduce "
            "spectral leakage.To suppress this warning and use a rectangular window, explicitly set "
            "`window=torch.ones(n_fft, device=<device>)`.",
        )
    shape = input.shape
    T = shape[-1]
    if 0 in shape:  # (an empty input: no node in a dynamo graph, unlike numel())
        raise RuntimeError(f"spectro.stft: expected a non-empty input, but got input of shape {tuple(shape)}")

    if center:
        pad = n_fft // 2
        if pad_mode == "reflect" and pad >= T:
            raise RuntimeError(
                f"spectro.stft: pad_mode='reflect' pads by n_fft // 2 = {pad}, which must be smaller than the input "
                f"length {T}"
            )
        if pad_mode == "circular" and pad > T:
            raise RuntimeError(
                f"spectro.stft: pad_mode='circular' pads by n_fft // 2 = {pad}, which must be at most the input "
                f"length {T} (padding wraps around more than once)"
            )
        padded_len, mode = T + 2 * pad, pad_mode
    else:
        pad, padded_len, mode = 0, T, "constant"
    if n_fft <= 0 or n_fft > padded_len:
        raise RuntimeError(f"spectro.stft: expected 0 < n_fft <= {padded_len}, but got n_fft={n_fft}")
    if hop_length <= 0:
        raise RuntimeError(f"spectro.stft: expected hop_length > 0, but got hop_length={hop_length}")
    if win_length <= 0 or win_length > n_fft:
        raise RuntimeError(f"spectro.stft: expected 0 < win_length <= n_fft, but got win_length={win_length}")
    if not _window_ok(window, win_length, input):
        _check_window("stft", window, win_length, input)  # (raises)

    if align_to_window and not center:
        # The window (not the n_fft span) starts at m * hop: frames begin (n_fft - win_length) // 2 samples early.
        pad = (n_fft - win_length) // 2
        n_frames = 1 + (T - win_length) // hop_length
    else:
        n_frames = 1 + (padded_len - n_fft) // hop_length

    mixed = kd != "float32"
    if mixed and kd == "float16":  # the input and window as half-precision values too: then as "mixed"
        input, window = _half_storage(input), _half_storage(window)
        in_dtype = input.dtype
    if window is None:
        dtype = in_dtype
    else:
        w_dtype = window.dtype
        dtype = in_dtype if w_dtype == in_dtype else torch.promote_types(in_dtype, w_dtype)
    dtype = _COMPUTE.get(dtype, dtype)
    if mixed:
        _check_mixed_precision("stft", dtype)
    real_dtype = _REAL_OF.get(dtype, dtype)
    # (Conversions and reshapes only where needed: each no-op call still costs host time.) A half input goes to the
    # op as it is when the computation is single precision (the op reads half itself); only a half input of a
    # double-precision computation is converted here.
    x = input if in_dtype == dtype or _COMPUTE.get(in_dtype) == dtype else input.to(dtype)
    if nd == 1:
        x = x.view(1, T)  # (= reshape(-1, T): a 1-D tensor always has this view)
    elif nd != 2:
        x = x.reshape(-1, T)
    if window is None or w_dtype != real_dtype or win_length != n_fft:
        w = _resolve_window("stft", window, win_length, n_fft, input, real_dtype)
    else:
        w = window
    if dtype != real_dtype:  # complex input (a real window cannot make the computation complex)
        if onesided:
            raise RuntimeError("Cannot have onesided output if window or input is complex")
        fft_mode, bins = "fft", n_fft
    elif onesided is None or onesided:
        fft_mode, bins = "rfft", n_fft // 2 + 1
    else:
        fft_mode, bins = "rfft_full", n_fft
    scale = n_fft**-0.5 if normalized else 1.0
    # out_dtype: complex32 for kernel_dtype "mixed" / "float16" (computed in float32, stored in half), else the
    # compute dtype. (Eagerly the op's direct entry point; dynamo traces the torch.ops packet.)
    out = (torch.ops.spectro.analysis if _is_compiling() else _analysis)(
        x, w, n_fft, hop_length, n_frames, pad, mode, False, fft_mode, scale, torch.complex32 if mixed else None
    )
    # (The op's result is (batch, bins, n_frames); sizes passed as separate ints: a tuple argument costs more.)
    if nd == 1:
        out = out.reshape(bins, n_frames)  # (reshape, not view: the same grad_fn as before, ReshapeAliasBackward0)
    elif nd != 2:
        out = out.reshape(*shape[:-1], bins, n_frames)
    return out if return_complex else torch.view_as_real(out)


# Windows (and geometries) whose NOLA check passed, for safety="auto": {window key: {(version, geometry)}}. A window
# tensor's entry lives exactly as long as the tensor (weakref.finalize drops it), so a new window that happens to
# reuse a freed window's memory never inherits its pass.
_nola_ok = {}


def _nola_window_key(window):
    if window is None:
        return None
    key = id(window)
    if key not in _nola_ok:
        weakref.finalize(window, _nola_ok.pop, key, None)
    return key


def nola_envelope_min(window: torch.Tensor, hop_length: int, n_frames: int, start: int, end: int) -> torch.Tensor:
    """Smallest |window envelope| over output samples [start, end) (a 0-d tensor on the window's device)."""
    env = _geometry.envelope(window.detach(), hop_length, n_frames)
    return env[start:end].abs().min()


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
            :func:`torch.istft`. ``hop_length`` defaults to ``n_fft // 4``, ``win_length`` to ``n_fft``, the window to
            rectangular. Two-sided real inverses use the first ``n_fft // 2 + 1`` bins, as torch does.
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
    # Host time: as in stft, cheap inline tests in the order of the original checks, message-building helpers only
    # where a test fails, each tensor attribute read once; and the NOLA pass cache's hit (safety="auto"'s steady
    # state) is looked up here, without a call.
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"spectro.istft: expected input to be a Tensor, but got {type(input).__name__}")
    if safety not in _SAFETY:
        raise ValueError(f"spectro.istft: safety must be one of 'auto', 'always', 'off', but got {safety!r}")
    if torch_like and safety == "off":
        raise ValueError("spectro.istft: torch_like=True needs the NOLA check, so safety='off' is not allowed")
    kd = kernel_dtype
    if type(kd) is not str or kd not in _KERNEL_DTYPES:
        kd = _check_kernel_dtype("istft", kernel_dtype)
    if type(n_fft) is not int:  # (bool, float, ... raise there; a SymInt under torch.compile passes)
        _check_int("istft", "n_fft", n_fft, optional=False)
    if hop_length is not None and type(hop_length) is not int:
        _check_int("istft", "hop_length", hop_length)
    if win_length is not None and type(win_length) is not int:
        _check_int("istft", "win_length", win_length)
    if length is not None and type(length) is not int:
        _check_int("istft", "length", length)
    in_dtype = input.dtype
    if in_dtype not in _COMPLEX_SUPPORTED:  # (every complex dtype is supported)
        if not input.is_complex():
            raise RuntimeError(
                "istft requires a complex-valued input tensor matching the output from stft with return_complex=True."
            )
        _check_dtype("istft", "input", input)
    nd = input.dim()
    shape = input.shape
    if nd < 2:
        raise RuntimeError(f"spectro.istft: expected input of shape (..., freq, frames), but got shape {tuple(shape)}")
    if 0 in shape:
        raise RuntimeError("spectro.istft: input tensor cannot be empty.")
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    if n_fft <= 0:
        raise RuntimeError(f"spectro.istft: expected n_fft > 0, but got n_fft={n_fft}")
    if not 0 < win_length <= n_fft:
        raise RuntimeError(f"spectro.istft: expected 0 < win_length <= n_fft, but got win_length={win_length}")
    if not 0 < hop_length <= win_length:
        raise RuntimeError(
            f"spectro.istft: expected 0 < hop_length <= win_length, but got hop_length={hop_length}, "
            f"win_length={win_length}"
        )
    if not _window_ok(window, win_length, input):
        _check_window("istft", window, win_length, input)  # (raises)
    bins, n_frames = shape[-2], shape[-1]
    if onesided is None:
        onesided = bins != n_fft
    expected = n_fft // 2 + 1 if onesided else n_fft
    if bins != expected:
        raise RuntimeError(
            f"spectro.istft: expected the frequency dimension (2nd to the last) of the input to be {expected} "
            f"(n_fft={n_fft}, onesided={onesided}), but got {bins}"
        )
    if return_complex and onesided:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    if length is not None and length <= 0:
        raise RuntimeError(f"spectro.istft: expected length > 0, but got length={length}")

    natural = n_fft + hop_length * (n_frames - 1)
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = natural - n_fft // 2 if center else natural
    out_len = end - start
    if out_len <= 0:
        raise RuntimeError(
            f"spectro.istft: {n_frames} frame(s) of n_fft={n_fft}, hop_length={hop_length} leave no output samples "
            f"after trimming the centre padding"
        )
    if end > natural:
        _warn_once(
            "istft_length",
            "The length of signal is shorter than the length parameter. Result is being padded with zeros in the "
            "tail. Please check your center and hop_length settings.",
        )

    # kernel_dtype="float16": the spectrum and window as half-precision values too, then as "mixed". (`window` stays
    # the caller's tensor: the NOLA check's cache is keyed on it.)
    win = window
    mixed = kd != "float32"
    if mixed and kd == "float16":
        input, win = _half_storage(input), _half_storage(window)
        in_dtype = input.dtype
    out_dtype = _REAL_OF[in_dtype]
    if win is not None:
        w_dtype = win.dtype
        if w_dtype != out_dtype:
            out_dtype = torch.promote_types(out_dtype, w_dtype)
    real_dtype = _COMPUTE.get(out_dtype, out_dtype)
    op_out_dtype = None  # the op's out_dtype: None = its compute dtype
    if mixed:
        _check_mixed_precision("istft", real_dtype)
        out_dtype = torch.bfloat16 if win is not None and w_dtype == torch.bfloat16 else torch.float16
        if return_complex:
            if out_dtype == torch.bfloat16:
                raise ValueError(
                    f"spectro.istft: kernel_dtype={kd!r} with a bfloat16 window asks for a bfloat16 signal, but "
                    "return_complex=True has no complex bfloat16 dtype: pass a float16 or float32 window (complex32 "
                    "result) or kernel_dtype='float32'"
                )
            op_out_dtype = torch.complex32
        else:
            op_out_dtype = out_dtype
    spec_dtype = _COMPLEX_OF[real_dtype]
    # A complex32 spectrum goes to the op as it is when the computation is complex64 (the op reads it itself); only
    # one of a complex128 computation (a float64 window) is converted here.
    spec = input if in_dtype == spec_dtype or _COMPUTE.get(in_dtype) == spec_dtype else input.to(spec_dtype)
    if nd == 2:
        spec = spec.view(1, bins, n_frames)  # (= reshape(-1, bins, n_frames): a 2-D tensor always has this view)
    elif nd != 3:
        spec = spec.reshape(-1, bins, n_frames)
    if win is None or w_dtype != real_dtype or win_length != n_fft:
        w = _resolve_window("istft", win, win_length, n_fft, input, real_dtype)
    else:
        w = win
    if return_complex:
        fft_mode = "ifft"
    else:
        fft_mode = "irfft"
        if not onesided:
            spec = spec[:, : n_fft // 2 + 1]
    scale = n_fft**-0.5 if normalized else 1.0 / n_fft

    compiling = _is_compiling()
    if safety == "auto":
        # The NOLA check's steady state: a cache hit (no call). Under torch.compile _nola would return at once.
        if not compiling:
            check_end = end if end < natural else natural
            # (The key's dtypes also tell a rounded window ("float16") from the caller's.)
            key = (None if window is None else window._version, n_fft, hop_length, win_length, n_frames, start,
                   check_end, spec.dtype, kd == "float16", w.device)
            passed = _nola_ok.get(None if window is None else id(window))
            if passed is None or key not in passed:
                _nola(w, window, hop_length, n_frames, start, check_end, key, torch_like, safety)
    elif safety == "always":
        _nola(w, window, hop_length, n_frames, start, min(end, natural), None, torch_like, safety)
    # op_out_dtype: kernel_dtype "mixed" / "float16" compute in float32 and store in half precision. (Eagerly the op's
    # direct entry point; dynamo traces the torch.ops packet.)
    y = (torch.ops.spectro.synthesis if compiling else _synthesis)(
        spec, w, n_fft, hop_length, out_len, start, "constant", True, fft_mode, scale, op_out_dtype
    )
    if op_out_dtype is None and out_dtype != real_dtype:  # float16 result (a complex32 spectrum): computed in float32
        y = y.to(_COMPLEX_OF[out_dtype] if return_complex else out_dtype)
    # (The op's result is (batch, out_len); sizes passed as separate ints: a tuple argument costs more.)
    if nd == 2:
        return y.reshape(out_len)
    if nd == 3:
        return y
    return y.reshape(*shape[:-2], out_len)


def _nola(w, window, hop, n_frames, start, end, key, torch_like, safety) -> None:
    """The NOLA check of istft's safety "auto" (key: the pass cache's key, built by istft, which calls this only on a
    cache miss) and "always" (key None)."""
    # is_compiling first: dynamo cannot trace torch.cuda.is_current_stream_capturing().
    compiling = torch.compiler.is_compiling()
    capturing = not compiling and w.is_cuda and torch.cuda.is_current_stream_capturing()
    if safety == "auto":
        if capturing or compiling:
            return
        wkey = _nola_window_key(window)
    elif capturing:
        raise RuntimeError(
            "spectro.istft: safety='always' and torch_like=True check the NOLA condition on the host, which cannot "
            "happen during CUDA graph capture; use safety='auto' (checked before capture) or 'off'"
        )
    lowest = float(nola_envelope_min(w, hop, n_frames, start, end))
    if lowest < _geometry.ENVELOPE_EPS:
        if torch_like:
            raise RuntimeError(f"spectro.istft: window overlap add min: {lowest:g} < 1e-11 (NOLA condition failed)")
        warnings.warn(
            f"spectro.istft: the window envelope falls to {lowest:g} (< 1e-11, NOLA condition failed); output "
            "samples there are set to 0 (torch.istft would raise; pass torch_like=True for that)",
            UserWarning,
            stacklevel=3,
        )
    elif safety == "auto":
        _nola_ok.setdefault(wkey, set()).add(key)
