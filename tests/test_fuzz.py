"""Property-based (hypothesis) sweeps of random geometries against torch.stft / torch.istft and of the stft/istft
adjoint relation. Deterministic (derandomize=True), so failures reproduce; skipped when hypothesis is missing."""
from __future__ import annotations

import pytest
import torch

import spectro
from helpers import assert_close_fft, generator, istft_envelope, make_signal, make_window, reference_istft

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def stft_geometry(draw):
    n_fft = draw(st.integers(1, 96))
    win = draw(st.integers(1, n_fft))
    hop = draw(st.integers(1, 2 * n_fft + 3))
    center = draw(st.booleans())
    pad_mode = draw(st.sampled_from(["reflect", "constant", "replicate", "circular"]))
    if center:
        t_min = n_fft // 2 + 1 if pad_mode == "reflect" else max(1, n_fft // 2)
    else:
        t_min = n_fft
    T = draw(st.integers(t_min, t_min + 3 * n_fft + 2 * hop + 5))
    batch = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    dtype = draw(st.sampled_from([torch.float64, torch.complex128, torch.float32]))
    window = draw(st.sampled_from([None, "randn", "hann"]))
    normalized = draw(st.booleans())
    onesided = draw(st.sampled_from([None, False] + ([] if dtype.is_complex else [True])))
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(n_fft=n_fft, win=win, hop=hop, center=center, pad_mode=pad_mode, T=T, batch=batch, dtype=dtype,
                window=window, normalized=normalized, onesided=onesided, seed=seed)


@pytest.mark.kernel_paths
@SETTINGS
@given(g=stft_geometry())
def test_stft_random_geometry_matches_torch(g, device, quiet):
    gen = generator(g["seed"])
    x = make_signal(g["batch"], g["T"], g["dtype"], gen).to(device)
    rdtype = g["dtype"].to_real() if g["dtype"].is_complex else g["dtype"]
    w = make_window(g["window"], g["win"], rdtype, gen, device)
    kw = dict(hop_length=g["hop"], win_length=g["win"], window=w, center=g["center"], pad_mode=g["pad_mode"],
              normalized=g["normalized"], onesided=g["onesided"], return_complex=True)
    flat = x.reshape(-1, g["T"]) if x.dim() > 2 else x
    expected = torch.stft(flat, g["n_fft"], **kw)
    expected = expected.reshape(x.shape[:-1] + expected.shape[-2:])
    actual = spectro.stft(x, g["n_fft"], **kw)
    assert_close_fft(actual, expected, g["n_fft"], what=str(g))


@st.composite
def istft_geometry(draw):
    n_fft = draw(st.integers(2, 96))
    center = draw(st.booleans())
    win = n_fft if not center else draw(st.integers(max(1, n_fft // 2), n_fft))
    hop = draw(st.integers(1, win))
    n_frames = draw(st.integers(1 if not center else 2, 12))
    natural = n_fft + hop * (n_frames - 1)
    start = n_fft // 2 if center else 0
    max_len = natural - start
    length = draw(st.one_of(st.none(), st.integers(1, max_len + 2 * hop)))
    if length is None and natural - 2 * start <= 0:
        length = max_len
    mode = draw(st.sampled_from(["onesided", "twosided", "complex"]))
    dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    normalized = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(n_fft=n_fft, win=win, hop=hop, n_frames=n_frames, center=center, length=length, mode=mode,
                dtype=dtype, normalized=normalized, seed=seed)


@pytest.mark.kernel_paths
@SETTINGS
@given(g=istft_geometry())
def test_istft_random_geometry_matches_torch(g, device, quiet):
    gen = generator(g["seed"])
    n_fft = g["n_fft"]
    bins = n_fft // 2 + 1 if g["mode"] == "onesided" else n_fft
    cdtype = g["dtype"].to_complex()
    spec = torch.complex(torch.randn(2, bins, g["n_frames"], generator=gen, dtype=g["dtype"]),
                         torch.randn(2, bins, g["n_frames"], generator=gen, dtype=g["dtype"])).to(cdtype)
    if g["mode"] != "complex":
        spec[:, 0].imag.zero_()
        if n_fft % 2 == 0:
            spec[:, n_fft // 2].imag.zero_()
    spec = spec.to(device)
    w = make_window("rand", g["win"], g["dtype"], gen, device)  # positive: NOLA holds where the frames reach
    kw = dict(hop_length=g["hop"], win_length=g["win"], window=w, center=g["center"], normalized=g["normalized"],
              length=g["length"], return_complex=g["mode"] == "complex")
    try:
        expected = torch.istft(spec, n_fft, **kw)
    except RuntimeError as e:
        if "window overlap add min" not in str(e):
            raise
        with pytest.raises(RuntimeError, match="NOLA"):
            spectro.istft(spec, n_fft, torch_like=True, **kw)
        return
    actual = spectro.istft(spec, n_fft, **kw)
    env = istft_envelope(w, n_fft, g["hop"], g["win"], g["n_frames"], g["center"], g["length"])
    weight = torch.where(env > 0, env, torch.ones_like(env))
    # Against the magnitudes of the overlapping terms (helpers' module docstring): frames can cancel.
    scale = reference_istft(spec.reshape(-1, bins, g["n_frames"]), n_fft, g["hop"], g["win"], w, g["center"],
                            g["normalized"], g["mode"] != "complex", g["length"], g["mode"] == "complex",
                            magnitudes=True).reshape(actual.shape)
    assert_close_fft(actual, expected, n_fft, what=str(g), weight=weight, scale=scale)


# Each analysis fft_mode and the synthesis fft_mode of its transpose (the pairs spectro's backward uses).
ADJOINT_MODE = spectro._C.ADJOINT_FFT_MODE  # (the vocabulary, defined once in C++)


@pytest.mark.kernel_paths
@SETTINGS
@given(g=stft_geometry())
def test_analysis_synthesis_are_adjoint(g, device, quiet):
    """<A x, y> = <x, A^T y> for the core ops (spectro's backward relies on it), on random geometries, in float64:
    analysis with each real-input fft_mode against synthesis with its adjoint mode."""
    n_fft, hop, T = g["n_fft"], g["hop"], g["T"]
    pad = n_fft // 2 if g["center"] else 0
    mode = g["pad_mode"] if g["center"] else "constant"
    n_frames = 1 + (T + 2 * pad - n_fft) // hop
    gen = generator(g["seed"])
    is_complex = g["dtype"].is_complex
    x = make_signal((2,), T, torch.complex128 if is_complex else torch.float64, gen).to(device)
    w = make_window("randn", n_fft, torch.float64, gen, device)
    for amode in (["fft"] if is_complex else ["rfft", "rfft_full", "rfft_double"]):
        smode = ADJOINT_MODE[amode]
        for env in (False, True):
            if env:
                w = w.abs() + 0.5  # keep the envelope away from the 1e-11 threshold
            ax = torch.ops.spectro.analysis(x, w, n_fft, hop, n_frames, pad, mode, env, amode, 0.8)
            y = torch.complex(torch.randn(ax.shape, generator=gen, dtype=torch.float64),
                              torch.randn(ax.shape, generator=gen, dtype=torch.float64)).to(device)
            aty = torch.ops.spectro.synthesis(y, w, n_fft, hop, T, pad, mode, env, smode, 0.8)
            lhs = (ax.conj() * y).real.sum()
            rhs = (x.conj() * aty).real.sum() if is_complex else (x * aty).sum()
            scale = float(ax.abs().norm() * y.abs().norm()) + 1e-300
            assert abs(float(lhs - rhs)) <= 1e-12 * scale, (
                f"{amode}/{smode} env={env}: <Ax,y>={float(lhs)!r} != <x,A^T y>={float(rhs)!r} ({g})"
            )
