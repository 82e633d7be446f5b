"""Half-precision inputs read by the core ops themselves: float16 / bfloat16 x
and complex32 x or spec go to torch.ops.spectro.analysis / synthesis as they are, on the CPU and on CUDA per kernel
path ('auto', 'fused': the single kernel, which loads half directly; 'two_kernel': the op converts in one pass).

Definitions under test (csrc/ops, csrc/autograd, csrc/api):
* A half input is computed in single precision with a float32 window: the op's result is exactly (bit for bit) the
  op's result on the input converted to float32 / complex64, with and without a half out_dtype, and has the dtype of
  that call (the compute dtype, or out_dtype). Converting half to single precision is exact, so there is no
  tolerance: any extra rounding, a misread element (a wrong stride, offset or alignment path) or a wrong dtype
  fails.
* Dtypes are checked: a half input needs a float32 window; float16 / bfloat16 x only in the real fft modes,
  complex32 x only in fft_mode 'fft'; the errors name the argument and the expected dtypes. Meta / fake tensors give
  the same dtypes, shapes and strides.
* Gradients come back in the input's own dtype: the float32 gradient (the same adjoint op) rounded once. The window
  gradient is computed from the input converted to single precision, so it equals the float32 call's to float32
  rounding.
* spectro.stft / istft pass half inputs to the ops when the computation is single precision: their results equal
  today's (the call on the converted input), for kernel_dtype "float32" and "mixed".
"""
from __future__ import annotations

import contextlib
import math
import warnings

import pytest
import torch

try:
    from torch.library import opcheck
except ImportError:  # torch < 2.4: the same checks, from torch's internal test utilities
    from torch.testing._internal.optests import opcheck

import spectro
from helpers import assert_close_fft, eps_of, fft_tolerance, generator, randn, seed_of

pytestmark = pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")

HALF = [torch.float16, torch.bfloat16]
# Geometries that reach the fused CUDA kernels: a power-of-two n_fft (the radix-8 engine) and a mixed-radix one.
GEOMETRIES = [(512, 128), (400, 160)]
B, T = 3, 4001  # an odd T: rows of a contiguous half x start at odd element offsets too
# Input layouts: "contiguous"; "offset": contiguous, but starting one element into its storage, so the data pointer
# is only 2-byte (complex32: 4-byte) aligned and the kernels' vector loads cannot apply; "strided": a slice of a
# wider tensor (not contiguous: analysis makes it contiguous, synthesis reads the strides).
LAYOUTS = ["contiguous", "offset", "strided"]
PATHS = ("auto", "fused", "two_kernel")


def _device_params():
    params = [pytest.param(("cpu", "auto"), id="cpu")]
    params += [pytest.param(("cuda", p), id=f"cuda-{p}", marks=pytest.mark.cuda) for p in PATHS]
    return params


@pytest.fixture(params=_device_params())
def dev(request):
    """The device, with spectro.kernel_path set for CUDA ('auto', 'fused', 'two_kernel'; the CPU runs once). Like
    conftest's `device` fixture, but with the two-kernel path as one case ('two_kernel') rather than its 'tiled' /
    'direct' framing kernels, which see float32 frames either way."""
    device, path = request.param
    request.node._spectro_kpath = path  # conftest reports a forced path that does not cover a case as skipped
    with spectro.kernel_path(path):
        yield device


def _layout(shape, dtype, gen, device, layout):
    """Seeded values in `dtype` (made in single precision on the CPU, then rounded) with the given layout (LAYOUTS),
    sliced on the device (copying a view to another device would give an aligned, contiguous tensor)."""
    base = torch.complex64 if dtype.is_complex else torch.float32
    if layout == "contiguous":
        return randn(shape, base, gen).to(device, dtype)
    if layout == "offset":
        t = randn((math.prod(shape) + 1,), base, gen).to(device, dtype)[1:].view(shape)
        assert t.is_contiguous() and t.storage_offset() == 1
    elif layout == "strided":
        t = randn(shape[:-1] + (shape[-1] + 3,), base, gen).to(device, dtype)[..., 1 : 1 + shape[-1]]
        assert not t.is_contiguous() and t.storage_offset() == 1
    else:
        raise ValueError(layout)
    return t


def _single(t):
    """The single-precision counterpart of a half tensor (exact), as a caller would convert it."""
    return t.to(torch.complex64) if t.is_complex() else t.float()


def _components(t):
    """Real components on the CPU, comparable with torch.equal (torch has no equal for complex32)."""
    t = t.detach().cpu()
    return torch.view_as_real(t) if t.is_complex() else t


def assert_same(actual, expected, what):
    assert actual.dtype == expected.dtype, f"[{what}] dtype {actual.dtype}, expected {expected.dtype}"
    assert actual.shape == expected.shape, f"[{what}] shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    assert actual.stride() == expected.stride(), f"[{what}] strides {actual.stride()}, expected {expected.stride()}"
    a, e = _components(actual), _components(expected)
    if not torch.equal(a, e):
        diff = (a.double() - e.double()).abs()
        raise AssertionError(f"[{what}] not bit for bit equal: {int((diff > 0).sum())} of {diff.numel()} components "
                             f"differ, largest difference {diff.max().item():.3e}")


def _analysis(x, w, n_fft, hop, pad_mode, fft_mode, out_dtype=None, env_normalize=False, scale=1.0):
    n_frames = 1 + x.shape[-1] // hop  # centred: pad = n_fft // 2
    return torch.ops.spectro.analysis(x, w, n_fft, hop, n_frames, n_fft // 2, pad_mode, env_normalize, fft_mode,
                                      scale, out_dtype)


def _synthesis(spec, w, n_fft, hop, pad_mode, fft_mode, out_dtype=None):
    # constant padding with the envelope division: istft; reflect without: the backward of a reflect-padded stft.
    env_normalize = pad_mode == "constant"
    return torch.ops.spectro.synthesis(spec, w, n_fft, hop, T, n_fft // 2, pad_mode, env_normalize, fft_mode,
                                       1.0 / n_fft if env_normalize else 1.0, out_dtype)


def _window(n_fft, device, dtype=torch.float32):
    return (torch.hann_window(n_fft, dtype=torch.float64) * 0.9 + 0.1).to(device, dtype)


# ---------------------------------------------------------------------------------------------------------------
# Op level: bit for bit the op on the converted input
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("fft_mode", ["rfft", "rfft_full", "rfft_double"])
@pytest.mark.parametrize("n_fft,hop", GEOMETRIES)
@pytest.mark.parametrize("dtype", HALF)
def test_analysis_half_x(dev, dtype, n_fft, hop, fft_mode, layout):
    gen = generator(seed_of("half inputs analysis", dtype, n_fft, fft_mode, layout))
    x = _layout((B, T), dtype, gen, dev, layout)
    w = _window(n_fft, dev)
    for pad_mode in ("constant", "reflect"):
        for out_dtype in (None, torch.complex32):
            what = f"{dtype} x, {fft_mode}, n_fft={n_fft}, {pad_mode}, {layout}, out_dtype={out_dtype}"
            s = _analysis(x, w, n_fft, hop, pad_mode, fft_mode, out_dtype)
            ref = _analysis(_single(x), w, n_fft, hop, pad_mode, fft_mode, out_dtype)
            assert s.dtype == (out_dtype or torch.complex64), what
            assert_same(s, ref, what)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_fft,hop", GEOMETRIES)
def test_analysis_complex32_x(dev, n_fft, hop, layout):
    gen = generator(seed_of("half inputs analysis c32", n_fft, layout))
    x = _layout((B, T), torch.complex32, gen, dev, layout)
    w = _window(n_fft, dev)
    for pad_mode in ("constant", "reflect"):
        for out_dtype in (None, torch.complex32):
            what = f"complex32 x, n_fft={n_fft}, {pad_mode}, {layout}, out_dtype={out_dtype}"
            s = _analysis(x, w, n_fft, hop, pad_mode, "fft", out_dtype)
            ref = _analysis(_single(x), w, n_fft, hop, pad_mode, "fft", out_dtype)
            assert s.dtype == (out_dtype or torch.complex64), what
            assert_same(s, ref, what)


def _spec_layout(n_frames, bins, gen, device, layout):
    """A complex32 spectrum [B, bins, n_frames] (LAYOUTS; "transposed": an stft result's layout, a transposed view of
    a frame-major buffer)."""
    if layout == "transposed":
        return _layout((B, n_frames, bins), torch.complex32, gen, device, "contiguous").transpose(1, 2)
    return _layout((B, bins, n_frames), torch.complex32, gen, device, layout)


@pytest.mark.parametrize("layout", LAYOUTS + ["transposed"])
@pytest.mark.parametrize("fft_mode", ["irfft", "irfft_half", "ifft_real", "ifft"])
@pytest.mark.parametrize("n_fft,hop", GEOMETRIES)
def test_synthesis_complex32_spec(dev, n_fft, hop, fft_mode, layout):
    gen = generator(seed_of("half inputs synthesis", n_fft, fft_mode, layout))
    bins = n_fft // 2 + 1 if fft_mode in ("irfft", "irfft_half") else n_fft
    spec = _spec_layout(1 + T // hop, bins, gen, dev, layout)
    w = _window(n_fft, dev)
    computed = torch.complex64 if fft_mode == "ifft" else torch.float32
    halves = (torch.complex32,) if fft_mode == "ifft" else (torch.float16, torch.bfloat16)
    for pad_mode in ("constant", "reflect"):
        for out_dtype in (None,) + halves:
            what = f"complex32 spec, {fft_mode}, n_fft={n_fft}, {pad_mode}, {layout}, out_dtype={out_dtype}"
            y = _synthesis(spec, w, n_fft, hop, pad_mode, fft_mode, out_dtype)
            ref = _synthesis(_single(spec), w, n_fft, hop, pad_mode, fft_mode, out_dtype)
            assert y.dtype == (out_dtype or computed), what
            assert_same(y, ref, what)


def test_zero_batch_half_inputs(dev):
    w = _window(8, dev)
    x = torch.zeros(0, 50, dtype=torch.bfloat16, device=dev)
    s = torch.ops.spectro.analysis(x, w, 8, 2, 26, 4, "reflect", False, "rfft", 1.0)
    assert s.dtype == torch.complex64 and s.shape == (0, 5, 26)
    spec = torch.zeros(0, 5, 26, dtype=torch.complex32, device=dev)
    y = torch.ops.spectro.synthesis(spec, w, 8, 2, 50, 4, "constant", True, "irfft", 0.125, torch.float16)
    assert y.dtype == torch.float16 and y.shape == (0, 50)


# ---------------------------------------------------------------------------------------------------------------
# Errors, Meta / fake tensors
def _small_analysis(device, xdtype, wdtype, fft_mode="rfft", out_dtype=None):
    base = torch.complex64 if xdtype.is_complex else torch.float32
    x = torch.randn(2, 50, dtype=base).to(device, xdtype)
    w = torch.hann_window(8, dtype=torch.float64).to(device, wdtype)
    return torch.ops.spectro.analysis(x, w, 8, 2, 26, 4, "reflect", False, fft_mode, 1.0, out_dtype)


def _small_synthesis(device, sdtype, wdtype, fft_mode="irfft", out_dtype=None):
    bins = 5 if fft_mode in ("irfft", "irfft_half") else 8
    base = torch.complex64 if sdtype.is_complex else torch.float32
    spec = torch.randn(2, bins, 26, dtype=base).to(device, sdtype)
    w = torch.hann_window(8, dtype=torch.float64).to(device, wdtype)
    return torch.ops.spectro.synthesis(spec, w, 8, 2, 50, 4, "constant", True, fft_mode, 0.125, out_dtype)


BAD_DTYPES = [
    ("float16_x_float64_window", lambda d: _small_analysis(d, torch.float16, torch.float64),
     r"spectro::analysis: expected window of dtype float32 for x of dtype float16 \(half precision is computed in "
     r"single precision\), but got window of dtype float64"),
    ("bfloat16_x_bfloat16_window", lambda d: _small_analysis(d, torch.bfloat16, torch.bfloat16),
     r"expected window of dtype float32 for x of dtype bfloat16 .*but got window of dtype bfloat16"),
    ("complex32_x_float64_window", lambda d: _small_analysis(d, torch.complex32, torch.float64, "fft"),
     r"expected window of dtype float32 for x of dtype complex32 .*but got window of dtype float64"),
    ("complex32_spec_float64_window", lambda d: _small_synthesis(d, torch.complex32, torch.float64),
     r"spectro::synthesis: expected window of dtype float32 for spec of dtype complex32 \(half precision is "
     r"computed in single precision\), but got window of dtype float64"),
    ("complex32_spec_float16_window", lambda d: _small_synthesis(d, torch.complex32, torch.float16, "ifft"),
     r"expected window of dtype float32 for spec of dtype complex32 .*but got window of dtype float16"),
    ("float16_x_fft_mode", lambda d: _small_analysis(d, torch.float16, torch.float32, "fft"),
     r"spectro::analysis: expected x of dtype complex64, complex128 or complex32 for fft_mode='fft', but got "
     r"float16"),
    ("complex32_x_real_mode", lambda d: _small_analysis(d, torch.complex32, torch.float32, "rfft_full"),
     r"spectro::analysis: expected x of dtype float32, float64, float16 or bfloat16 for fft_mode='rfft_full', but "
     r"got complex32"),
    ("float16_spec", lambda d: _small_synthesis(d, torch.float16, torch.float32),
     r"spectro::synthesis: expected spec of dtype complex64, complex128 or complex32 for fft_mode='irfft', but got "
     r"float16"),
    ("float64_x_float32_window", lambda d: _small_analysis(d, torch.float64, torch.float32),
     r"expected window of dtype float64 for x of dtype float64, but got window of dtype float32"),
]


@pytest.mark.parametrize("on_meta", [False, True], ids=["device", "meta"])
@pytest.mark.parametrize("case", BAD_DTYPES, ids=[c[0] for c in BAD_DTYPES])
def test_half_input_dtype_errors(dev, case, on_meta):
    _, call, match = case
    with pytest.raises(RuntimeError, match=match):
        call("meta" if on_meta else dev)


def test_meta_half_inputs(dev):
    """device="meta" and fake tensors: the dtypes, shapes and strides of the device kernels' results."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    cases = [
        (_small_analysis, (torch.float16, torch.float32), {}),
        (_small_analysis, (torch.bfloat16, torch.float32), {"out_dtype": torch.complex32}),
        (_small_analysis, (torch.complex32, torch.float32, "fft"), {}),
        (_small_analysis, (torch.complex32, torch.float32, "fft"), {"out_dtype": torch.complex32}),
        (_small_synthesis, (torch.complex32, torch.float32), {}),
        (_small_synthesis, (torch.complex32, torch.float32, "irfft_half"), {"out_dtype": torch.bfloat16}),
        (_small_synthesis, (torch.complex32, torch.float32, "ifft_real"), {"out_dtype": torch.float16}),
        (_small_synthesis, (torch.complex32, torch.float32, "ifft"), {}),
        (_small_synthesis, (torch.complex32, torch.float32, "ifft"), {"out_dtype": torch.complex32}),
    ]
    for fn, args, kw in cases:
        real = fn(dev, *args, **kw)
        meta = fn("meta", *args, **kw)
        with FakeTensorMode():
            fake = fn(dev, *args, **kw)
        for name, t in (("meta", meta), ("fake", fake)):
            what = f"{name}: {fn.__name__}{args} {kw}"
            assert t.dtype == real.dtype and t.shape == real.shape and t.stride() == real.stride(), (
                what, t.dtype, real.dtype, t.shape, real.shape, t.stride(), real.stride())
    assert _small_analysis("meta", torch.float16, torch.float32).dtype == torch.complex64
    assert _small_synthesis("meta", torch.complex32, torch.float32).dtype == torch.float32


def test_opcheck_half_inputs(dev):
    """Schema, autograd registration, fake tensors and AOT dispatch with half inputs (x float16 / bfloat16 /
    complex32, spec complex32). With a complex32 *output* (out_dtype) the AOT dispatch tests are left out: they sum
    the outputs, and torch has no sum for complex32 ("sum_cpu" not implemented for 'ComplexHalf'), a torch
    limitation, not the op's (test_kernel_dtype.py's test_opcheck_out_dtype does the same)."""
    gen = generator(seed_of("half inputs opcheck"))
    w = (0.5 + torch.rand(8, generator=gen)).to(dev).requires_grad_()
    no_aot = ("test_schema", "test_autograd_registration", "test_faketensor")
    for dtype, mode in ((torch.float16, "rfft"), (torch.bfloat16, "rfft_double"), (torch.complex32, "fft")):
        x = _layout((2, 50), dtype, gen, dev, "contiguous").requires_grad_()
        args = (x, w, 8, 2, 26, 4, "reflect", False, mode, 1.0)
        opcheck(torch.ops.spectro.analysis.default, args)
        opcheck(torch.ops.spectro.analysis.default, args, {"out_dtype": torch.complex32}, test_utils=no_aot)
    for mode, bins in (("irfft", 5), ("ifft_real", 8), ("ifft", 8)):
        spec = _layout((2, bins, 26), torch.complex32, gen, dev, "contiguous").requires_grad_()
        args = (spec, w, 8, 2, 50, 4, "constant", True, mode, 0.125)
        opcheck(torch.ops.spectro.synthesis.default, args)
        if mode == "ifft":
            opcheck(torch.ops.spectro.synthesis.default, args, {"out_dtype": torch.complex32}, test_utils=no_aot)
        else:
            opcheck(torch.ops.spectro.synthesis.default, args, {"out_dtype": torch.bfloat16})


# ---------------------------------------------------------------------------------------------------------------
# Gradients
N_FFT_G, HOP_G, T_G = 64, 16, 700


# (kind, input dtype, fft_mode): analysis of a float16 / bfloat16 / complex32 x; synthesis of a complex32 spec to a
# real signal (irfft) or a complex one (ifft).
GRAD_CASES = [("analysis", torch.float16, "rfft"), ("analysis", torch.bfloat16, "rfft"),
              ("analysis", torch.complex32, "fft"), ("synthesis", torch.complex32, "irfft"),
              ("synthesis", torch.complex32, "ifft")]
GRAD_IDS = [f"{kind}-{str(dtype)[6:]}-{mode}" for kind, dtype, mode in GRAD_CASES]


def _grad_case(kind, dtype, mode, gen, device):
    """(input, call(input, window, out_dtype=None)): a centred, reflect-padded analysis of a half x, or an
    istft-like synthesis of a complex32 spec."""
    if kind == "analysis":
        inp = _layout((2, T_G), dtype, gen, device, "contiguous")

        def call(i, w, out_dtype=None):
            return torch.ops.spectro.analysis(i, w, N_FFT_G, HOP_G, 1 + T_G // HOP_G, N_FFT_G // 2, "reflect", False,
                                              mode, 1.0, out_dtype)
    else:
        bins = N_FFT_G // 2 + 1 if mode == "irfft" else N_FFT_G
        inp = _layout((2, bins, 1 + T_G // HOP_G), dtype, gen, device, "contiguous")

        def call(i, w, out_dtype=None):
            return torch.ops.spectro.synthesis(i, w, N_FFT_G, HOP_G, T_G, N_FFT_G // 2, "constant", True, mode,
                                               1.0 / N_FFT_G, out_dtype)
    return inp, call


@pytest.mark.parametrize("out_half", [False, True], ids=["out_single", "out_half"])
@pytest.mark.parametrize("kind,dtype,mode", GRAD_CASES, ids=GRAD_IDS)
def test_input_gradient_in_own_dtype(dev, kind, dtype, mode, out_half):
    """A linear loss <result, G>: the half input's gradient is the float32 call's gradient (the same adjoint op on
    the same incoming gradient) rounded once to the input's dtype, bit for bit; also when the result itself is
    stored in half precision (out_dtype) and the incoming gradient is half."""
    gen = generator(seed_of("half inputs grad", kind, dtype, mode, out_half))
    inp, call = _grad_case(kind, dtype, mode, gen, dev)
    w = _window(N_FFT_G, dev)
    probe = call(inp, w)
    out_dtype = None
    if out_half:
        out_dtype = {torch.complex64: torch.complex32, torch.float32: torch.float16}[probe.dtype]
    G = randn(probe.shape, probe.dtype, gen, dev)
    if out_half:
        G = G.to(out_dtype)

    def grad(i):
        i = i.detach().clone().requires_grad_()
        (g,) = torch.autograd.grad(call(i, w, out_dtype), i, G)
        return g

    g = grad(inp)
    assert g.dtype == inp.dtype and g.shape == inp.shape
    g32 = grad(_single(inp))
    assert g32.dtype == _single(inp).dtype
    expected = g32.to(inp.dtype)
    assert_same(g, expected, f"{kind} {dtype} {mode} input gradient vs the float32 gradient rounded")


@pytest.mark.parametrize("kind,dtype,mode", GRAD_CASES, ids=GRAD_IDS)
def test_window_gradient_half_input(dev, kind, dtype, mode):
    """The window gradient with a half input is the float32 call's (the formula reads the input converted to single
    precision, exactly): within float32 rounding (tolerance of helpers.py; a window gradient rounded through half
    precision would be ~2^-11 off, far outside it). Its dtype is the window's."""
    gen = generator(seed_of("half inputs window grad", kind, dtype, mode))
    inp, call = _grad_case(kind, dtype, mode, gen, dev)
    w0 = _window(N_FFT_G, dev)
    G = randn(call(inp, w0).shape, call(inp, w0).dtype, gen, dev)

    def grads(i):
        i, w = i.detach().clone().requires_grad_(), w0.clone().requires_grad_()
        return torch.autograd.grad(call(i, w), (i, w), G)

    gi, gw = grads(inp)
    gi32, gw32 = grads(_single(inp))
    assert gi.dtype == inp.dtype and gw.dtype == torch.float32
    assert_same(gi, gi32.to(inp.dtype), "input gradient (window requires grad too)")
    assert_close_fft(gw, gw32, N_FFT_G, what=f"{kind} {dtype} {mode} window gradient vs the float32 input's")


@pytest.mark.parametrize("kind,dtype,mode", GRAD_CASES, ids=GRAD_IDS)
def test_second_order_half_input(dev, kind, dtype, mode):
    """Double backward through the half input's gradient cast: loss ||result||^2, then <grad, V> with V exactly
    representable in half precision. The second-order input gradient is the float32 call's rounded once (bit for
    bit). With the window's gradient in the second-order loss too (+ <grad_w, v>), the input's second-order gradient
    gets two contributions (through the adjoint op and through the window-gradient formula), each rounded to half
    before autograd adds them: within one more half rounding, norm-wise; the window's second-order gradient is the
    float32 call's to float32 rounding."""
    gen = generator(seed_of("half inputs second order", kind, dtype, mode))
    inp, call = _grad_case(kind, dtype, mode, gen, dev)
    w0 = _window(N_FFT_G, dev)
    V = randn(inp.shape, _single(inp).dtype, gen, dev).to(inp.dtype).to(_single(inp).dtype)  # half-exact

    def loss_of(out):
        return (torch.view_as_real(out) if out.is_complex() else out).pow(2).sum()

    def pair(g):
        c = _single(g)
        return (torch.view_as_real(c) * torch.view_as_real(V)).sum() if c.is_complex() else (c * V).sum()

    vw = randn((N_FFT_G,), torch.float32, gen, dev)

    def second(i, with_window):
        i, w = i.detach().clone().requires_grad_(), w0.clone().requires_grad_(with_window)
        if not with_window:
            (g,) = torch.autograd.grad(loss_of(call(i, w)), i, create_graph=True)
            assert g.dtype == i.dtype
            return torch.autograd.grad(pair(g), i)
        g, gw = torch.autograd.grad(loss_of(call(i, w)), (i, w), create_graph=True)
        assert g.dtype == i.dtype and gw.dtype == torch.float32
        return torch.autograd.grad(pair(g) + (gw * vw).sum(), (i, w))

    (g2,) = second(inp, False)
    (g2_32,) = second(_single(inp), False)
    assert g2.dtype == inp.dtype
    assert_same(g2, g2_32.to(inp.dtype), f"{kind} {dtype} {mode} second-order input gradient")

    g2, g2w = second(inp, True)
    g2_32, g2w_32 = second(_single(inp), True)
    assert g2.dtype == inp.dtype and g2w.dtype == torch.float32
    a, e = _components(g2).double(), _components(g2_32).double()
    rel = ((a - e).norm() / e.norm()).item()
    assert rel <= eps_of(inp.dtype) + fft_tolerance(torch.float32, N_FFT_G), (
        f"second-order input gradient with the window in the graph: relative error {rel:.3e}")
    assert_close_fft(g2w, g2w_32, N_FFT_G, what=f"{kind} {dtype} {mode} second-order window gradient")


# ---------------------------------------------------------------------------------------------------------------
# spectro.stft / istft: the same results as converting first (today's behaviour)
@pytest.mark.parametrize("kernel_dtype", ["float32", "mixed"])
@pytest.mark.parametrize("layout", ["contiguous", "offset", "strided"])
@pytest.mark.parametrize("n_fft,hop", GEOMETRIES)
@pytest.mark.parametrize("dtype", HALF)
def test_stft_half_input_unchanged(dev, dtype, n_fft, hop, layout, kernel_dtype):
    gen = generator(seed_of("half inputs stft", dtype, n_fft, layout))
    x = _layout((2, B, T), dtype, gen, dev, layout)
    w32 = _window(n_fft, dev)
    def warns(window):  # the rectangular-window warning, once per process (reset in between)
        spectro._C.reset_warnings()
        if window is None:
            return pytest.warns(UserWarning, match="window was not provided")
        return contextlib.nullcontext()

    for window in (w32, w32.to(dtype), None):
        for pad_mode in ("reflect", "constant"):
            what = f"stft {dtype}, n_fft={n_fft}, {layout}, window {None if window is None else window.dtype}, " \
                   f"{pad_mode}, {kernel_dtype}"
            with warns(window):
                s = spectro.stft(x, n_fft, hop, window=window, pad_mode=pad_mode, return_complex=True,
                                 kernel_dtype=kernel_dtype)
            with warns(window):
                ref = spectro.stft(x.float(), n_fft, hop, window=None if window is None else window.float(),
                                   pad_mode=pad_mode, return_complex=True, kernel_dtype=kernel_dtype)
            assert s.dtype == (torch.complex32 if kernel_dtype == "mixed" else torch.complex64), what
            assert_same(s, ref, what)
    if kernel_dtype == "float32":  # a float64 window: double precision, the half input converted to float64
        s = spectro.stft(x, n_fft, hop, window=w32.double(), return_complex=True)
        assert_same(s, spectro.stft(x.double(), n_fft, hop, window=w32.double(), return_complex=True),
                    f"stft {dtype} with a float64 window")
    r = spectro.stft(x[0, :2], n_fft, hop, window=w32, center=False, onesided=False, return_complex=True,
                     kernel_dtype=kernel_dtype)
    assert_same(r, spectro.stft(x[0, :2].float(), n_fft, hop, window=w32, center=False, onesided=False,
                                return_complex=True, kernel_dtype=kernel_dtype), "stft two-sided, center=False")


@pytest.mark.parametrize("kernel_dtype", ["float32", "mixed"])
@pytest.mark.parametrize("n_fft,hop", GEOMETRIES)
def test_stft_complex32_input_unchanged(dev, n_fft, hop, kernel_dtype):
    gen = generator(seed_of("half inputs stft c32", n_fft))
    x = _layout((B, T), torch.complex32, gen, dev, "offset")
    w32 = _window(n_fft, dev)
    for window in (w32, w32.half(), w32.bfloat16()):
        s = spectro.stft(x, n_fft, hop, window=window, return_complex=True, kernel_dtype=kernel_dtype)
        ref = spectro.stft(x.to(torch.complex64), n_fft, hop, window=window.float(), return_complex=True,
                           kernel_dtype=kernel_dtype)
        assert_same(s, ref, f"stft complex32, window {window.dtype}, {kernel_dtype}")
    if kernel_dtype == "float32":
        s = spectro.stft(x, n_fft, hop, window=w32.double(), return_complex=True)
        assert s.dtype == torch.complex128
        assert_same(s, spectro.stft(x.to(torch.complex128), n_fft, hop, window=w32.double(), return_complex=True),
                    "stft complex32 with a float64 window")


@pytest.mark.filterwarnings("ignore:The length of signal is shorter")
@pytest.mark.parametrize("kernel_dtype", ["float32", "mixed"])
@pytest.mark.parametrize("n_fft,hop", GEOMETRIES)
def test_istft_complex32_unchanged(dev, n_fft, hop, kernel_dtype):
    """istft of a complex32 spectrum (an stft result's layout, and a contiguous one at an odd storage offset) equals
    istft of the spectrum converted to complex64: today's results, in today's dtypes (float32: the single-precision
    result converted to the promoted dtype; mixed: stored in half by the op)."""
    gen = generator(seed_of("half inputs istft", n_fft))
    n_frames = 1 + T // hop
    w32 = _window(n_fft, dev)
    specs = {
        "stft layout": spectro.stft(randn((2, B, T), torch.float32, gen, dev), n_fft, hop, window=w32,
                                    return_complex=True).to(torch.complex32),
        "offset": _layout((B * (n_fft // 2 + 1) * n_frames,), torch.complex32, gen, dev, "offset")
        .view(B, n_fft // 2 + 1, n_frames),
    }
    for name, spec in specs.items():
        for window in (w32, w32.half(), w32.bfloat16(), None):
            wdesc = None if window is None else window.dtype
            h = n_fft if window is None else hop  # (a rectangular window keeps NOLA at any hop; n_fft is quicker)
            kw = dict(window=window, length=T, kernel_dtype=kernel_dtype)
            y = spectro.istft(spec, n_fft, h, **kw)
            y64 = spectro.istft(spec.to(torch.complex64), n_fft, h, **kw)
            if kernel_dtype == "float32":  # today: the complex64 computation, then the promoted dtype
                expected = torch.float32 if window is not None and window.dtype != torch.float16 else torch.float16
                y64 = y64.to(expected)
            assert_same(y, y64, f"istft complex32 ({name}), window {wdesc}, {kernel_dtype}")
        # Two-sided spectrum, real output (the op reads the first n_fft // 2 + 1 bins), and return_complex. (Built
        # in complex64: torch has no flip for complex32.)
        s64 = spec.to(torch.complex64)
        two = torch.cat([s64, s64[..., 1 : n_fft - n_fft // 2, :].flip(-2).conj()], dim=-2).to(torch.complex32)
        assert two.shape[-2] == n_fft
        for return_complex in (False, True):
            kw = dict(window=w32.half(), length=T, onesided=False, return_complex=return_complex,
                      kernel_dtype=kernel_dtype)
            y = spectro.istft(two, n_fft, hop, **kw)
            y64 = spectro.istft(two.to(torch.complex64), n_fft, hop, **kw)
            if kernel_dtype == "float32":
                y64 = y64.to(torch.complex32 if return_complex else torch.float16)
            assert_same(y, y64, f"istft two-sided complex32 ({name}), return_complex={return_complex}")
    # A float64 window: double precision, the spectrum converted to complex128 (as today).
    spec = specs["stft layout"]
    y = spectro.istft(spec, n_fft, hop, window=w32.double(), length=T)
    assert y.dtype == torch.float64
    assert_same(y, spectro.istft(spec.to(torch.complex128), n_fft, hop, window=w32.double(), length=T),
                "istft complex32 with a float64 window")


@pytest.mark.parametrize("dtype", HALF)
def test_functional_gradients_half_inputs(dev, dtype):
    """Through spectro.stft / istft: the half input's and complex32 spectrum's gradients in their own dtypes, equal
    to the converted call's gradients rounded once (as before the op read half itself)."""
    n_fft, hop = 128, 32
    gen = generator(seed_of("half inputs functional grad", dtype))
    x0 = _layout((2, 1500), dtype, gen, dev, "offset")
    w = _window(n_fft, dev)

    def stft_grad(x):
        x = x.detach().clone().requires_grad_()
        s = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
        (g,) = torch.autograd.grad(s.abs().pow(2).sum(), x)
        return g

    g = stft_grad(x0)
    assert g.dtype == dtype
    assert_same(g, stft_grad(x0.float()).to(dtype), f"stft {dtype} input gradient")

    spec0 = spectro.stft(x0.float(), n_fft, hop, window=w, return_complex=True).to(torch.complex32)

    # Today's istft of a complex32 spectrum: the complex64 call on the converted spectrum and window, its result
    # converted to the promoted dtype (float16 with a float16 window, float32 with a bfloat16 one).
    wh = w.to(dtype)
    out_dtype = torch.promote_types(torch.float16, dtype)

    def istft_grad(s, converted):
        s = s.detach().clone().requires_grad_()
        if converted:
            y = spectro.istft(s.to(torch.complex64), n_fft, hop, window=wh.float(), length=1500).to(out_dtype)
        else:
            y = spectro.istft(s, n_fft, hop, window=wh, length=1500)
        assert y.dtype == out_dtype
        (g,) = torch.autograd.grad(y.float().pow(2).sum(), s)
        return g

    g = istft_grad(spec0, False)
    assert g.dtype == torch.complex32
    assert_same(g, istft_grad(spec0, True), f"istft complex32, window {dtype}")


class _RecordOps(torch.utils._python_dispatch.TorchDispatchMode):
    """The spectro ops and dtype conversions called, each with its first argument's dtype and shape."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.name()
        if name.startswith("spectro::") or name == "aten::_to_copy":
            self.calls.append((name, args[0].dtype, tuple(args[0].shape)))
        return func(*args, **(kwargs or {}))


def test_functional_passes_half_inputs_to_the_ops(dev):
    """spectro.stft / istft give a half input to the op as it is (no conversion pass of their own) when the
    computation is single precision, and convert it when it is double precision (a float64 window)."""
    n_fft, hop = 64, 16
    gen = generator(seed_of("half inputs pass through"))
    w = _window(n_fft, dev)
    for dtype, window in ((torch.bfloat16, w), (torch.float16, w.half()), (torch.float16, None),
                          (torch.complex32, w.bfloat16())):
        x = _layout((2, 600), dtype, gen, dev, "contiguous")
        with _RecordOps() as rec, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # (the rectangular window's warning)
            spectro.stft(x, n_fft, hop, window=window, return_complex=True)
        assert ("spectro::analysis", dtype, x.shape) in rec.calls, rec.calls
        assert not any(name == "aten::_to_copy" and shape == x.shape for name, _, shape in rec.calls), rec.calls
    spec = _layout((2, n_fft // 2 + 1, 30), torch.complex32, gen, dev, "contiguous")
    for kernel_dtype in ("float32", "mixed"):
        with _RecordOps() as rec:
            spectro.istft(spec, n_fft, hop, window=w.half(), length=400, kernel_dtype=kernel_dtype)
        assert ("spectro::synthesis", torch.complex32, spec.shape) in rec.calls, rec.calls
        assert not any(name == "aten::_to_copy" and shape == spec.shape for name, _, shape in rec.calls), rec.calls
    # Double precision: converted by spectro.stft / istft, as before (the ops take a float32 window with half input).
    with _RecordOps() as rec:
        spectro.stft(_layout((2, 600), torch.bfloat16, gen, dev, "contiguous"), n_fft, hop, window=w.double(),
                     return_complex=True)
        spectro.istft(spec, n_fft, hop, window=w.double(), length=400)
    ops = [(name, dtype) for name, dtype, _ in rec.calls if name.startswith("spectro::")]
    assert ops == [("spectro::analysis", torch.float64), ("spectro::synthesis", torch.complex128)], rec.calls
