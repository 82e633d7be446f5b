"""The core ops under torch.library.opcheck, torch.compile (fullgraph, inductor, static and dynamic shapes) and
torch.export."""
from __future__ import annotations

import pytest
import torch

try:
    from torch.library import opcheck
except ImportError:  # torch < 2.4: the same checks, from torch's internal test utilities
    from torch.testing._internal.optests import opcheck

import spectro
from helpers import generator, randn, seed_of


def _inductor_adds_strided_complex() -> bool:
    """Whether this torch's inductor can add two complex tensors whose last stride is not 1 (the layout of every
    stft result, torch.stft's too: bins contiguous, frames last). Before the fix (torch 2.3 - 2.6 at least; 2.13 has
    it), inductor's decomposition of complex add views each operand as real, which raises for that layout
    ("self.stride(-1) must be 1 to view ComplexDouble as Double"): a training step in which two gradients of one
    spectrum meet (its magnitude and its inverse, say) cannot compile with inductor there, whether the spectrum comes
    from spectro.stft or torch.stft. aot_eager and eager compile it on every torch."""
    try:
        from torch._inductor.decomposition import add
    except Exception:  # noqa: BLE001 - no such decomposition: nothing to work around
        return True
    t = torch.zeros(2, 3, dtype=torch.complex64).t()
    try:
        add(t, t)
    except RuntimeError:
        return False
    return True


requires_inductor_strided_complex = pytest.mark.skipif(
    not _inductor_adds_strided_complex(),
    reason="torch limitation (this torch's inductor cannot add complex tensors whose last stride is not 1, as in any "
    "stft result: torch.stft fails the same way); fixed in newer torch",
)


def _rand_window(n, dtype, gen, device, requires_grad=True):
    return (0.5 + torch.rand(n, generator=gen, dtype=dtype)).to(device).requires_grad_(requires_grad)


# (id, x dtype, (B, T), n_fft, hop, n_frames, pad, pad_mode, env_normalize, fft_mode, scale)
ANALYSIS_SETS = [
    ("rfft_reflect", torch.float64, (2, 50), 8, 2, 26, 4, "reflect", False, "rfft", 1.0),
    ("rfft_full_constant", torch.float32, (2, 50), 8, 3, 15, 0, "constant", False, "rfft_full", 0.35),
    ("fft_replicate_env", torch.complex128, (2, 40), 8, 2, 21, 4, "replicate", True, "fft", 1.0),
    ("rfft_double_circular_env", torch.float64, (3, 30), 8, 3, 10, 4, "circular", True, "rfft_double", 0.5),
    ("rfft_odd_zero_tail", torch.float32, (1, 20), 7, 2, 12, 3, "constant", False, "rfft", 1.0),
    ("fft_c64_constant", torch.complex64, (2, 33), 6, 6, 6, 3, "constant", False, "fft", 0.4),
]

# (id, spec dtype, (B, bins, N), n_fft, hop, length, pad, pad_mode, env_normalize, fft_mode, scale)
SYNTHESIS_SETS = [
    ("irfft_constant_env", torch.complex128, (2, 5, 26), 8, 2, 50, 4, "constant", True, "irfft", 0.125),
    ("irfft_half_reflect", torch.complex64, (2, 5, 15), 8, 2, 50, 4, "reflect", False, "irfft_half", 1.0),
    ("ifft_replicate_env", torch.complex128, (2, 8, 21), 8, 2, 40, 4, "replicate", True, "ifft", 0.125),
    ("ifft_real_circular", torch.complex64, (3, 8, 10), 8, 3, 30, 4, "circular", False, "ifft_real", 1.0),
    ("irfft_odd_longer", torch.complex128, (1, 4, 6), 7, 3, 40, 3, "constant", True, "irfft", 1 / 7),
]


@pytest.mark.parametrize("args", ANALYSIS_SETS, ids=[a[0] for a in ANALYSIS_SETS])
def test_opcheck_analysis(args, device):
    name, dtype, shape, n_fft, hop, n_frames, pad, pad_mode, env, mode, scale = args
    gen = generator(seed_of("opcheck-a", name))
    x = randn(shape, dtype, gen, device).requires_grad_()
    rdtype = dtype.to_real() if dtype.is_complex else dtype
    w = _rand_window(n_fft, rdtype, gen, device)
    opcheck(torch.ops.spectro.analysis.default, (x, w, n_fft, hop, n_frames, pad, pad_mode, env, mode, scale))


@pytest.mark.parametrize("args", SYNTHESIS_SETS, ids=[a[0] for a in SYNTHESIS_SETS])
def test_opcheck_synthesis(args, device):
    name, dtype, shape, n_fft, hop, length, pad, pad_mode, env, mode, scale = args
    gen = generator(seed_of("opcheck-s", name))
    spec = randn(shape, dtype, gen, device).requires_grad_()
    w = _rand_window(n_fft, dtype.to_real(), gen, device)
    opcheck(torch.ops.spectro.synthesis.default, (spec, w, n_fft, hop, length, pad, pad_mode, env, mode, scale))


def test_opcheck_without_grad(device):
    gen = generator(seed_of("opcheck-nograd"))
    x = randn((2, 50), torch.float32, gen, device)
    w = _rand_window(8, torch.float32, gen, device, requires_grad=False)
    opcheck(torch.ops.spectro.analysis.default, (x, w, 8, 2, 26, 4, "reflect", False, "rfft", 1.0))
    spec = randn((2, 5, 26), torch.complex64, gen, device)
    opcheck(torch.ops.spectro.synthesis.default, (spec, w, 8, 2, 50, 4, "constant", True, "irfft", 0.125))


# ---------------------------------------------------------------------------------------------------------------
# torch.compile
N_FFT, HOP = 64, 16


def _train_loss(x, w, target):
    """stft -> magnitude loss, plus an istft reconstruction loss."""
    s = spectro.stft(x, N_FFT, HOP, window=w, return_complex=True)
    mag = s.abs()
    y = spectro.istft(s * 0.5, N_FFT, HOP, window=w, length=x.shape[-1])
    return mag.pow(2).mean() + (y - target).pow(2).mean(), y


def _eager_and_compiled(fn, compiled, x, w, target, window_grad=True):
    results = []
    for f in (fn, compiled):
        xx = x.detach().clone().requires_grad_()
        ww = w.detach().clone().requires_grad_(window_grad)
        loss, y = f(xx, ww, target)
        loss.backward()
        results.append((loss.detach(), y.detach(), xx.grad) + ((ww.grad,) if window_grad else ()))
    return results


def _assert_same(results, what):
    eager, comp = results
    for name, a, b in zip(("loss", "istft output", "grad x", "grad window"), comp, eager):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()),
                                   msg=lambda m: f"[{what}] compiled vs eager {name}: {m}")


@pytest.mark.slow
@requires_inductor_strided_complex
def test_compile_fullgraph_inductor_matches_eager(device, request):
    torch._dynamo.reset()
    gen = generator(seed_of("compile"))
    x = randn((2, 1000), torch.float64, gen, device)
    target = randn((2, 1000), torch.float64, gen, device)
    w = torch.hann_window(N_FFT, dtype=torch.float64, device=device)
    compiled = torch.compile(_train_loss, fullgraph=True, backend="inductor")
    _assert_same(_eager_and_compiled(_train_loss, compiled, x, w, target), "static")


@pytest.mark.slow
@requires_inductor_strided_complex
@pytest.mark.parametrize("window_grad", [False, True], ids=["fixed_window", "learned_window"])
def test_compile_dynamic_two_lengths_single_graph(window_grad, device, request):
    torch._dynamo.reset()
    gen = generator(seed_of("compile-dyn"))
    w = torch.hann_window(N_FFT, dtype=torch.float64, device=device)
    compiled = torch.compile(_train_loss, fullgraph=True, dynamic=True, backend="inductor")
    with torch._dynamo.config.patch(error_on_recompile=False):
        for i, T in enumerate((1000, 1537)):
            x = randn((2, T), torch.float64, gen, device)
            target = randn((2, T), torch.float64, gen, device)
            # The second length must reuse the dynamic graph, not recompile.
            with torch._dynamo.config.patch(error_on_recompile=i == 1):
                results = _eager_and_compiled(_train_loss, compiled, x, w, target, window_grad=window_grad)
            _assert_same(results, f"dynamic T={T}")


@pytest.mark.slow
@requires_inductor_strided_complex
def test_compile_reduce_overhead_matches_eager(device, request):
    """mode="reduce-overhead" (CUDA graphs via cudagraph trees on CUDA; plain inductor on the CPU): a training step,
    run several times so that the graphs are recorded and then replayed, matches eager every time."""
    torch._dynamo.reset()
    gen = generator(seed_of("compile-ro"))
    w = torch.hann_window(N_FFT, dtype=torch.float64, device=device)
    compiled = torch.compile(_train_loss, fullgraph=True, mode="reduce-overhead")
    for step in range(4):
        x = randn((2, 1000), torch.float64, gen, device)
        target = randn((2, 1000), torch.float64, gen, device)
        results = []
        for f in (_train_loss, compiled):
            xx = x.detach().clone().requires_grad_()
            ww = w.detach().clone().requires_grad_()
            loss, y = f(xx, ww, target)
            loss.backward()
            # cudagraph trees reuse output memory on the next replay: keep copies
            results.append((loss.detach().clone(), y.detach().clone(), xx.grad.clone(), ww.grad.clone()))
        _assert_same(results, f"reduce-overhead step {step}")


def test_compile_fullgraph_stft_real_input(device):
    """dynamo traces spectro.stft of a real signal without graph breaks (cheap: eager backend)."""
    torch._dynamo.reset()
    gen = generator(seed_of("compile-stft"))
    x = randn((2, 300), torch.float32, gen, device)
    w = torch.hann_window(N_FFT, device=device)
    f = lambda x: spectro.stft(x, N_FFT, HOP, window=w, return_complex=True).abs()  # noqa: E731
    out = torch.compile(f, fullgraph=True, backend="eager")(x)
    torch.testing.assert_close(out, f(x), rtol=0, atol=0)


@pytest.mark.parametrize("what", ["istft", "stft_complex_input"])
def test_compile_fullgraph_traces(what, device, request):
    """dynamo traces spectro.istft, and spectro.stft of a complex signal, without graph breaks (eager backend)."""
    torch._dynamo.reset()
    gen = generator(seed_of("compile-trace", what))
    w = torch.hann_window(N_FFT, device=device)
    if what == "istft":
        inp = randn((2, N_FFT // 2 + 1, 20), torch.complex64, gen, device)
        f = lambda s: spectro.istft(s, N_FFT, HOP, window=w)  # noqa: E731
    else:
        inp = randn((2, 300), torch.complex64, gen, device)
        f = lambda x: spectro.stft(x, N_FFT, HOP, window=w, return_complex=True)  # noqa: E731
    out = torch.compile(f, fullgraph=True, backend="eager")(inp)
    torch.testing.assert_close(out, f(inp), rtol=0, atol=0)


@pytest.mark.parametrize("transform", ["grad", "vmap_grad"])
def test_compile_over_torch_func(transform, device):
    """torch.compile of torch.func.grad (and of vmap(grad): per-example gradients) through stft -> istft, against the
    same transform in eager mode (aot_eager: AOTAutograd traces the transform; no inductor codegen)."""
    torch._dynamo.reset()
    gen = generator(seed_of("compile-func", transform))
    w = torch.hann_window(N_FFT, dtype=torch.float64, device=device)
    x = randn((3, 400), torch.float64, gen, device)
    target = randn((3, 400), torch.float64, gen, device)

    def loss(x, target):
        s = spectro.stft(x, N_FFT, HOP, window=w, return_complex=True)
        y = spectro.istft(s * s.abs(), N_FFT, HOP, window=w, length=x.shape[-1])
        return (y - target).pow(2).sum()

    f = torch.func.grad(loss)
    if transform == "vmap_grad":
        f = torch.func.vmap(f)
    expected = f(x, target)
    # torch 2.3 traces torch.func transforms only with torch._dynamo.config.capture_func_transforms=True (the
    # default from torch 2.4 on).
    capture = {"capture_func_transforms": True} if hasattr(torch._dynamo.config, "capture_func_transforms") else {}
    with torch._dynamo.config.patch(**capture):
        got = torch.compile(f, fullgraph=True, backend="aot_eager")(x, target)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10 * float(expected.abs().max()))


# ---------------------------------------------------------------------------------------------------------------
# torch.export
class StftIstft(torch.nn.Module):
    def __init__(self, n_fft=N_FFT, hop=HOP):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))
        self.gain = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        s = spectro.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True)
        return spectro.istft(s * self.gain, self.n_fft, self.hop, window=self.window, length=x.shape[-1])


def _count_targets(ep):
    """(forward transforms, inverse transforms) in the exported graph: spectro::stft / istft (export keeps these
    composite ops as they are) or, once decomposed, spectro::analysis / synthesis."""
    nodes = [n for n in ep.graph.nodes if n.op == "call_function"]
    forward = (torch.ops.spectro.stft.default, torch.ops.spectro.analysis.default)
    inverse = (torch.ops.spectro.istft.default, torch.ops.spectro.synthesis.default)
    return sum(n.target in forward for n in nodes), sum(n.target in inverse for n in nodes)


def _check_export(strict, device):
    gen = generator(seed_of("export", strict))
    model = StftIstft().to(device)
    x = randn((2, 1000), torch.float32, gen, device)
    ep = torch.export.export(model, (x,), strict=strict)
    n_analysis, n_synthesis = _count_targets(ep)
    assert (n_analysis, n_synthesis) == (1, 1), (
        f"exported graph has {n_analysis} forward and {n_synthesis} inverse spectro transforms, expected 1 and 1:\n"
        f"{ep.graph}"
    )
    x2 = randn((2, 1000), torch.float32, gen, device)
    torch.testing.assert_close(ep.module()(x2), model(x2), rtol=1e-6, atol=1e-6)
    # Decomposed to the core ops (what a backend lowering sees): one analysis and one synthesis.
    core = ep.run_decompositions()
    nodes = [n.target for n in core.graph.nodes if n.op == "call_function"]
    assert nodes.count(torch.ops.spectro.analysis.default) == 1, str(core.graph)
    assert nodes.count(torch.ops.spectro.synthesis.default) == 1, str(core.graph)
    torch.testing.assert_close(core.module()(x2), model(x2), rtol=1e-6, atol=1e-6)


def test_export_contains_one_analysis_and_one_synthesis(device):
    _check_export(False, device)


def test_export_strict(device, request):
    _check_export(True, device)


@pytest.mark.xfail(
    strict=True,
    raises=torch._dynamo.exc.UserError,
    reason="torch limitation: export cannot prove the shape guards that the Python-level length arithmetic emits "
    "(e.g. '32 + T <= 64 + 16*(T // 16)', a reshape divisibility check); torch.stft/torch.istft fail the same way",
)
def test_export_dynamic_length(device):
    gen = generator(seed_of("export-dyn"))
    model = StftIstft().to(device)
    T = torch.export.Dim("T", min=100, max=100_000)
    ep = torch.export.export(model, (randn((2, 1000), torch.float32, gen, device),), dynamic_shapes=({1: T},))
    assert _count_targets(ep) == (1, 1), str(ep.graph)
    for length in (777, 2048):
        x = randn((2, length), torch.float32, gen, device)
        torch.testing.assert_close(ep.module()(x), model(x), rtol=1e-6, atol=1e-6)


def test_double_backward_under_compile_is_a_torch_limitation():
    """Double backward through a compiled function is refused by torch itself (aot_autograd), for any op: documented
    in the README. Eager double backward works (tests/test_gradients.py). If torch lifts the limitation this test
    fails, and the README should say so."""
    torch._dynamo.reset()
    gen = generator(seed_of("compile-double-backward"))
    x = randn((2, 500), torch.float64, gen, "cpu").requires_grad_()
    w = torch.hann_window(N_FFT, dtype=torch.float64)
    f = torch.compile(lambda x: spectro.stft(x, N_FFT, HOP, window=w, return_complex=True).abs().pow(2).sum(),
                      fullgraph=True, backend="aot_eager")
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    # torch >= 2.12: "... does not currently support double backward"; torch 2.11 drops the graph of g instead.
    refused = "does not currently support double backward|does not require grad and does not have a grad_fn"
    with pytest.raises(RuntimeError, match=refused):
        g.sum().backward()
