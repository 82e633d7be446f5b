"""spectro.istft against torch.istft (values to FFT rounding, weighted by the window envelope, see helpers.py), round
trips, the NOLA condition (torch_like / safety) and its once-per-window check."""
from __future__ import annotations

import pytest
import torch

import spectro
from helpers import (
    ENVELOPE_EPS,
    assert_close_fft,
    config_id,
    covering_configs,
    generator,
    has_warning,
    istft_envelope,
    make_signal,
    make_window,
    messages,
    randn,
    record_warnings,
    reference_istft,
    seed_of,
    torch_istft_nd,
)

PAD_MODES = ["reflect", "constant", "replicate", "circular"]
EXTRA_BATCH = {0: (), 1: (3,), 2: (2, 2), 3: (2, 1, 2)}
NOLA_WARNING = "NOLA"
LONGER_WARNING = "The length of signal is shorter than the length parameter"

AXES = dict(
    n_fft=[15, 16, 64, 400],
    hop=["div", "nondiv", "eqwin"],  # win_length // 4, win_length // 3 + 1, win_length (no overlap)
    win=["full", "short", "short_odd"],
    window=[None, "hann", "rand"],
    wdtype=["same", "other"],
    center=[True, False],
    normalized=[False, True],
    sided=["one_none", "one_true", "two_none", "two_false", "complex"],
    length=[None, "natural", "shorter", "into_pad", "longer"],
    batch=[0, 1, 2, 3],
    dtype=[torch.float32, torch.float64],
    frames=[3, 17],
    layout=["stft_like", "contiguous", "sliced"],
)
STRONG = ("n_fft", "hop", "win", "center", "sided", "length", "window")


def _valid(c: dict) -> bool:
    # Keep to configurations where torch.istft does not raise (NOLA holds over the output; NOLA failures are
    # tested separately below): without centring the first output sample sees only window[0], so the padded window
    # must be non-zero there; a hann window is zero at its first sample, so its frames must overlap.
    if c.get("center") is False and (c.get("win", "full") != "full" or c.get("window") == "hann"):
        return False
    if c.get("window") == "hann" and c.get("hop") == "eqwin":
        return False
    if c.get("window") is None and c.get("wdtype") == "other":
        return False
    return True


GRID = covering_configs(AXES, strong=STRONG, valid=_valid, seed=2)


def geometry(cfg):
    n_fft = cfg["n_fft"]
    win = {"full": n_fft, "short": n_fft - n_fft // 4, "short_odd": n_fft - n_fft // 4 - 1}[cfg["win"]]
    hop = {"div": max(1, win // 4), "nondiv": win // 3 + 1, "eqwin": win}[cfg["hop"]]
    return n_fft, hop, win


def make_spectrum(batch_shape, bins, n_frames, dtype, gen, layout, hermitian_edges: bool, n_fft: int):
    """Random complex spectrum (..., bins, n_frames). hermitian_edges: zero the imaginary part of the DC bin (and
    of the Nyquist bin for even n_fft), which a real signal's spectrum has; the inverse real FFT ignores them, but
    only up to the backend's algorithm, so random values there are not a well-defined input."""
    cdtype = dtype.to_complex()
    shape = tuple(batch_shape)
    if layout == "stft_like":  # frame-major buffer viewed as (..., bins, frames): torch.stft's output layout
        s = randn(shape + (n_frames, bins), cdtype, gen).transpose(-1, -2)
    elif layout == "contiguous":
        s = randn(shape + (bins, n_frames), cdtype, gen)
    elif layout == "sliced":  # every other frame of a longer spectrum
        s = randn(shape + (bins, 2 * n_frames), cdtype, gen)[..., ::2]
    else:
        raise ValueError(layout)
    if hermitian_edges:
        s = s.clone() if layout == "sliced" else s
        s[..., 0, :] = s[..., 0, :].real.to(cdtype)
        if n_fft % 2 == 0:
            s[..., n_fft // 2, :] = s[..., n_fft // 2, :].real.to(cdtype)
    return s


def natural_length(n_fft, hop, n_frames, center):
    """istft's default output length: the frames' span minus the centre padding on both sides."""
    natural = n_fft + hop * (n_frames - 1)
    return natural - 2 * (n_fft // 2) if center else natural


def max_length(n_fft, hop, n_frames, center):
    """The longest output that the frames reach (the span minus the left centre padding); a longer `length` is
    zero-padded, with a warning."""
    return n_fft + hop * (n_frames - 1) - (n_fft // 2 if center else 0)


def envelope_weight(window, n_fft, hop, win, n_frames, center, length):
    """Per-output-sample weight for the comparison: the window envelope there (see helpers), 1 past the natural end
    (both sides must give exact zeros there)."""
    env = istft_envelope(window, n_fft, hop, win, n_frames, center, length)
    return torch.where(env > 0, env, torch.ones_like(env))


@pytest.mark.kernel_paths
@pytest.mark.parametrize("cfg", GRID, ids=[f"g{i}" for i in range(len(GRID))])
def test_istft_grid_matches_torch(cfg, device, quiet):
    n_fft, hop, win = geometry(cfg)
    n_frames = cfg["frames"]
    dtype = cfg["dtype"]
    sided = cfg["sided"]
    gen = generator(seed_of("istft", config_id(cfg)))
    bins = n_fft // 2 + 1 if sided.startswith("one") else n_fft
    spec = make_spectrum(
        EXTRA_BATCH[cfg["batch"]], bins, n_frames, dtype, gen, cfg["layout"], sided != "complex", n_fft
    ).to(device)
    wdtype = dtype if cfg["wdtype"] == "same" else ({torch.float32: torch.float64, torch.float64: torch.float32}[dtype])
    window = make_window(cfg["window"], win, wdtype, gen, device)
    nat = natural_length(n_fft, hop, n_frames, cfg["center"])
    reach = max_length(n_fft, hop, n_frames, cfg["center"])
    length = {
        None: None, "natural": nat, "shorter": max(1, nat - hop - 1), "into_pad": (nat + reach + 1) // 2,
        "longer": reach + hop + 3,
    }[cfg["length"]]
    onesided = {"one_none": None, "one_true": True, "two_none": None, "two_false": False, "complex": None}[sided]
    kw = dict(
        hop_length=hop, win_length=win, window=window, center=cfg["center"], normalized=cfg["normalized"],
        onesided=onesided, length=length, return_complex=sided == "complex",
    )
    what = f"n_fft={n_fft} hop={hop} win={win} N={n_frames} length={length} {config_id(cfg)}"
    spec_before = spec.clone()
    # torch.istft runs the inverse FFT in the spectrum's precision and promotes only when applying the window;
    # spectro promotes first. With a float32 operand the result is only float32-accurate either way.
    tol_dtype = torch.float32 if torch.float32 in (dtype, wdtype) else torch.float64
    weight = envelope_weight(window, n_fft, hop, win, n_frames, cfg["center"], length).to(device)
    try:
        expected = torch_istft_nd(spec, n_fft, **kw)
    except RuntimeError as e:
        # NOLA fails within the frames' reach (a short window's zero padding at the end, reached by a long
        # `length`): spectro must raise with torch_like=True and otherwise zero those samples (float64 reference).
        assert "window overlap add min" in str(e), f"unexpected torch error: {e}"
        with pytest.raises(RuntimeError, match="NOLA"):
            spectro.istft(spec, n_fft, torch_like=True, **kw)
        actual = spectro.istft(spec, n_fft, **kw)
        flat = spec.reshape((-1,) + spec.shape[-2:])
        ref = reference_istft(flat, n_fft, hop, win, window, cfg["center"], cfg["normalized"], sided != "complex",
                              length, sided == "complex")
        expected = ref.reshape(actual.shape).to(actual.dtype).to(device)
        assert_close_fft(actual, expected, n_fft, what=what + " (NOLA fails)", weight=weight, tol_dtype=tol_dtype,
                         check_strides=False)
        return
    actual = spectro.istft(spec, n_fft, **kw)
    assert_close_fft(actual, expected, n_fft, what=what, weight=weight, tol_dtype=tol_dtype)
    if length is not None and length > reach:
        tail = actual[..., reach:]
        assert torch.count_nonzero(tail) == 0, f"[{what}] samples past the natural end are not 0"
    assert torch.equal(spec, spec_before), f"[{what}] spectro.istft modified its input"


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.kernel_paths
@pytest.mark.parametrize("center", [True, False])
def test_istft_small_geometries_sweep(center, device, quiet):
    """Every small (n_fft, win_length, hop, n_frames, length) against torch: off-by-one errors in trimming and in
    the overlap-add index ranges."""
    gen = generator(seed_of("istft-sweep", center))
    checked = 0
    for n_fft in (1, 2, 5, 8):
        for win in sorted({n_fft, max(1, n_fft - 3)}):
            if not center and win != n_fft:
                continue  # NOLA fails at the edges
            for hop in sorted({1, max(1, win // 2), win}):
                for n_frames in (1, 2, 5):
                    nat = natural_length(n_fft, hop, n_frames, center)
                    reach = max_length(n_fft, hop, n_frames, center)
                    for length in sorted({None, 1, max(1, nat - 1), nat + 1, reach, reach + 1, reach + hop + 2},
                                         key=str):
                        if length is None and (nat <= 0 or (center and n_fft == 1)):
                            # (torch computes the end as -(n_fft // 2) = -0 for n_fft=1 and returns/raises on an
                            # empty slice; spectro returns all n_frames samples)
                            continue
                        spec = make_spectrum((2,), n_fft // 2 + 1, n_frames, torch.float64, gen, "stft_like",
                                             True, n_fft).to(device)
                        w = make_window("rand", win, torch.float64, gen, device)
                        kw = dict(hop_length=hop, win_length=win, window=w, center=center, length=length)
                        what = f"n_fft={n_fft} win={win} hop={hop} N={n_frames} length={length}"
                        try:
                            expected = torch.istft(spec, n_fft, **kw)
                        except RuntimeError as e:
                            # torch raises for NOLA failures (a short window's zero padding reached by `length`)
                            assert "window overlap add min" in str(e), f"[{what}] unexpected torch error {e}"
                            with pytest.raises(RuntimeError, match="NOLA"):
                                spectro.istft(spec, n_fft, torch_like=True, **kw)
                            continue
                        actual = spectro.istft(spec, n_fft, **kw)
                        weight = envelope_weight(w, n_fft, hop, win, n_frames, center, length).to(device)
                        assert_close_fft(actual, expected, n_fft, what=what, weight=weight)
                        checked += 1
    assert checked > 100


# ---------------------------------------------------------------------------------------------------------------
# Round trips.
@pytest.mark.kernel_paths
@pytest.mark.parametrize("pad_mode", PAD_MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64])
def test_round_trip_each_pad_mode(pad_mode, dtype, device, quiet):
    """x -> stft -> istft(length=T) gives x back (hann, 75% overlap: NOLA holds) whatever the padding, since istft
    only trims the centre padding."""
    gen = generator(seed_of("rt", pad_mode, dtype))
    for n_fft, hop, T in ((16, 4, 101), (15, 5, 64), (512, 128, 3000)):
        x = make_signal((2, 3), T, dtype, gen).to(device)
        w = torch.hann_window(n_fft, dtype=dtype.to_real() if dtype.is_complex else dtype, device=device)
        rc = dtype.is_complex
        spec = spectro.stft(x, n_fft, hop, window=w, pad_mode=pad_mode, return_complex=True)
        y = spectro.istft(spec, n_fft, hop, window=w, length=T, return_complex=rc)
        assert_close_fft(y, x, n_fft, what=f"round trip n_fft={n_fft} T={T}", k=8)


@pytest.mark.kernel_paths
@pytest.mark.parametrize(
    "case",
    ["center_false_rect", "short_window", "normalized", "onesided_false", "odd_nfft_no_overlap", "one_frame"],
)
def test_round_trip_other_geometries(case, device, quiet):
    gen = generator(seed_of("rt2", case))
    n_fft, hop, win, center, normalized, onesided, wkind, T = {
        "center_false_rect": (64, 16, 64, False, False, None, "ones", 64 + 16 * 9),
        "short_window": (64, 12, 48, True, False, None, "hann", 500),
        "normalized": (32, 8, 32, True, True, None, "hann", 333),
        "onesided_false": (32, 8, 32, True, False, False, "hann", 333),
        "odd_nfft_no_overlap": (15, 15, 15, False, False, None, "rand", 15 * 7),
        "one_frame": (16, 4, 16, False, False, None, "rand", 16),
    }[case]
    x = make_signal((3,), T, torch.float64, gen).to(device)
    w = make_window(wkind, win, torch.float64, gen, device)
    kw = dict(hop_length=hop, win_length=win, window=w, center=center, normalized=normalized, onesided=onesided)
    spec = spectro.stft(x, n_fft, return_complex=True, **kw)
    y = spectro.istft(spec, n_fft, length=T, **kw)
    assert_close_fft(y, x, n_fft, what=case, k=8)


# ---------------------------------------------------------------------------------------------------------------
# NOLA.
def _nola_cases():
    # (name, n_fft, hop, win_length, window kind, center): torch.istft raises for each.
    return [
        ("hann_not_centred", 16, 4, 16, "hann", False),  # envelope = hann[0]^2 = 0 at the first sample
        ("zero_window", 16, 4, 16, "zeros", True),
        ("hann_no_overlap", 16, 8, 8, "hann", True),  # hop == win_length: gaps where only hann[0] = 0 reaches
        ("tiny_window", 16, 4, 16, "tiny", True),  # envelope ~ 4e-14 < 1e-11 everywhere
        ("short_window_not_centred", 16, 4, 12, "ones", False),  # zero-padded window: envelope 0 at the edges
    ]


NOLA_CASES = _nola_cases()


def _nola_setup(case, device, dtype=torch.float64):
    name, n_fft, hop, win, wkind, center = case
    gen = generator(seed_of("nola", name))
    if wkind == "tiny":
        w = torch.full((win,), 1e-7, dtype=dtype, device=device)
    else:
        w = make_window(wkind, win, dtype, gen, device)
    spec = make_spectrum((2,), n_fft // 2 + 1, 9, dtype, gen, "stft_like", True, n_fft).to(device)
    kw = dict(hop_length=hop, win_length=win, window=w, center=center)
    return n_fft, spec, kw


@pytest.mark.kernel_paths
@pytest.mark.parametrize("case", NOLA_CASES, ids=[c[0] for c in NOLA_CASES])
def test_nola_violation(case, device):
    n_fft, spec, kw = _nola_setup(case, device)
    with pytest.raises(RuntimeError):
        torch.istft(spec, n_fft, **kw)  # test setup: torch must raise here
    for safety in ("auto", "always"):
        with pytest.raises(RuntimeError, match="NOLA|overlap"):
            spectro.istft(spec, n_fft, torch_like=True, safety=safety, **kw)
    # Default: no exception, a warning, zeros where the envelope is below 1e-11, torch's formula elsewhere.
    with record_warnings() as rec:
        y = spectro.istft(spec, n_fft, **kw)
    assert has_warning(rec, NOLA_WARNING), f"no NOLA warning; got {messages(rec)}"
    env = istft_envelope(kw["window"], n_fft, kw["hop_length"], kw["win_length"], spec.shape[-1], kw["center"], None)
    bad = env < ENVELOPE_EPS
    assert bad.any(), "test setup: no sample violates NOLA"
    assert torch.count_nonzero(y.cpu()[..., bad]) == 0, f"samples with envelope < 1e-11 are not 0: {y.cpu()[..., bad]}"
    expected = reference_istft(spec, n_fft, kw["hop_length"], kw["win_length"], kw["window"], kw["center"], False,
                               True, None, False)
    good = ~bad
    if good.any():
        assert_close_fft(y.cpu()[..., good], expected[..., good].to(y.dtype), n_fft, what=case[0],
                         weight=env[good], check_strides=False)


def test_reference_istft_matches_torch(device):
    """The float64 reference used for NOLA cases agrees with torch.istft where torch is defined."""
    gen = generator(seed_of("ref"))
    for n_fft, hop, win, center, normalized, rc in ((16, 4, 12, True, False, False), (15, 5, 15, False, True, False),
                                                     (16, 4, 16, True, True, True)):
        bins = n_fft if rc else n_fft // 2 + 1
        spec = make_spectrum((2,), bins, 7, torch.float64, gen, "stft_like", not rc, n_fft)
        w = make_window("rand", win, torch.float64, gen)
        for length in (None, 20, 30) + ((60,) if win == n_fft else ()):  # 60: zero-padded past the frames
            kw = dict(hop_length=hop, win_length=win, window=w, center=center, normalized=normalized, length=length,
                      return_complex=rc, onesided=False if rc else None)
            with record_warnings():
                expected = torch.istft(spec.to(device), n_fft, **dict(kw, window=w.to(device))).cpu()
            ref = reference_istft(spec, n_fft, hop, win, w, center, normalized, not rc, length, rc)
            assert torch.allclose(ref, expected, rtol=1e-10, atol=1e-12), (n_fft, hop, win, center, length)


@pytest.mark.parametrize("case", NOLA_CASES[:2], ids=[c[0] for c in NOLA_CASES[:2]])
def test_safety_off_never_warns(case, device):
    n_fft, spec, kw = _nola_setup(case, device)
    with record_warnings() as rec:
        y = spectro.istft(spec, n_fft, safety="off", **kw)
        y2 = spectro.istft(spec, n_fft, safety="off", **kw)
    assert not has_warning(rec, NOLA_WARNING), f"safety='off' warned: {messages(rec)}"
    # ... and still zeroes the samples that violate NOLA (no inf/nan).
    assert torch.isfinite(y).all() and torch.equal(y, y2)


def test_torch_like_with_safety_off_is_an_error(device):
    n_fft, spec, kw = _nola_setup(NOLA_CASES[0], device)
    with pytest.raises(ValueError, match="safety"):
        spectro.istft(spec, n_fft, torch_like=True, safety="off", **kw)


@pytest.mark.parametrize("bad", ["sometimes", "", "AUTO", None, True])
def test_invalid_safety_is_an_error(bad, device):
    n_fft, spec, kw = _nola_setup(NOLA_CASES[0], device)
    with pytest.raises(ValueError, match="safety"):
        spectro.istft(spec, n_fft, safety=bad, **kw)


@pytest.mark.parametrize("torch_like", [False, True])
def test_nola_ok_does_not_warn_or_raise(torch_like, device):
    gen = generator(seed_of("nola-ok"))
    spec = make_spectrum((2,), 9, 9, torch.float32, gen, "stft_like", True, 16).to(device)
    w = torch.hann_window(16, device=device)
    for safety in ("auto", "always"):
        with record_warnings() as rec:
            spectro.istft(spec, 16, 4, window=w, torch_like=torch_like, safety=safety)
        assert not has_warning(rec, NOLA_WARNING), messages(rec)


class _CountingCheck:
    """NOLA checks read on the host since the fixture was made (spectro._C counts them in C++)."""

    def __init__(self):
        self.start = spectro._C.nola_host_checks()

    @property
    def calls(self):
        return spectro._C.nola_host_checks() - self.start


@pytest.fixture
def nola_counter():
    return _CountingCheck()


def test_safety_auto_checks_once_per_window_and_geometry(device, nola_counter):
    gen = generator(seed_of("auto-once"))
    spec = make_spectrum((2,), 9, 9, torch.float32, gen, "stft_like", True, 16).to(device)
    w = torch.hann_window(16, device=device)
    spectro.istft(spec, 16, 4, window=w)
    assert nola_counter.calls == 1, "the first call with safety='auto' must check NOLA"
    spectro.istft(spec, 16, 4, window=w)
    spectro.istft(spec * 2, 16, 4, window=w, torch_like=True)
    assert nola_counter.calls == 1, "same window and geometry: safety='auto' must not check again"
    spectro.istft(spec[..., :7], 16, 4, window=w)
    assert nola_counter.calls == 2, "another number of frames is another geometry: must check"
    spectro.istft(spec, 16, 4, window=w, length=20)
    assert nola_counter.calls == 3, "another output range: must check"
    with torch.no_grad():
        w.mul_(1.0)  # in-place write: bumps the version counter
    spectro.istft(spec, 16, 4, window=w)
    assert nola_counter.calls == 4, "the window was modified in place: must check again"
    spectro.istft(spec, 16, 4, window=w.clone())
    assert nola_counter.calls == 5, "another window tensor: must check"
    spectro.istft(spec, 16, 4, window=w, safety="always")
    spectro.istft(spec, 16, 4, window=w, safety="always")
    assert nola_counter.calls == 7, "safety='always' checks every call"
    spectro.istft(spec, 16, 4, window=w, safety="off")
    assert nola_counter.calls == 7, "safety='off' never checks"


def test_safety_auto_does_not_cache_a_failure(device, nola_counter):
    n_fft, spec, kw = _nola_setup(NOLA_CASES[0], device)
    for i in range(3):
        with record_warnings() as rec:
            spectro.istft(spec, n_fft, **kw)
        assert has_warning(rec, NOLA_WARNING), f"call {i}: a failing window must warn every time"
    assert nola_counter.calls == 3
    with pytest.raises(RuntimeError):
        spectro.istft(spec, n_fft, torch_like=True, **kw)


@pytest.mark.cuda
def test_safety_auto_second_call_does_not_sync(cuda_device):
    gen = generator(seed_of("nosync"))
    spec = make_spectrum((2,), 257, 20, torch.float32, gen, "stft_like", True, 512).to(cuda_device)
    w = torch.hann_window(512, device=cuda_device)
    spectro.istft(spec, 512, 128, window=w)  # warm-up: checks NOLA (synchronises once)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        spectro.istft(spec, 512, 128, window=w)
        spectro.istft(spec, 512, 128, window=w, torch_like=True)
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_safety_auto_cache_not_fooled_by_address_reuse(device):
    """A window at the address of a freed, NOLA-passing window (same data_ptr, same _version) must be checked anew:
    torch_like=True raises for it. (Regression test: the cache was once keyed on data_ptr and _version.) The reuse is
    made deterministic: both windows are fresh tensors set onto one storage (each at version 1 after set_), the
    storage zeroed in between through another tensor."""
    gen = generator(seed_of("reuse"))
    spec = make_spectrum((1,), 9, 9, torch.float32, gen, "stft_like", True, 16).to(device)
    base = torch.ones(16, device=device)
    good = torch.empty(0, device=device).set_(base.untyped_storage(), 0, (16,))
    spectro.istft(spec, 16, 4, window=good, torch_like=True)  # passes, cached
    address, version = good.data_ptr(), good._version
    del good
    base.zero_()
    bad = torch.empty(0, device=device).set_(base.untyped_storage(), 0, (16,))
    assert (bad.data_ptr(), bad._version) == (address, version), "test setup: the same address and version"
    with pytest.raises(RuntimeError):
        torch.istft(spec, 16, 4, window=bad)  # test setup: torch raises
    with pytest.raises(RuntimeError):
        spectro.istft(spec, 16, 4, window=bad, torch_like=True)


# ---------------------------------------------------------------------------------------------------------------
# Warnings about length.
def test_longer_length_warns_like_torch(device):
    gen = generator(seed_of("longer"))
    spec = make_spectrum((), 9, 9, torch.float32, gen, "stft_like", True, 16).to(device)
    w = torch.hann_window(16, device=device)
    nat = natural_length(16, 4, 9, True)
    reach = max_length(16, 4, 9, True)
    torch.set_warn_always(True)
    try:
        with record_warnings() as rec_torch:
            torch.istft(spec, 16, 4, window=w, length=reach + 1)
    finally:
        torch.set_warn_always(False)
    assert has_warning(rec_torch, LONGER_WARNING), f"test setup: {messages(rec_torch)}"
    with record_warnings() as rec:
        y = spectro.istft(spec, 16, 4, window=w, length=reach + 1)
    assert has_warning(rec, LONGER_WARNING), f"no warning for a length past the frames' reach: {messages(rec)}"
    assert y.shape == (reach + 1,)
    spectro._C.reset_warnings()
    for length in (None, nat, nat - 3, nat + 1, reach):
        with record_warnings() as rec:
            spectro.istft(spec, 16, 4, window=w, length=length)
        assert not has_warning(rec, LONGER_WARNING), f"length={length} warned: {messages(rec)}"


@pytest.mark.kernel_paths
def test_istft_moderate_sizes_match_torch(device, quiet):
    gen = generator(seed_of("istft-moderate"))
    for n_fft, hop in ((2048, 512), (1024, 160)):
        spec = make_spectrum((4,), n_fft // 2 + 1, 200, torch.float32, gen, "stft_like", True, n_fft).to(device)
        w = torch.hann_window(n_fft, device=device)
        kw = dict(hop_length=hop, window=w)
        env = envelope_weight(w, n_fft, hop, n_fft, 200, True, None).to(device)
        assert_close_fft(spectro.istft(spec, n_fft, **kw), torch.istft(spec, n_fft, **kw), n_fft,
                         what=f"n_fft={n_fft}", weight=env)


def test_safety_auto_cache_not_fooled_by_tensor_reuse(device, nola_counter):
    """The pass cache is keyed on the window's TensorImpl, held weakly: a freed window's TensorImpl memory stays
    reserved while its entry exists (a weak reference), so no new tensor can take its address and inherit its pass;
    each new window tensor made after freeing a passing one is checked anew, and torch_like=True raises for a failing
    one."""
    gen = generator(seed_of("impl-reuse"))
    spec = make_spectrum((1,), 9, 9, torch.float32, gen, "stft_like", True, 16).to(device)
    for _ in range(20):
        good = torch.ones(16, device=device)
        spectro.istft(spec, 16, 4, window=good, torch_like=True)  # passes, cached
        impl = good._cdata
        checks = nola_counter.calls
        del good
        bad = torch.zeros(16, device=device)
        assert bad._cdata != impl, "a new tensor took the TensorImpl address of a freed window that has a pass"
        with pytest.raises(RuntimeError, match="NOLA"):
            spectro.istft(spec, 16, 4, window=bad, torch_like=True)
        assert nola_counter.calls == checks + 1, "a new window tensor must be checked"
