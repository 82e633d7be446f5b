"""Half precision (float16 / bfloat16 signals and windows, complex32 spectra): accepted on every device and for every
n_fft, converted to single precision on the way in and computed there.

Definitions under test (spectro.stft / spectro.istft docstrings):
* stft: float16 / bfloat16 / complex32 input (or a half window) -> computed in float32 -> complex64 result
  (float32 with return_complex=False). So the result equals spectro.stft of the converted tensors bit for bit, and
  its error against a float64 transform of the same (half) values is float32 FFT rounding, not half rounding.
* istft: complex32 spectrum -> computed in complex64 -> float16 result (complex32 with return_complex=True), unless
  the window promotes the result dtype (float32 window -> float32).
* Gradients come back in each input's own dtype: exactly the single-precision gradient rounded once to half.
"""
import contextlib

import pytest
import torch

import spectro
from helpers import (assert_close_fft, assert_reached_parameters, autocast_model, eps_of, fft_tolerance, generator,
                     randn, seed_of)

HALF = [torch.float16, torch.bfloat16]
pytestmark = pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")


def _signal(shape, dtype, seed, device):
    """Seeded values made in single precision (complex: independent real and imaginary parts), then converted."""
    return randn(shape, torch.complex64 if dtype.is_complex else torch.float32, generator(seed), device).to(dtype)


@pytest.mark.parametrize("n_fft", [15, 400, 512])
@pytest.mark.parametrize("window_dtype", ["same", torch.float32, None])
@pytest.mark.parametrize("dtype", HALF)
def test_stft_half_input(device, dtype, window_dtype, n_fft):
    hop = n_fft // 4
    x = _signal((2, 3, 5 * n_fft + 7), dtype, seed_of("half stft", dtype, n_fft), device)
    w = None
    if window_dtype is not None:
        w = torch.hann_window(n_fft, device=device).to(dtype if window_dtype == "same" else window_dtype)
    kw = dict(window=w, return_complex=True)
    with pytest.warns(UserWarning, match="window was not provided") if w is None else contextlib.nullcontext():
        s = spectro.stft(x, n_fft, hop, **kw)
    assert s.dtype == torch.complex64
    # Exactly the single-precision computation on the converted values.
    w32 = None if w is None else w.float()
    ref32 = spectro.stft(x.float(), n_fft, hop, window=w32, return_complex=True)
    assert torch.equal(s, ref32) and s.stride() == ref32.stride()
    # And within float32 FFT rounding of torch (float32, same converted values) and of a float64 transform.
    assert_close_fft(s, torch.stft(x.float().reshape(-1, x.shape[-1]), n_fft, hop, window=w32,
                                   return_complex=True).reshape(s.shape), n_fft, what="vs torch float32")
    ref64 = torch.stft(x.double().reshape(-1, x.shape[-1]), n_fft, hop,
                       window=None if w is None else w.double(), return_complex=True).reshape(s.shape)
    assert_close_fft(s.to(torch.complex128), ref64, n_fft, what="vs float64", tol_dtype=torch.float32)
    # view_as_real layout: float32.
    r = spectro.stft(x, n_fft, hop, window=w, return_complex=False) if w is not None else None
    if r is not None:
        assert r.dtype == torch.float32 and torch.equal(r, torch.view_as_real(ref32))


def test_stft_complex32_input(device):
    n_fft, hop = 64, 16
    x = _signal((2, 600), torch.complex64, seed_of("half stft c32"), device).to(torch.complex32)
    w = torch.hann_window(n_fft, device=device, dtype=torch.float16)
    s = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
    assert s.dtype == torch.complex64 and s.shape == (2, n_fft, 1 + 600 // hop)
    assert torch.equal(s, spectro.stft(x.to(torch.complex64), n_fft, hop, window=w.float(), return_complex=True))


@pytest.mark.filterwarnings("ignore:The length of signal is shorter")
@pytest.mark.parametrize("window_dtype,expected", [(torch.float16, torch.float16), (None, torch.float16),
                                                   (torch.float32, torch.float32), (torch.bfloat16, torch.float32)])
def test_istft_complex32_spectrum(device, window_dtype, expected):
    n_fft, hop, T = 512, 128, 4000
    x = _signal((2, T), torch.float32, seed_of("half istft"), device)
    w32 = torch.hann_window(n_fft, device=device)
    spec = torch.stft(x, n_fft, hop, window=w32, return_complex=True).to(torch.complex32)
    w = None if window_dtype is None else w32.to(window_dtype)
    if w is None:  # a rectangular window: hop = n_fft keeps NOLA
        hop = n_fft
        spec = torch.stft(x, n_fft, hop, window=torch.ones(n_fft, device=device), return_complex=True).to(
            torch.complex32)
    y = spectro.istft(spec, n_fft, hop, window=w, length=T)
    assert y.dtype == expected and y.shape == (2, T)
    ref = spectro.istft(spec.to(torch.complex64), n_fft, hop, window=None if w is None else w.float(), length=T)
    assert torch.equal(y, ref.to(expected))
    if expected == torch.float16:
        # The float16 result is the float32 one rounded once: within eps/2 relative (these values are normal).
        assert ((y.double() - ref.double()).abs() <= eps_of(torch.float16) / 2 * ref.double().abs()).all()


def test_istft_complex32_return_complex(device):
    n_fft, hop = 64, 16
    x = _signal((2, 600), torch.complex64, seed_of("half istft complex"), device)
    w = torch.hann_window(n_fft, device=device)
    spec = torch.stft(x, n_fft, hop, window=w, return_complex=True).to(torch.complex32)
    y = spectro.istft(spec, n_fft, hop, window=w.half(), return_complex=True, length=600)
    assert y.dtype == torch.complex32 and y.shape == (2, 600)
    ref = spectro.istft(spec.to(torch.complex64), n_fft, hop, window=w.half().float(), return_complex=True,
                        length=600)
    assert torch.equal(y.to(torch.complex64), ref.to(torch.complex32).to(torch.complex64))


@pytest.mark.parametrize("dtype", HALF)
def test_half_gradients(device, dtype):
    """stft -> istft round trip with a loss on both: the gradients of the half input and half window are the
    single-precision gradients (same graph on the converted values) rounded once to half, and those are within
    float32 FFT rounding of the float64 gradients."""
    n_fft, hop, T = 256, 64, 2000
    x0 = _signal((2, T), dtype, seed_of("half grad", dtype), device)
    w0 = (0.5 + torch.rand(n_fft, generator=generator(seed_of("half grad w", dtype)))).to(device=device, dtype=dtype)
    weight = torch.randn(2, n_fft // 2 + 1, 1 + T // hop, generator=generator(3)).to(device)

    def grads(x, w):
        x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
        s = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
        y = spectro.istft(s * weight.to(s.real.dtype), n_fft, hop, window=w, length=T)
        loss = (s.abs() ** 2 * weight.to(s.real.dtype)).sum() + (y.to(s.real.dtype) ** 2).sum()
        return torch.autograd.grad(loss, (x, w))

    gx, gw = grads(x0, w0)
    assert gx.dtype == dtype and gw.dtype == dtype
    gx32, gw32 = grads(x0.float(), w0.float())
    assert torch.equal(gx, gx32.to(dtype))
    # The window enters twice (stft and istft), so autograd adds two gradients, each rounded to half first: within
    # one more rounding of the single-precision sum.
    rel_w = ((gw.double() - gw32.double()).norm() / gw32.double().norm()).item()
    assert rel_w <= eps_of(dtype), f"window gradient vs single precision: relative error {rel_w:.3g}"
    gx64, gw64 = grads(x0.double(), w0.double())
    for name, g32, g64 in (("input", gx32, gx64), ("window", gw32, gw64)):
        rel = ((g32.double() - g64).norm() / g64.norm()).item()
        # Two transforms and their adjoints in the graph: twice the single-transform bound.
        assert rel <= 2 * fft_tolerance(torch.float32, n_fft), f"{name} gradient: relative error {rel:.3g}"


def test_istft_complex32_gradient(device):
    n_fft, hop, T = 128, 32, 1000
    x = _signal((2, T), torch.float32, seed_of("half istft grad"), device)
    w = torch.hann_window(n_fft, device=device)
    spec = torch.stft(x, n_fft, hop, window=w, return_complex=True).to(torch.complex32).requires_grad_()
    y = spectro.istft(spec, n_fft, hop, window=w.half(), length=T)
    (g,) = torch.autograd.grad(y.float().pow(2).sum(), spec)
    assert g.dtype == torch.complex32 and g.shape == spec.shape
    s64 = spec.detach().to(torch.complex128).requires_grad_()
    (g64,) = torch.autograd.grad(spectro.istft(s64, n_fft, hop, window=w.half().double(), length=T)
                                 .pow(2).sum(), s64)
    # The forward output was rounded to float16 before the loss: the loss gradient 2y carries that rounding too.
    rel = (torch.view_as_real(g.to(torch.complex64)).double() - torch.view_as_real(g64)).norm() / g64.norm()
    assert rel <= 2 * eps_of(torch.float16)


@pytest.mark.parametrize("dtype", HALF)
def test_autocast_forward_backward(device, dtype):
    """Under torch.autocast a model's output arrives in half precision: both ops run, with the dtypes above, and
    gradients reach the model's float32 parameters."""
    n_fft, hop, T = 256, 64, 3000
    lin, x, w = autocast_model(device, dtype, "autocast", T, n_fft)
    with torch.autocast(device_type=device, dtype=dtype):
        h = lin(x)
        assert h.dtype == dtype
        s = spectro.stft(h, n_fft, hop, window=w, return_complex=True)
        y = spectro.istft(s, n_fft, hop, window=w, length=T)
        loss = s.abs().pow(2).mean() + (y - x).pow(2).mean()
    assert s.dtype == torch.complex64 and y.dtype == torch.float32
    assert torch.equal(s, spectro.stft(h.detach().float(), n_fft, hop, window=w, return_complex=True))
    loss.backward()
    assert_reached_parameters(lin)


def test_compile_half_input(device):
    n_fft, hop = 128, 32
    x = _signal((2, 1000), torch.bfloat16, seed_of("half compile"), device)
    w = torch.hann_window(n_fft, device=device, dtype=torch.bfloat16)

    def f(x, w):
        return spectro.stft(x, n_fft, hop, window=w, return_complex=True).abs()

    eager = f(x, w)
    compiled = torch.compile(f, fullgraph=True)(x, w)
    assert compiled.dtype == eager.dtype == torch.float32
    torch.testing.assert_close(compiled, eager, rtol=fft_tolerance(torch.float32, n_fft), atol=1e-5)
