"""spectro.STFT / spectro.ISTFT layers and spectro.MultiResolutionSTFTLoss: equal to the functional calls they wrap,
window handling (buffer, parameter, device moves), and the loss against an independent torch.stft implementation
of its definition."""
import warnings

import pytest
import torch

import spectro
from helpers import fft_tolerance, generator, randn, seed_of


def test_stft_module_equals_functional(device):
    x = randn((2, 3, 3000), torch.float32, generator(seed_of("mod stft")), device)
    w = torch.hann_window(400, device=device)
    for kwargs, window in (({}, torch.hann_window(512)), ({"win_length": 400, "pad_mode": "constant"}, w.cpu()),
                           ({"normalized": True, "center": False}, None)):
        m = spectro.STFT(512, 128, window=window if window is not None else None, **kwargs).to(device)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # window=None is an explicit rectangular window here: no warning
            got = m(x)
        ref_w = torch.ones(kwargs.get("win_length", 512)) if window is None else window
        ref = spectro.stft(x, 512, 128, window=ref_w.to(device), return_complex=True,
                           **{k: v for k, v in kwargs.items()})
        assert torch.equal(got, ref) and got.stride() == ref.stride()
        assert m.window.device == x.device


def test_window_function_and_state_dict():
    m = spectro.STFT(256, 64, win_length=200, window=torch.hamming_window)
    assert torch.equal(m.window, torch.hamming_window(200))
    assert "window" in m.state_dict() and not m.window.requires_grad
    assert [n for n, _ in m.named_parameters()] == []
    d = m.double()
    assert d.window.dtype == torch.float64


def test_istft_module_round_trip(device):
    x = randn((2, 4000), torch.float64, generator(seed_of("mod istft")), device)
    s = spectro.STFT(512, 128).to(device, torch.float64)(x)
    m = spectro.ISTFT(512, 128).to(device, torch.float64)
    y = m(s, length=4000)
    # The module's window: torch.hann_window made in float32 (a buffer), then converted by .to(float64).
    ref = spectro.istft(s, 512, 128, window=torch.hann_window(512).to(device, torch.float64), length=4000)
    assert torch.equal(y, ref)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-12)


def test_trainable_window_gets_spectros_window_gradient(device):
    x = randn((2, 2000), torch.float64, generator(seed_of("mod trainable")), device)
    m = spectro.STFT(256, 64, trainable_window=True).to(device, torch.float64)
    assert [n for n, _ in m.named_parameters()] == ["window"]
    m(x).abs().pow(2).sum().backward()
    w = torch.hann_window(256).to(device, torch.float64).requires_grad_()
    spectro.stft(x, 256, 64, window=w, return_complex=True).abs().pow(2).sum().backward()
    torch.testing.assert_close(m.window.grad, w.grad, rtol=0, atol=0)


def test_module_argument_errors():
    with pytest.raises(ValueError, match="win_length=300"):
        spectro.STFT(512, 128, win_length=300, window=torch.hann_window(512))
    with pytest.raises(ValueError, match="n_fft"):
        spectro.ISTFT(0)
    with pytest.raises(ValueError, match="resolutions"):
        spectro.MultiResolutionSTFTLoss(resolutions=())
    with pytest.raises(ValueError, match="same shape"):
        spectro.MultiResolutionSTFTLoss()(torch.randn(2, 5000), torch.randn(2, 5001))


def _reference_mr_stft_loss(x, y, resolutions, eps):
    """The definition, written independently with torch.stft."""
    sc, mag = 0.0, 0.0
    for n_fft, hop, win in resolutions:
        w = torch.hann_window(win).to(x.device, x.dtype)  # made in float32, as a module buffer is

        def magnitude(t):
            s = torch.stft(t.reshape(-1, t.shape[-1]), n_fft, hop, win, w, return_complex=True)
            return torch.sqrt(torch.clamp(s.real**2 + s.imag**2, min=eps))

        mx, my = magnitude(x), magnitude(y)
        sc = sc + torch.norm(my - mx, p="fro") / torch.norm(my, p="fro")
        mag = mag + torch.nn.functional.l1_loss(torch.log(my), torch.log(mx))
    return sc / len(resolutions), mag / len(resolutions)


def test_multi_resolution_stft_loss_matches_definition(device):
    gen = generator(seed_of("mr loss"))
    y = randn((3, 12000), torch.float64, gen, device)
    x0 = y + 0.3 * randn((3, 12000), torch.float64, gen, device)
    loss = spectro.MultiResolutionSTFTLoss().to(device, torch.float64)
    resolutions = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
    x = x0.clone().requires_grad_()
    sc, mag = loss(x, y)
    (gx,) = torch.autograd.grad(sc + 2 * mag, x)
    xr = x0.clone().requires_grad_()
    sc_ref, mag_ref = _reference_mr_stft_loss(xr, y, resolutions, 1e-7)
    (gx_ref,) = torch.autograd.grad(sc_ref + 2 * mag_ref, xr)
    tol = fft_tolerance(torch.float64, 2048)
    torch.testing.assert_close(sc, sc_ref, rtol=tol, atol=0)
    torch.testing.assert_close(mag, mag_ref, rtol=tol, atol=0)
    if device == "cpu":
        torch.testing.assert_close(gx, gx_ref, rtol=0, atol=tol * float(gx_ref.abs().max()))
    else:
        # The log-magnitude gradient's 1/|X| amplifies the FFT's rounding at the smallest bins: against the definition
        # on the CPU, spectro's error within 2x cuFFT's (the definition on this device) plus the FFT tolerance.
        xc = x0.detach().cpu().requires_grad_()
        sc_c, mag_c = _reference_mr_stft_loss(xc, y.cpu(), resolutions, 1e-7)
        (g_cpu,) = torch.autograd.grad(sc_c + 2 * mag_c, xc)
        err, lib_err = (gx.cpu() - g_cpu).norm(), (gx_ref.cpu() - g_cpu).norm()
        assert err <= 2 * lib_err + tol * g_cpu.norm(), f"{err:.3e} vs cuFFT's {lib_err:.3e}"


def test_multi_resolution_stft_loss_half_input(device):
    """bf16 waveforms (e.g. a generator's output under autocast): float32 losses, gradient in bfloat16."""
    gen = generator(seed_of("mr loss half"))
    y = randn((2, 8000), torch.float32, gen, device)
    x = (y + 0.1 * randn((2, 8000), torch.float32, gen, device)).to(torch.bfloat16).requires_grad_()
    sc, mag = spectro.MultiResolutionSTFTLoss().to(device)(x, y)
    assert sc.dtype == mag.dtype == torch.float32
    (sc + mag).backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad.float()).all()


def test_multi_resolution_stft_loss_compiles(device):
    torch._dynamo.reset()
    gen = generator(seed_of("mr loss compile"))
    y = randn((2, 6000), torch.float32, gen, device)
    x = y + 0.1 * randn((2, 6000), torch.float32, gen, device)
    loss = spectro.MultiResolutionSTFTLoss().to(device)
    eager = loss(x, y)
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")(x, y)
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
