"""Forward-mode AD and torch.func transforms (grad, vjp, jvp, jacrev, jacfwd, hessian, vmap of grad).

torch.stft / torch.istft support all of them, so a drop-in replacement must too. The ops record themselves in the
autograd graph in two ways (csrc/autograd/autograd.cpp): a C++ autograd::Function for plain reverse mode, and a hand-built
graph node under functorch transforms or with forward-mode tangents (the Function supports neither). Both use the same
backward formulas; these tests check the second way (and the tangent formulas) against numerical derivatives, against
torch's own transforms, and against the first way.

Tolerances: float64 values of these small geometries, so gradcheck's defaults against central differences
(eps 1e-6) and 1e-10-relative agreement with torch (both sides are float64 FFTs of a few points: rounding ~1e-15 times
a modest growth); float32 comparisons use the FFT tolerance of helpers.assert_close_fft (k * eps * log2 n_fft).
"""
from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.autograd import gradcheck, gradgradcheck

import spectro
from helpers import assert_close_fft, generator, make_window, randn, seed_of
from test_gradients import ISTFT_CASES, STFT_CASES, _istft_inputs, _stft_inputs


def _close(actual, expected, rtol=1e-10, what=""):
    """max |actual - expected| <= rtol * max |expected| (norm-wise: the values are sums over many products)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    scale = expected.abs().max().item()
    err = (actual - expected).abs().max().item()
    assert err <= rtol * max(scale, 1e-300), f"{what}: max error {err:.3e} over max |expected| {scale:.3e}"


# ---------------------------------------------------------------------------------------------------------------
# Forward mode, against numerical derivatives (every stft / istft case of test_gradients: pad modes, window lengths,
# one- and two-sided, complex input, normalisation, lengths). istft's window tangent goes through the envelope.


def _fn_and_inputs(kind, case, device):
    """(function of (data, window), its inputs) for a case of test_gradients: spectro.stft or spectro.istft."""
    if kind == "stft":
        n_fft, data, w, kw = _stft_inputs(case, device)
        return (lambda x, w: spectro.stft(x, n_fft, window=w, **kw)), (data, w)
    n_fft, data, w, kw = _istft_inputs(case, device)
    return (lambda s, w: spectro.istft(s, n_fft, window=w, **kw)), (data, w)


FWD_CASES = [("stft", c) for c in STFT_CASES] + [("istft", c) for c in ISTFT_CASES]


@pytest.mark.parametrize("kind,case", FWD_CASES, ids=[f"{k}-{c[0]}" for k, c in FWD_CASES])
def test_forward_ad_gradcheck(kind, case, device, quiet):
    fn, inputs = _fn_and_inputs(kind, case, device)
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-7, check_forward_ad=True, check_backward_ad=False,
                     check_undefined_grad=False), case[0]


# Forward over reverse: the tangents of the backward graph (the adjoint op, the envelope-normalised analysis of
# istft's backward, the window-gradient formulas).
FWD_OVER_REV = [("stft", c) for c in STFT_CASES if c[0] in ("reflect", "circular", "short_window", "complex_input")]
FWD_OVER_REV += [("istft", c) for c in ISTFT_CASES if c[0] in ("onesided", "short_window", "return_complex",
                                                               "length_longer")]


@pytest.mark.parametrize("kind,case", FWD_OVER_REV, ids=[f"{k}-{c[0]}" for k, c in FWD_OVER_REV])
def test_forward_over_reverse(kind, case, device, quiet):
    fn, inputs = _fn_and_inputs(kind, case, device)
    assert gradgradcheck(fn, inputs, eps=1e-6, atol=1e-6, check_fwd_over_rev=True, check_rev_over_rev=False,
                         check_undefined_grad=False, fast_mode=device != "cpu"), case[0]


# The ops themselves, on combinations the public functions never make (envelope normalisation with every pad mode, in
# both directions): the window tangent's padded / folded formulation must hold for all of them.
OP_CASES = [(op, mode, env) for op in ("analysis", "synthesis")
            for mode in ("constant", "reflect", "replicate", "circular") for env in (False, True)]


@pytest.mark.parametrize("op,pad_mode,env", OP_CASES, ids=[f"{o}-{m}-{'env' if e else 'plain'}" for o, m, e in OP_CASES])
def test_op_forward_ad_gradcheck(op, pad_mode, env, device):
    gen = generator(seed_of("fwad-op", op, pad_mode, env))
    n_fft, hop, T, pad = 8, 3, 11, 4
    n_frames = 1 + (T + 2 * pad - n_fft) // hop
    w = make_window("rand", n_fft, torch.float64, gen, device).requires_grad_()
    if op == "analysis":
        x = randn((2, T), torch.float64, gen, device).requires_grad_()
        fn = lambda x, w: torch.ops.spectro.analysis(x, w, n_fft, hop, n_frames, pad, pad_mode, env,  # noqa: E731
                                                     "rfft", 0.5)
    else:
        x = randn((2, n_fft // 2 + 1, n_frames), torch.complex128, gen, device).requires_grad_()
        fn = lambda s, w: torch.ops.spectro.synthesis(s, w, n_fft, hop, T, pad, pad_mode, env,  # noqa: E731
                                                      "irfft", 0.125)
    assert gradcheck(fn, (x, w), eps=1e-6, atol=1e-7, check_forward_ad=True, check_backward_ad=True,
                     check_undefined_grad=False)


def test_forward_ad_dual_tensors_match_torch(device, quiet):
    """torch.autograd.forward_ad (dual tensors) outside torch.func: stft then istft, tangents in signal and window."""
    gen = generator(seed_of("fwad-dual"))
    x, xt = randn((2, 300), torch.float64, gen, device), randn((2, 300), torch.float64, gen, device)
    w = make_window("hann", 64, torch.float64, gen, device) + 0.1
    wt = randn((64,), torch.float64, gen, device)

    def run(lib):
        with fwAD.dual_level():
            xd, wd = fwAD.make_dual(x, xt), fwAD.make_dual(w, wt)
            s = lib.stft(xd, 64, 16, window=wd, return_complex=True)
            y = lib.istft(s * 1.5, 64, 16, window=wd, length=300)
            return fwAD.unpack_dual(s).tangent, fwAD.unpack_dual(y).tangent

    (s_t, y_t), (s_ref, y_ref) = run(spectro), run(torch)
    _close(s_t, s_ref, what="stft tangent")
    _close(y_t, y_ref, what="istft tangent")


# ---------------------------------------------------------------------------------------------------------------
# torch.func transforms against torch.stft / torch.istft's.


def _lib_fns(lib, n_fft=64, hop=16, T=300):
    stft = lambda x, w: lib.stft(x, n_fft, hop, window=w, return_complex=True)  # noqa: E731
    istft = lambda s, w: lib.istft(s, n_fft, hop, window=w, length=T)  # noqa: E731
    return stft, istft


TRANSFORMS = ["grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap_grad", "grad_of_grad"]


def _transform(name, lib, x, w, s, g):
    stft, istft = _lib_fns(lib)
    F = torch.func
    if name == "grad":  # both arguments, through a round trip and a magnitude
        loss = lambda x, w: istft(stft(x, w) * stft(x, w).abs(), w).square().sum()  # noqa: E731
        return F.grad(loss, argnums=(0, 1))(x, w)
    if name == "vjp":
        out, pull = F.vjp(lambda s, w: istft(s, w), s, w)
        return (out,) + pull(g)
    if name == "jvp":
        return F.jvp(lambda x, w: torch.view_as_real(stft(x, w)), (x, w), (torch.ones_like(x), w.flip(0)))
    if name == "jacrev":
        return (F.jacrev(lambda w: istft(s, w)[:, ::37])(w),)
    if name == "jacfwd":
        return (F.jacfwd(lambda w: stft(x, w).abs())(w),)
    if name == "hessian":
        return (F.hessian(lambda w: istft(s, w).square().sum())(w),)
    if name == "vmap_grad":  # per-example gradients
        return (F.vmap(F.grad(lambda xi: stft(xi, w).abs().sum()))(x),)
    if name == "grad_of_grad":
        inner = lambda w: F.grad(lambda x: stft(x, w).abs().square().sum())(x)  # noqa: E731
        return (F.grad(lambda w: inner(w).square().sum())(w),)
    raise AssertionError(name)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_torch_func_transforms_match_torch(name, device, quiet):
    gen = generator(seed_of("func", name))
    x = randn((3, 300), torch.float64, gen, device)
    w = make_window("hann", 64, torch.float64, gen, device) + 0.1
    s = torch.stft(x, 64, 16, window=w, return_complex=True)
    g = randn((3, 300), torch.float64, gen, device)
    got, ref = _transform(name, spectro, x, w, s, g), _transform(name, torch, x, w, s, g)
    assert len(got) == len(ref)
    for i, (a, b) in enumerate(zip(got, ref)):
        _close(a, b, what=f"{name}[{i}]")


@pytest.mark.kernel_paths
def test_torch_func_float32_matches_torch(device, quiet):
    """float32 (the single-kernel path on CUDA where it applies): grad and jvp against torch's, to FFT rounding."""
    gen = generator(seed_of("func-f32"))
    x = randn((2, 4000), torch.float32, gen, device)
    w = torch.hann_window(512, device=device)
    s = torch.stft(x, 512, 128, window=w, return_complex=True)
    for lib_a, lib_b in ((spectro, torch),):
        sa, ia = _lib_fns(lib_a, 512, 128, 4000)
        sb, ib = _lib_fns(lib_b, 512, 128, 4000)
        gx = torch.func.grad(lambda x: sa(x, w).abs().sum())(x)
        gx_ref = torch.func.grad(lambda x: sb(x, w).abs().sum())(x)
        assert_close_fft(gx, gx_ref, 512, what="grad of |stft|")
        _, t = torch.func.jvp(lambda s: ia(s, w), (s,), (s.flip(-1),))
        _, t_ref = torch.func.jvp(lambda s: ib(s, w), (s,), (s.flip(-1),))
        assert_close_fft(t, t_ref, 512, what="jvp of istft")


# ---------------------------------------------------------------------------------------------------------------
# The two ways of recording agree: torch.func.grad (hand-built node) and torch.autograd.grad (autograd::Function).


@pytest.mark.kernel_paths
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_functorch_and_autograd_paths_agree(dtype, device, quiet):
    gen = generator(seed_of("paths", dtype))
    x = randn((2, 3000), dtype, gen, device)
    w = make_window("rand", 256, dtype, gen, device)
    stft, istft = _lib_fns(spectro, 256, 64, 3000)

    def loss(x, w):
        s = stft(x, w)
        return istft(s * s.abs(), w).square().sum()

    via_func = torch.func.grad(loss, argnums=(0, 1))(x, w)
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    via_autograd = torch.autograd.grad(loss(xa, wa), (xa, wa))
    for a, b, what in zip(via_func, via_autograd, ("x", "window")):
        # The same formulas on the same values: the same result up to the summation order of ATen's reductions.
        _close(a, b, rtol=10 * torch.finfo(dtype).eps, what=what)


@pytest.mark.skipif(torch.torch_version.TorchVersion(torch.__version__) < (2, 4),
                    reason="compiled autograd supports C++ autograd::Function (CppNode) from torch 2.4 on: before, it "
                    "raises 'compiled_args not implemented' for any C++ custom autograd function")
def test_compiled_autograd_still_works(quiet):
    """Plain reverse mode keeps the autograd::Function, which compiled autograd supports."""
    gen = generator(seed_of("compiled-autograd"))
    x = randn((2, 2000), torch.float64, gen).requires_grad_()
    w = make_window("rand", 256, torch.float64, gen).requires_grad_()

    def f(x, w):
        return spectro.istft(spectro.stft(x, 256, 64, window=w, return_complex=True).abs().pow(1.5) + 0j, 256, 64,
                             window=w, length=2000).square().sum()

    expected = torch.autograd.grad(f(x, w), (x, w))
    torch._dynamo.reset()
    try:
        # (torch 2.4's context manager is compiled_autograd.enable; later torch renamed it _enable.)
        ca = torch._dynamo.compiled_autograd
        enable = getattr(ca, "_enable", None) or ca.enable
        with enable(torch.compile(backend="eager")):
            loss = torch.compile(f, backend="eager")(x, w)
            got = torch.autograd.grad(loss, (x, w))
    finally:
        torch._dynamo.reset()
    for a, b, what in zip(got, expected, ("x", "window")):
        _close(a, b, rtol=1e-12, what=what)


# ---------------------------------------------------------------------------------------------------------------
# torch.vmap: the ops' batching rules (spectro/_vmap.py) fold a vmapped signal or spectrum into the op's own batch
# dimension (one call), and call once per example for a vmapped window. Either way the values equal the per-example
# calls' (the rows of one call are computed independently; float32 to FFT rounding, in case a batched FFT library
# call rounds differently).

VMAP_CASES = ["signal", "signal_dim1", "window", "signal_and_window", "spectrum", "nested"]


@pytest.mark.kernel_paths
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", VMAP_CASES)
def test_vmap_matches_per_example_calls(case, dtype, device, quiet):
    gen = generator(seed_of("vmap", case, dtype))
    n_fft, hop, T = 256, 64, 1500
    x = randn((4, 3, T), dtype, gen, device)
    w = make_window("hann", n_fft, dtype, gen, device)
    ws = torch.stack([make_window("rand", n_fft, dtype, gen, device) for _ in range(4)])
    stft = lambda x, w: spectro.stft(x, n_fft, hop, window=w, return_complex=True)  # noqa: E731
    istft = lambda s, w: spectro.istft(s, n_fft, hop, window=w, length=T)  # noqa: E731
    if case == "signal":
        got, ref = torch.vmap(stft, in_dims=(0, None))(x, w), torch.stack([stft(x[i], w) for i in range(4)])
    elif case == "signal_dim1":
        got, ref = torch.vmap(stft, in_dims=(1, None))(x, w), torch.stack([stft(x[:, i], w) for i in range(3)])
    elif case == "window":
        got, ref = torch.vmap(stft, in_dims=(None, 0))(x[0], ws), torch.stack([stft(x[0], ws[i]) for i in range(4)])
    elif case == "signal_and_window":
        got, ref = torch.vmap(stft)(x, ws), torch.stack([stft(x[i], ws[i]) for i in range(4)])
    elif case == "spectrum":
        s = stft(x, w)
        got, ref = torch.vmap(istft, in_dims=(0, None))(s, w), torch.stack([istft(s[i], w) for i in range(4)])
    else:  # vmap of vmap, over both leading dimensions
        got = torch.vmap(torch.vmap(stft, in_dims=(0, None)), in_dims=(0, None))(x, w)
        ref = torch.stack([torch.stack([stft(x[i, j], w) for j in range(3)]) for i in range(4)])
    assert_close_fft(got, ref, n_fft, what=case, check_strides=False)


@pytest.mark.skipif(not hasattr(torch.library, "register_vmap"),
                    reason="torch < 2.5 has no torch.library.register_vmap: vmap runs the per-example fallback")
def test_vmap_folds_examples_into_one_call(quiet):
    """The rule is used: vmap over 16 examples calls the op a few times (the batched call and its redispatch), not
    once per example as functorch's fallback would."""
    x = torch.randn(16, 2, 1000)
    w = torch.hann_window(128)
    with torch.profiler.profile() as prof:
        torch.vmap(lambda x: spectro.stft(x, 128, 32, window=w, return_complex=True))(x)
    calls = sum(e.count for e in prof.key_averages() if e.key == "spectro::analysis")
    assert 1 <= calls < 16, f"{calls} calls of spectro::analysis for 16 examples: the batching rule was not used"
