"""Autograd: gradcheck / gradgradcheck of spectro.stft (w.r.t. input and window) and spectro.istft (w.r.t. spectrum
and window) in float64/complex128 on small geometries, and equality with torch.stft / torch.istft's own gradients."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import spectro
from helpers import assert_close_fft, generator, make_window, randn, seed_of

# (id, n_fft, hop, win_length, T, window kind, stft kwargs, input dtype)
STFT_CASES = [
    # Rectangular window, frames ending exactly at the end of the padded signal: (T + 2*pad - n_fft) % hop == 0
    # (the edge case that breaks mps-spectro's backward).
    ("rect_exact_fit", 8, 2, 8, 10, "ones", dict(center=True), torch.float64),
    ("rect_exact_fit_not_centred", 8, 3, 8, 17, "ones", dict(center=False), torch.float64),
    ("reflect", 8, 3, 8, 13, "rand", dict(pad_mode="reflect"), torch.float64),
    ("constant", 8, 3, 8, 13, "rand", dict(pad_mode="constant"), torch.float64),
    ("replicate", 8, 3, 8, 13, "rand", dict(pad_mode="replicate"), torch.float64),
    ("circular", 8, 3, 8, 13, "rand", dict(pad_mode="circular"), torch.float64),
    ("reflect_short_signal", 8, 2, 8, 5, "rand", dict(pad_mode="reflect"), torch.float64),
    ("circular_pad_eq_length", 8, 2, 8, 4, "rand", dict(pad_mode="circular"), torch.float64),
    ("not_centred", 8, 3, 8, 19, "rand", dict(center=False), torch.float64),
    ("short_window", 8, 2, 5, 14, "rand", dict(), torch.float64),
    ("normalized", 8, 2, 8, 14, "rand", dict(normalized=True), torch.float64),
    ("two_sided", 8, 2, 8, 14, "rand", dict(onesided=False), torch.float64),
    ("odd_n_fft", 7, 2, 7, 14, "rand", dict(), torch.float64),
    ("hop_gt_n_fft", 6, 7, 6, 30, "rand", dict(), torch.float64),
    ("complex_input", 8, 2, 8, 14, "rand", dict(), torch.complex128),
    ("complex_input_replicate", 8, 3, 6, 11, "randn", dict(pad_mode="replicate", normalized=True), torch.complex128),
    ("align_to_window", 8, 2, 5, 15, "rand", dict(center=False, align_to_window=True), torch.float64),
]

# (id, n_fft, hop, win_length, n_frames, window kind, istft kwargs (length given as a delta to the natural length))
ISTFT_CASES = [
    ("onesided", 8, 2, 8, 6, "hann", dict()),
    ("rect_not_centred", 8, 2, 8, 5, "ones", dict(center=False)),
    ("rand_not_centred", 8, 3, 8, 5, "rand", dict(center=False)),
    ("short_window", 8, 2, 6, 6, "rand", dict()),
    ("normalized", 8, 2, 8, 6, "rand", dict(normalized=True)),
    ("two_sided_input", 8, 2, 8, 6, "rand", dict(onesided=False)),
    ("return_complex", 8, 2, 8, 6, "rand", dict(return_complex=True)),
    ("length_shorter", 8, 2, 8, 6, "rand", dict(length=-3)),
    ("length_longer", 8, 2, 8, 6, "rand", dict(length=+5)),
    ("odd_n_fft", 7, 2, 7, 6, "rand", dict()),
    ("no_overlap_rect", 6, 6, 6, 4, "ones", dict(center=False)),
]


def _stft_inputs(case, device):
    name, n_fft, hop, win, T, wkind, kw, dtype = case
    gen = generator(seed_of("grad-stft", name))
    x = randn((2, T), dtype, gen, device).requires_grad_()
    w = make_window(wkind, win, torch.float64, gen, device).requires_grad_()
    kw = dict(hop_length=hop, win_length=win, return_complex=True, **kw)
    return n_fft, x, w, kw


def _istft_inputs(case, device):
    name, n_fft, hop, win, n_frames, wkind, kw = case
    gen = generator(seed_of("grad-istft", name))
    kw = dict(kw)
    two_sided = kw.get("return_complex") or kw.get("onesided") is False
    bins = n_fft if two_sided else n_fft // 2 + 1
    spec = randn((2, bins, n_frames), torch.complex128, gen, device).requires_grad_()
    w = make_window(wkind, win, torch.float64, gen, device).requires_grad_()
    if "length" in kw:
        center = kw.get("center", True)
        natural = n_fft + hop * (n_frames - 1) - (2 * (n_fft // 2) if center else 0)
        kw["length"] = natural + kw["length"]
    kw = dict(hop_length=hop, win_length=win, **kw)
    return n_fft, spec, w, kw


def _check_gradients(order, fn, inputs, device, what):
    """First-order gradcheck, or second-order gradgradcheck (fast_mode on CUDA, where many tiny launches make full
    mode slow)."""
    if order == 1:
        assert gradcheck(fn, inputs, eps=1e-6, atol=1e-7), what
    else:
        assert gradgradcheck(fn, inputs, eps=1e-6, atol=1e-6, fast_mode=device != "cpu"), what


@pytest.mark.kernel_paths
@pytest.mark.parametrize("order", [1, 2], ids=["grad", "gradgrad"])
@pytest.mark.parametrize("case", STFT_CASES, ids=[c[0] for c in STFT_CASES])
def test_stft_gradients(case, order, device, quiet):
    n_fft, x, w, kw = _stft_inputs(case, device)
    fn = lambda x, w: spectro.stft(x, n_fft, window=w, **kw)  # noqa: E731
    _check_gradients(order, fn, (x, w), device, case[0])


@pytest.mark.kernel_paths
@pytest.mark.parametrize("order", [1, 2], ids=["grad", "gradgrad"])
@pytest.mark.parametrize("case", ISTFT_CASES, ids=[c[0] for c in ISTFT_CASES])
def test_istft_gradients(case, order, device, quiet):
    n_fft, spec, w, kw = _istft_inputs(case, device)
    fn = lambda s, w: spectro.istft(s, n_fft, window=w, **kw)  # noqa: E731
    _check_gradients(order, fn, (spec, w), device, case[0])


@pytest.mark.kernel_paths
def test_stft_gradcheck_full_mode_window_and_input(device, quiet):
    """One full (not fast_mode) gradgradcheck on every device (the per-case ones use fast_mode on CUDA, where many
    tiny launches make full mode slow)."""
    n_fft, x, w, kw = _stft_inputs(STFT_CASES[2], device)
    fn = lambda x, w: spectro.stft(x, n_fft, window=w, **kw)  # noqa: E731
    assert gradgradcheck(fn, (x, w), eps=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Gradients equal torch's own autograd gradients.
def _linear_functional(out, gen):
    """sum(Re(conj(G) * out)) for a fixed random G: its gradient is the vector-Jacobian product with G."""
    g = randn(out.shape, out.dtype, gen, out.device)
    if out.is_complex():
        return (g.conj() * out).real.sum()
    return (g * out).sum()


STFT_TORCH_CASES = [c for c in STFT_CASES if c[0] in (
    "rect_exact_fit", "reflect", "constant", "replicate", "circular", "not_centred", "short_window", "normalized",
    "two_sided", "complex_input")]


@pytest.mark.kernel_paths
@pytest.mark.parametrize("case", STFT_TORCH_CASES, ids=[c[0] for c in STFT_TORCH_CASES])
def test_stft_gradients_match_torch(case, device, quiet):
    n_fft, x, w, kw = _stft_inputs(case, device)
    grads = []
    for fn in (spectro.stft, torch.stft):
        out = fn(x, n_fft, window=w, **kw)
        loss = _linear_functional(out, generator(seed_of("vjp", case[0])))
        grads.append(torch.autograd.grad(loss, (x, w)))
    for name, a, b in zip(("input", "window"), grads[0], grads[1]):
        assert_close_fft(a, b, n_fft, what=f"{case[0]}: d/d{name}", check_strides=False)


ISTFT_TORCH_CASES = [c for c in ISTFT_CASES if c[0] in (
    "onesided", "rand_not_centred", "short_window", "normalized", "return_complex", "length_shorter",
    "length_longer")]


@pytest.mark.kernel_paths
@pytest.mark.parametrize("case", ISTFT_TORCH_CASES, ids=[c[0] for c in ISTFT_TORCH_CASES])
def test_istft_gradients_match_torch(case, device, quiet):
    n_fft, spec, w, kw = _istft_inputs(case, device)
    # A spectrum of a real signal (Hermitian edges), so torch's and spectro's irfft conventions for the imaginary
    # parts of the DC/Nyquist bins cannot matter.
    with torch.no_grad():
        if not kw.get("return_complex"):
            spec[:, 0].imag.zero_()
            if n_fft % 2 == 0:
                spec[:, n_fft // 2].imag.zero_()
    grads = []
    for fn in (spectro.istft, torch.istft):
        out = fn(spec, n_fft, window=w, **kw)
        loss = _linear_functional(out, generator(seed_of("vjp-i", case[0])))
        grads.append(torch.autograd.grad(loss, (spec, w)))
    for name, a, b in zip(("spectrum", "window"), grads[0], grads[1]):
        assert_close_fft(a, b, n_fft, what=f"{case[0]}: d/d{name}", check_strides=False, k=16)


@pytest.mark.kernel_paths
@pytest.mark.parametrize("n_fft", [16, 400, 1024, 2048, 8192])
def test_imaginary_parts_of_the_real_bins_are_ignored(n_fft, device, quiet):
    """The imaginary parts of the DC and Nyquist bins, which a real signal's spectrum cannot hold: stft's input
    gradient ignores them (torch's gradient of the onesided rfft is the real part of an inverse c2c transform of the
    zero-padded gradient), and so does the onesided istft (torch.fft.irfft's documented semantics), on every path and
    at every length. cuFFT's c2r does not ignore them at every length (pytorch/pytorch#154496); the error would be
    about sqrt(2 / bins) of the result."""
    hop = n_fft // 4
    T = 6 * n_fft + 3
    n_frames = 1 + T // hop
    gen = generator(seed_of("real-bins", n_fft))
    w = torch.hann_window(n_fft, device=device)
    g = randn((2, n_fft // 2 + 1, n_frames), torch.complex64, gen, device)
    g_real_edges = g.clone()
    g_real_edges[:, 0].imag.zero_()
    g_real_edges[:, n_fft // 2].imag.zero_()  # (even n_fft)
    assert g[:, 0].imag.abs().min() > 0
    x = randn((2, T), torch.float32, gen, device).requires_grad_()
    s = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
    (grad,) = torch.autograd.grad(s, (x,), g, retain_graph=True)
    (grad_real_edges,) = torch.autograd.grad(s, (x,), g_real_edges)
    assert torch.equal(grad, grad_real_edges), "stft's input gradient depends on Im of the DC / Nyquist bins"
    y = spectro.istft(g, n_fft, hop, window=w, length=T)
    y_real_edges = spectro.istft(g_real_edges, n_fft, hop, window=w, length=T)
    assert torch.equal(y, y_real_edges), "istft depends on Im of the DC / Nyquist bins"


@pytest.mark.kernel_paths
def test_stft_gradient_moderate_size_matches_torch(device, quiet):
    """A realistic size (float64): the backward kernels' tiling is exercised beyond one tile."""
    gen = generator(seed_of("grad-moderate"))
    x = randn((2, 6000), torch.float64, gen, device).requires_grad_()
    w = torch.hann_window(512, dtype=torch.float64, device=device).requires_grad_()
    grads = []
    for fn in (spectro.stft, torch.stft):
        out = fn(x, 512, 128, window=w, return_complex=True)
        loss = _linear_functional(out, generator(seed_of("vjp-m")))
        grads.append(torch.autograd.grad(loss, (x, w)))
    for name, a, b in zip(("input", "window"), grads[0], grads[1]):
        assert_close_fft(a, b, 512, what=f"d/d{name}", check_strides=False)


@pytest.mark.kernel_paths
def test_gradient_of_magnitude_loss_through_round_trip(device, quiet):
    """A typical training loss (spectral magnitude + reconstruction) has torch's gradient."""
    gen = generator(seed_of("grad-loss"))
    x = randn((3, 500), torch.float64, gen, device).requires_grad_()
    target = randn((3, 500), torch.float64, gen, device)
    w = torch.hann_window(64, dtype=torch.float64, device=device)
    grads = []
    for stft, istft in ((spectro.stft, spectro.istft), (torch.stft, torch.istft)):
        s = stft(x, 64, 16, window=w, return_complex=True)
        y = istft(s * 0.5, 64, 16, window=w, length=500)
        loss = s.abs().pow(2).mean() + (y - target).pow(2).mean()
        grads.append(torch.autograd.grad(loss, x)[0])
    assert_close_fft(grads[0], grads[1], 64, what="d loss / dx", check_strides=False, k=8)


@pytest.mark.parametrize("which", ["input_only", "window_only"])
def test_partial_requires_grad_matches_joint(which, device, quiet):
    """Gradients w.r.t. only the signal (or only the window) equal those computed jointly; the other gets none."""
    gen = generator(seed_of("partial", which))
    x0 = randn((2, 60), torch.float64, gen, device)
    w0 = make_window("rand", 16, torch.float64, gen, device)
    g = randn((2, 9, 16), torch.complex128, gen, device)

    def run(x, w):
        s = spectro.stft(x, 16, 4, window=w, return_complex=True)
        y = spectro.istft(s * g, 16, 4, window=w, length=60)
        return (g.conj() * s).real.sum() + y.pow(2).sum()

    xj, wj = x0.clone().requires_grad_(), w0.clone().requires_grad_()
    gxj, gwj = torch.autograd.grad(run(xj, wj), (xj, wj))
    x = x0.clone().requires_grad_(which == "input_only")
    w = w0.clone().requires_grad_(which == "window_only")
    target = x if which == "input_only" else w
    (grad,) = torch.autograd.grad(run(x, w), (target,))
    expected = gxj if which == "input_only" else gwj
    assert torch.allclose(grad, expected, rtol=1e-12, atol=1e-12), which


def test_inference_mode_and_no_grad(device, quiet):
    x = torch.randn(2, 300, device=device)
    w = torch.hann_window(64, device=device).requires_grad_()
    with torch.inference_mode():
        s = spectro.stft(x, 64, 16, window=w, return_complex=True)
        y = spectro.istft(s, 64, 16, window=w, length=300)
    assert not s.requires_grad and not y.requires_grad
    with torch.no_grad():
        s2 = spectro.stft(x, 64, 16, window=w, return_complex=True)
        y2 = spectro.istft(s2, 64, 16, window=w, length=300)
    assert not s2.requires_grad and not y2.requires_grad
    assert torch.equal(s, s2) and torch.equal(y, y2)
