"""spectro.stft against torch.stft: shape, dtype, strides and values (to FFT rounding, see helpers.py) on a generated
grid that covers every pair of option values and every triple over the geometry-related options, plus exhaustive
edge-length sweeps, NaN/Inf propagation and torch's warnings."""
from __future__ import annotations

import inspect

import pytest
import torch

import spectro
from helpers import (
    assert_close_fft,
    config_id,
    covering_configs,
    generator,
    has_warning,
    make_signal,
    make_window,
    messages,
    record_warnings,
    seed_of,
    torch_stft_nd,
)

TORCH_HAS_ALIGN = "align_to_window" in inspect.signature(torch.stft).parameters
PAD_MODES = ["reflect", "constant", "replicate", "circular"]
BATCH_SHAPES = {1: (), 2: (3,), 3: (2, 3), 4: (2, 1, 2)}

AXES = dict(
    n_fft=[15, 16, 64, 400, 512],
    hop=["div", "nondiv", "gt"],  # n_fft // 4 (divides n_fft for these sizes), n_fft // 3 + 1 (does not), > n_fft
    win=["full", "short", "short_odd"],  # win_length = n_fft, and two shorter ones (even / odd zero-padding split)
    window=[None, "hann", "randn"],
    wdtype=["same", "other"],  # window dtype = input's real dtype, or the other precision (type promotion)
    center=[True, False],
    pad_mode=PAD_MODES,
    normalized=[False, True],
    onesided=[None, True, False],
    return_complex=[True, False],
    kind=["real", "complex"],
    dtype=[torch.float32, torch.float64],
    ndim=[1, 2, 3, 4],
    layout=["contiguous", "step2", "transposed", "offset"],
    length=["long", "short", "exact"],  # see signal_length()
    align=[None, False, True],
)
STRONG = ("n_fft", "center", "pad_mode", "length", "hop", "win", "onesided", "kind", "align")


def _valid(c: dict) -> bool:
    if c.get("kind") == "complex" and c.get("onesided") is True:
        return False  # an error (tests/test_errors.py)
    if c.get("center") is True and c.get("align") is not None:
        return False  # an error (tests/test_errors.py)
    if c.get("layout") == "transposed" and c.get("ndim") == 1:
        return False
    if c.get("window") is None and c.get("wdtype") == "other":
        return False  # no window, nothing to promote
    return True


GRID = covering_configs(AXES, strong=STRONG, valid=_valid, seed=1)


def geometry(cfg):
    n_fft = cfg["n_fft"]
    hop = {"div": n_fft // 4, "nondiv": n_fft // 3 + 1, "gt": n_fft + 3}[cfg["hop"]]
    win = {"full": n_fft, "short": n_fft - n_fft // 4, "short_odd": n_fft - n_fft // 4 - 1}[cfg["win"]]
    return n_fft, hop, win


def signal_length(cfg, n_fft, hop, win) -> int:
    """long: several frames, odd; short: the shortest valid signal (reflect needs T > n_fft // 2; without centring
    one frame needs T >= n_fft); exact: frames end exactly at the end of the
    (padded) signal, (T + 2 pad - n_fft) % hop == 0 -- the boundary case of the frame count formula."""
    center, align = cfg["center"], cfg["align"]
    if cfg["length"] == "long":
        return 2 * n_fft + 37
    if cfg["length"] == "short":
        return n_fft // 2 + 1 if center else n_fft  # torch needs T >= n_fft even with align_to_window
    if center:
        return n_fft - 2 * (n_fft // 2) + 3 * hop
    if align:  # (T - win_length) % hop == 0 and T >= n_fft
        return win + hop * (-(-(n_fft - win) // hop) + 2)
    return n_fft + 3 * hop


def reference_stft(x, n_fft, **kw):
    """torch.stft on any number of batch dims. align_to_window=True is emulated by zero-padding the signal explicitly
    ((n_fft - win_length) // 2 on the left, the rest on the right) and calling torch.stft with center=False: torch's
    own align_to_window reads out of bounds ("setStorage: ... out of bounds") when n_fft - win_length is odd and the
    last frame reaches the end (torch 2.13 CPU), so it cannot be the reference there. Where torch's align_to_window
    works, the emulation is checked against it."""
    if not kw.get("align_to_window"):
        return torch_stft_nd(x, n_fft, **kw)
    kw = dict(kw)
    kw.pop("align_to_window")
    win = kw.get("win_length") or n_fft
    left = (n_fft - win) // 2
    xp = torch.nn.functional.pad(x, (left, n_fft - win - left))
    expected = torch_stft_nd(xp, n_fft, **kw)
    try:
        native = torch_stft_nd(x, n_fft, align_to_window=True, **kw)
    except RuntimeError as e:
        assert "out of bounds" in str(e), f"unexpected torch error: {e}"
    else:
        assert torch.allclose(native, expected, rtol=0, atol=0) or torch.equal(native, expected), (
            "test setup: the align_to_window emulation disagrees with torch's align_to_window"
        )
    return expected


def _stft_kwargs(cfg, hop, win, window):
    kw = dict(
        hop_length=hop,
        win_length=win,
        window=window,
        center=cfg["center"],
        pad_mode=cfg["pad_mode"],
        normalized=cfg["normalized"],
        onesided=cfg["onesided"],
        return_complex=cfg["return_complex"],
    )
    if cfg["align"] is not None:
        kw["align_to_window"] = cfg["align"]
    return kw


@pytest.mark.kernel_paths
@pytest.mark.parametrize("cfg", GRID, ids=[f"g{i}" for i in range(len(GRID))])
def test_stft_grid_matches_torch(cfg, device, quiet):
    if cfg["align"] is not None and not TORCH_HAS_ALIGN:
        pytest.skip("this torch has no align_to_window")
    n_fft, hop, win = geometry(cfg)
    T = signal_length(cfg, n_fft, hop, win)
    gen = generator(seed_of("stft", config_id(cfg)))
    dtype = cfg["dtype"]
    in_dtype = dtype.to_complex() if cfg["kind"] == "complex" else dtype
    x = make_signal(BATCH_SHAPES[cfg["ndim"]], T, in_dtype, gen, layout=cfg["layout"]).to(device)
    wdtype = dtype if cfg["wdtype"] == "same" else ({torch.float32: torch.float64, torch.float64: torch.float32}[dtype])
    window = make_window(cfg["window"], win, wdtype, gen, device)
    kw = _stft_kwargs(cfg, hop, win, window)
    what = f"n_fft={n_fft} hop={hop} win={win} T={T} {config_id(cfg)}"

    x_before = x.clone()
    expected = reference_stft(x, n_fft, **kw)
    actual = spectro.stft(x, n_fft, **kw)
    # torch.stft's output strides follow the input's memory layout when it frames the input without copying it
    # (center=False): a batch-minor ("transposed") input gives batch-minor output. spectro always returns torch's
    # layout for a contiguous input (checked everywhere else); this case is reported as a known divergence.
    check_strides = not (cfg["layout"] == "transposed" and not cfg["center"])
    assert_close_fft(actual, expected, n_fft, what=what, check_strides=check_strides)
    assert torch.equal(x, x_before), f"[{what}] spectro.stft modified its input"


# ---------------------------------------------------------------------------------------------------------------
# Exhaustive sweep of small geometries around the edges of the frame-count formula.
@pytest.mark.kernel_paths
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("pad_mode", PAD_MODES)
def test_stft_edge_lengths_sweep(pad_mode, center, device, quiet):
    """Every (n_fft, hop, win_length, T) over small ranges, T from the shortest valid signal to a few frames:
    catches off-by-one errors in the frame count, padding and window placement."""
    gen = generator(seed_of("edge", pad_mode, center))
    checked = 0
    for n_fft in (1, 2, 5, 8):
        for hop in sorted({1, 2, 3, n_fft, n_fft + 1}):
            for win in sorted({n_fft, max(1, n_fft - 3)}):
                t_min = (n_fft // 2 + 1 if pad_mode == "reflect" else max(1, n_fft // 2)) if center else n_fft
                for T in range(t_min, t_min + 2 * n_fft + hop + 2):
                    x = make_signal((2,), T, torch.float64, gen).to(device)
                    w = make_window("randn", win, torch.float64, gen, device)
                    kw = dict(hop_length=hop, win_length=win, window=w, center=center, pad_mode=pad_mode,
                              return_complex=True)
                    expected = torch.stft(x, n_fft, **kw)
                    actual = spectro.stft(x, n_fft, **kw)
                    assert_close_fft(actual, expected, n_fft, what=f"n_fft={n_fft} hop={hop} win={win} T={T}")
                    checked += 1
    assert checked > 200


@pytest.mark.skipif(not TORCH_HAS_ALIGN, reason="this torch has no align_to_window")
@pytest.mark.kernel_paths
def test_stft_align_to_window_sweep(device, quiet):
    gen = generator(seed_of("align"))
    for n_fft in (4, 7, 16):
        for win in range(1, n_fft + 1):
            for hop in (1, 3, win):
                for T in (n_fft, n_fft + hop, n_fft + 2 * hop + 1):
                    x = make_signal((2,), T, torch.float64, gen).to(device)
                    w = make_window("randn", win, torch.float64, gen, device)
                    kw = dict(hop_length=hop, win_length=win, window=w, center=False, align_to_window=True,
                              return_complex=True)
                    assert_close_fft(
                        spectro.stft(x, n_fft, **kw), reference_stft(x, n_fft, **kw), n_fft,
                        what=f"align_to_window n_fft={n_fft} win={win} hop={hop} T={T}",
                    )


# ---------------------------------------------------------------------------------------------------------------
# NaN / Inf propagation.
@pytest.mark.kernel_paths
@pytest.mark.parametrize("pad_mode", PAD_MODES)
@pytest.mark.parametrize("where", ["first", "second", "middle", "last"])
@pytest.mark.parametrize("win", ["full", "short"])
def test_stft_nan_in_same_frames_as_torch(pad_mode, where, win, device, quiet):
    """A NaN sample gives NaN in exactly the output elements where torch.stft has NaN -- including frames that
    only see the NaN through reflect/replicate/circular padding or through the zero-padded part of a short window
    (torch multiplies NaN by that zero)."""
    n_fft, hop, T = 16, 5, 61
    win_length = n_fft if win == "full" else 9
    pos = {"first": 0, "second": 1, "middle": 30, "last": T - 1}[where]
    gen = generator(seed_of("nan", pad_mode, where, win))
    for center in (True, False):
        x = make_signal((2,), T, torch.float32, gen).to(device)
        x[1, pos] = float("nan")
        w = make_window("hann", win_length, torch.float32, gen, device)
        kw = dict(hop_length=hop, win_length=win_length, window=w, center=center, pad_mode=pad_mode,
                  return_complex=True)
        expected = torch.stft(x, n_fft, **kw)
        actual = spectro.stft(x, n_fft, **kw)
        assert torch.isnan(expected).any(), "test setup: torch produced no NaN"
        what = f"NaN at {pos} center={center}"
        assert torch.equal(torch.isnan(actual).cpu(), torch.isnan(expected).cpu()), (
            f"[{what}] NaN frames: spectro {torch.isnan(actual[1]).any(0).nonzero().flatten().tolist()}, "
            f"torch {torch.isnan(expected[1]).any(0).nonzero().flatten().tolist()}"
        )
        assert_close_fft(actual, expected, n_fft, what=what)  # finite parts too


@pytest.mark.kernel_paths
@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_stft_inf_in_same_frames_as_torch(value, device, quiet):
    n_fft, hop, T = 16, 4, 50
    gen = generator(seed_of("inf", value))
    x = make_signal((), T, torch.float64, gen).to(device)
    x[20] = value
    w = make_window("hann", n_fft, torch.float64, gen, device)
    kw = dict(hop_length=hop, window=w, return_complex=True)
    expected = torch.stft(x, n_fft, **kw)
    actual = spectro.stft(x, n_fft, **kw)
    bad_e = (~torch.isfinite(expected)).any(0).cpu()
    bad_a = (~torch.isfinite(actual)).any(0).cpu()
    assert bad_e.any(), "test setup: torch produced no non-finite frame"
    assert torch.equal(bad_a, bad_e), (
        f"non-finite frames: spectro {bad_a.nonzero().flatten().tolist()}, torch {bad_e.nonzero().flatten().tolist()}"
    )
    good = ~bad_e
    assert_close_fft(actual[:, good.to(actual.device)], expected[:, good.to(expected.device)], n_fft,
                     what="finite frames", check_strides=False)


# ---------------------------------------------------------------------------------------------------------------
# Warnings, as torch.
def test_stft_return_complex_false_warns_like_torch(device):
    x = torch.randn(64, device=device)
    w = torch.hann_window(16, device=device)
    with record_warnings() as rec_torch:
        torch.set_warn_always(True)  # torch's TORCH_WARN_ONCE may have fired earlier in this process
        try:
            torch.stft(x, 16, 4, window=w, return_complex=False)
        finally:
            torch.set_warn_always(False)
    with record_warnings() as rec:
        out = spectro.stft(x, 16, 4, window=w, return_complex=False)
    frag = "return_complex=False is deprecated"
    assert has_warning(rec_torch, frag), f"test setup: torch did not warn: {messages(rec_torch)}"
    assert has_warning(rec, frag), f"spectro.stft(return_complex=False) did not warn; got {messages(rec)}"
    cat = [w.category for w in rec if frag in str(w.message)][0]
    cat_torch = [w.category for w in rec_torch if frag in str(w.message)][0]
    assert cat is cat_torch, f"warning category {cat.__name__} != torch's {cat_torch.__name__}"
    assert out.dtype == torch.float32 and out.shape[-1] == 2
    # No warning with return_complex=True.
    with record_warnings() as rec2:
        spectro.stft(x, 16, 4, window=w, return_complex=True)
    assert not has_warning(rec2, frag), messages(rec2)


def test_stft_missing_window_warns_like_torch(device):
    x = torch.randn(64, device=device)
    with record_warnings() as rec:
        spectro.stft(x, 16, 4, return_complex=True)
    assert has_warning(rec, "A window was not provided"), f"no rectangular-window warning: {messages(rec)}"


def test_stft_warnings_honour_set_warn_always(device):
    """torch.set_warn_always(True) makes torch's once-per-process warnings fire on every call; spectro's too."""
    x = torch.randn(64, device=device)
    w = torch.hann_window(16, device=device)
    torch.set_warn_always(True)
    try:
        counts = []
        for _ in range(2):
            with record_warnings() as rec:
                spectro.stft(x, 16, 4, window=w, return_complex=False)
            counts.append(sum("return_complex=False is deprecated" in m for m in messages(rec)))
    finally:
        torch.set_warn_always(False)
    assert counts == [1, 1], f"deprecation warnings per call with set_warn_always(True): {counts} (torch: [1, 1])"


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.kernel_paths
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex128])
def test_stft_defaults_match_torch(dtype, device, quiet):
    """Only n_fft given (hop n_fft // 4, win_length n_fft, rectangular window, reflect centring, onesided for
    real input)."""
    gen = generator(seed_of("defaults", dtype))
    x = make_signal((2,), 300, dtype, gen).to(device)
    rc = True if not dtype.is_complex else None
    assert_close_fft(spectro.stft(x, 64, return_complex=rc), torch.stft(x, 64, return_complex=rc), 64)


@pytest.mark.kernel_paths
def test_stft_moderate_sizes_match_torch(device, quiet):
    """A realistic speech/music configuration on a few seconds of audio."""
    gen = generator(seed_of("moderate"))
    x = make_signal((4,), 48_000, torch.float32, gen).to(device)
    for n_fft, hop in ((2048, 512), (1024, 160), (4096, 1024)):
        w = torch.hann_window(n_fft, device=device)
        kw = dict(hop_length=hop, window=w, return_complex=True)
        assert_close_fft(spectro.stft(x, n_fft, **kw), torch.stft(x, n_fft, **kw), n_fft, what=f"n_fft={n_fft}")


@pytest.mark.kernel_paths
def test_stft_output_is_autograd_connected(device, quiet):
    x = torch.randn(100, device=device, requires_grad=True)
    w = torch.hann_window(16, device=device)
    out = spectro.stft(x, 16, 4, window=w, return_complex=True)
    assert out.requires_grad and out.grad_fn is not None
    out_nograd = spectro.stft(x.detach(), 16, 4, window=w, return_complex=True)
    assert not out_nograd.requires_grad


@pytest.mark.kernel_paths
def test_stft_many_batch_dims_and_size_one_dims(device, quiet):
    gen = generator(seed_of("bdims"))
    for batch in ((1,), (1, 1), (3, 1, 2), (1, 2, 1, 2)):
        x = make_signal(batch, 80, torch.float64, gen).to(device)
        w = make_window("hann", 16, torch.float64, gen, device)
        kw = dict(hop_length=4, window=w, return_complex=True)
        assert_close_fft(spectro.stft(x, 16, **kw), torch_stft_nd(x, 16, **kw), 16, what=f"batch={batch}")


def test_tolerance_helper_is_not_vacuous(device):
    """Guard against a tolerance so loose that the suite could not fail: small but real errors (the window shifted
    by one sample; one frame perturbed by 1e-4 relative) must be detected."""
    gen = generator(seed_of("not-vacuous"))
    x = make_signal((2,), 1000, torch.float32, gen).to(device)
    w = torch.hann_window(64, device=device)
    a = torch.stft(x, 64, 16, window=w, return_complex=True)
    b = torch.stft(x, 64, 16, window=torch.roll(w, 1), return_complex=True)
    with pytest.raises(AssertionError, match="norm-wise|element"):
        assert_close_fft(b, a, 64)
    c = a.clone()
    c[1, :, 7] *= 1 + 1e-4
    with pytest.raises(AssertionError, match="norm-wise|element"):
        assert_close_fft(c, a, 64)
    with pytest.raises(AssertionError, match="strides"):
        assert_close_fft(a.contiguous(), a, 64)
    assert_close_fft(a.clone(), a, 64)
