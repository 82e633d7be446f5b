"""torch's extension points around spectro.stft / spectro.istft: __torch_function__ (tensor subclasses and
TorchFunctionModes see the wrappers themselves, as torch.stft / torch.istft's do), __torch_dispatch__ modes (they see
the core ops), and the ops' direct entry points (spectro._C, what the eager wrappers call), which must behave as the
torch.ops packets do."""
from __future__ import annotations

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import spectro

N, HOP = 64, 16


class Tagged(torch.Tensor):
    """A subclass whose __torch_function__ records the functions it sees and runs them on plain tensors."""

    seen: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.seen.append(func)
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))


class Recording(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.append(func)
        return func(*args, **(kwargs or {}))


class DispatchLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.append(func)
        return func(*args, **(kwargs or {}))


def _inputs(device):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1000, generator=g).to(device)
    w = torch.hann_window(N, device=device)
    return x, w


@pytest.mark.parametrize("tagged", ["input", "window"])
def test_subclass_torch_function_sees_the_wrappers(tagged, device):
    x, w = _inputs(device)
    spec = spectro.stft(x, N, HOP, window=w, return_complex=True)
    Tagged.seen = []
    xs, ws = (x.as_subclass(Tagged), w) if tagged == "input" else (x, w.as_subclass(Tagged))
    out = spectro.stft(xs, N, HOP, window=ws, return_complex=True)
    assert Tagged.seen[0] is spectro.stft
    torch.testing.assert_close(out.as_subclass(torch.Tensor), spec, rtol=0, atol=0)
    Tagged.seen = []
    specs = spec.as_subclass(Tagged) if tagged == "input" else spec
    y = spectro.istft(specs, N, HOP, window=ws, length=1000)
    assert Tagged.seen[0] is spectro.istft
    torch.testing.assert_close(y.as_subclass(torch.Tensor), spectro.istft(spec, N, HOP, window=w, length=1000),
                               rtol=0, atol=0)


def test_torch_function_mode_sees_the_wrappers(device):
    x, w = _inputs(device)
    with Recording() as mode:
        spec = spectro.stft(x, N, HOP, window=w, return_complex=True)
        spectro.istft(spec, N, HOP, window=w, length=1000)
    assert spectro.stft in mode.seen and spectro.istft in mode.seen
    # torch.stft's behaviour under the same mode, for comparison: it is seen as itself too.
    with Recording() as mode:
        torch.stft(x, N, HOP, window=w, return_complex=True)
    assert mode.seen[0] is torch.stft


def test_device_context_mode(device):
    """`with torch.device(...)` is a TorchFunctionMode: the wrappers run inside it unchanged."""
    x, w = _inputs(device)
    ref = spectro.stft(x, N, HOP, window=w, return_complex=True)
    with torch.device(device):
        out = spectro.stft(x, N, HOP, window=w, return_complex=True)
        y = spectro.istft(out, N, HOP, window=w, length=1000)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    assert y.shape == x.shape


def test_dispatch_mode_sees_the_core_ops(device):
    x, w = _inputs(device)
    with DispatchLog() as mode:
        spec = spectro.stft(x, N, HOP, window=w, return_complex=True)
        spectro.istft(spec, N, HOP, window=w, length=1000)
    assert torch.ops.spectro.analysis.default in mode.seen
    assert torch.ops.spectro.synthesis.default in mode.seen


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
@pytest.mark.parametrize("op", ["analysis", "synthesis"])
def test_direct_entry_points_match_torch_ops(op, device):
    """Values, strides and gradients of spectro._C.<op> and torch.ops.spectro.<op> agree exactly."""
    x, w = _inputs(device)
    if op == "analysis":
        args = (x, w, N, HOP, 1000 // HOP + 1, N // 2, "reflect", False, "rfft", 1.0)
    else:
        spec = spectro.stft(x, N, HOP, window=w, return_complex=True)
        args = (spec, w, N, HOP, 1000, N // 2, "constant", True, "irfft", 1.0 / N)
    direct, packet = getattr(spectro._C, op), getattr(torch.ops.spectro, op)
    a = direct(*args)
    b = packet(*args)
    assert a.stride() == b.stride() and a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The same with out_dtype given (half-precision result) and through autograd.
    half = torch.complex32 if op == "analysis" else torch.float16
    if torch.torch_version.TorchVersion(torch.__version__) >= (2, 4):  # (torch 2.3's pybind11 takes no dtype there)
        torch.testing.assert_close(direct(*args, half).to(a.dtype), packet(*args, half).to(a.dtype), rtol=0, atol=0)
    src = args[0].detach().clone().requires_grad_()
    ga = torch.autograd.grad(direct(src, *args[1:]).abs().sum(), src)[0]
    gb = torch.autograd.grad(packet(src, *args[1:]).abs().sum(), src)[0]
    torch.testing.assert_close(ga, gb, rtol=0, atol=0)


@pytest.mark.skipif(torch.torch_version.TorchVersion(torch.__version__) < (2, 4),
                    reason="torch 2.3's pybind11 takes no torch.dtype for out_dtype: spectro uses torch.ops there")
def test_direct_entry_points_raise_cpp_warnings_as_python_warnings(device):
    """A TORCH_WARN inside the call (ATen's complex32 allocation warning) arrives as a Python UserWarning, as from
    torch's own functions (torch.empty here), so it can be filtered or turned into an error. (torch.ops entry points
    print such warnings to stderr instead.)"""
    x, w = _inputs(device)
    args = (x, w, N, HOP, 1000 // HOP + 1, N // 2, "reflect", False, "rfft", 1.0, torch.complex32)
    previous = torch.is_warn_always_enabled()
    torch.set_warn_always(True)  # (the warning is TORCH_WARN_ONCE otherwise)
    try:
        with pytest.warns(UserWarning, match="ComplexHalf support is experimental"):
            torch.empty(3, dtype=torch.complex32, device=device)
        with pytest.warns(UserWarning, match="ComplexHalf support is experimental"):
            spectro._C.analysis(*args)
    finally:
        torch.set_warn_always(previous)
