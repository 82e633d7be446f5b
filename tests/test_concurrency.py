"""Concurrent calls from several Python threads.

* 8 threads, each with its own geometry (n_fft, hop, win_length, centre padding mode, sidedness, dtype, complex or
  real signal, window gradient or not), run stft -> istft and the backward of a fixed linear loss at the same time,
  several rounds; every result (spectrum, signal, input and window gradients) must be bitwise equal to the same
  work run serially in one thread. On CUDA each thread runs on its own ``torch.cuda.Stream`` (and the test runs
  under every kernel path: ``kernel_paths`` marker); on the CPU the threads share ATen's intra-op thread pool.
* The mel frontends and the spectral losses the same way: 8 threads, each its own frontend or loss (log-mel of
  several kinds, torchaudio's MelSpectrogram, Whisper's log-mel, DAC's mel loss, auraloss' and Parallel WaveGAN's
  multi-resolution STFT losses), forward and input gradient, bitwise equal to the serial run.
* The NOLA pass cache of ``istft(safety="auto")`` under threads: windows and geometries that pass and that fail
  the NOLA condition are used at once, also one window object shared by a passing and a failing geometry, and a
  window modified in place between rounds. With ``torch_like=True`` exactly the failing calls raise, every time
  (a failure is never cached, and a pass of one geometry never covers another); with the default
  ``torch_like=False`` exactly the failing calls warn and zero the samples without envelope.
"""
from __future__ import annotations

import threading
import warnings

import pytest
import torch

import spectro

N_THREADS = 8
ROUNDS = 3

# n_fft, hop, win_length, pad_mode (None: center=False), onesided, dtype, complex signal, window requires grad
GEOMETRIES = [
    (512, 128, 512, "reflect", True, torch.float32, False, False),
    (400, 160, 400, "constant", True, torch.float32, False, True),
    (256, 64, 200, "replicate", False, torch.float32, False, False),
    (1024, 256, 1024, None, True, torch.float32, False, False),
    (128, 32, 128, "circular", True, torch.float64, False, True),
    (64, 16, 64, "reflect", False, torch.float32, True, False),
    (480, 120, 480, "reflect", True, torch.float32, False, False),
    (2048, 512, 2048, "constant", True, torch.float64, False, False),
]
assert len(GEOMETRIES) == N_THREADS


def _make_inputs(i: int, device: str):
    n_fft, hop, win, pad_mode, onesided, dtype, cplx, wgrad = GEOMETRIES[i]
    g = torch.Generator().manual_seed(100 + i)
    T = 16 * hop + n_fft + 7 * i
    x = torch.randn(2, T, generator=g, dtype=dtype)
    if cplx:
        x = torch.complex(x, torch.randn(2, T, generator=g, dtype=dtype))
    # rand window: NOLA holds wherever frames cover the output (also without centring)
    w = 0.5 + torch.rand(win, generator=g, dtype=dtype)
    n_out = T
    G = torch.randn(2, n_out, generator=g, dtype=dtype)
    if cplx:
        G = torch.complex(G, torch.randn(2, n_out, generator=g, dtype=dtype))
    return x.to(device), w.to(device), G.to(device)


def _work(i: int, x, w, G):
    """stft -> istft -> <y, G> and its backward; returns every result (detached)."""
    n_fft, hop, win, pad_mode, onesided, dtype, cplx, wgrad = GEOMETRIES[i]
    x = x.detach().requires_grad_(True)
    w = w.detach().requires_grad_(wgrad)
    center = pad_mode is not None
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=win, window=w, center=center)
    spec = spectro.stft(x, pad_mode=pad_mode or "reflect", onesided=None if cplx else onesided, return_complex=True,
                        **kw)
    y = spectro.istft(spec, length=x.shape[-1] if center else None, return_complex=cplx,
                      onesided=False if cplx else onesided, **kw)
    Gy = G[..., : y.shape[-1]]
    loss = (torch.view_as_real(y) * torch.view_as_real(Gy)).sum() if cplx else (y * Gy).sum()
    loss.backward()
    out = [spec.detach(), y.detach(), x.grad]
    if wgrad:
        out.append(w.grad)
    return out


def _run_threads(fns):
    """Runs fns[i]() in thread i, all released at once by a barrier; returns their results, re-raises the first
    exception."""
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def body(i):
        try:
            barrier.wait()
            results[i] = fns[i]()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors[i] = e

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread did not finish within 300 s"
    return results, errors


def _round_fns(device, indices, work):
    """One function per index i: ROUNDS calls of work(i), on a CUDA stream of its own on CUDA; returns their results."""
    if device != "cuda":
        return [(lambda i=i: [work(i) for _ in range(ROUNDS)]) for i in indices]
    torch.cuda.synchronize()
    streams = {i: torch.cuda.Stream() for i in indices}

    def on_stream(i):
        def fn():
            with torch.cuda.stream(streams[i]):
                out = [work(i) for _ in range(ROUNDS)]
            streams[i].synchronize()
            return out
        return fn

    return [on_stream(i) for i in indices]


@pytest.mark.kernel_paths
def test_threads_bitwise_equal_serial(device, kpath, quiet):
    inputs = [_make_inputs(i, device) for i in range(N_THREADS)]
    serial = []
    for i in range(N_THREADS):
        try:
            serial.append(_work(i, *inputs[i]))
        except RuntimeError as e:  # a forced kernel path that does not cover this geometry: leave it out
            if f"kernel_path('{kpath}') cannot run" not in str(e):
                raise
            serial.append(None)
    run = [i for i in range(N_THREADS) if serial[i] is not None]
    if len(run) < 2:
        pytest.skip(f"kernel_path({kpath!r}) covers fewer than 2 of the geometries")
    results, errors = _run_threads(_round_fns(device, run, lambda i: _work(i, *inputs[i])))
    for j, e in enumerate(errors):
        if e is not None:
            i = run[j]
            raise AssertionError(f"thread {i} (geometry {GEOMETRIES[i]}) raised {type(e).__name__}: {e}") from e
    names = ["spectrum", "signal", "input gradient", "window gradient"]
    for j, i in enumerate(run):
        for r, out in enumerate(results[j]):
            for name, a, b in zip(names, out, serial[i]):
                assert a.dtype == b.dtype and a.shape == b.shape
                assert torch.equal(a, b), (
                    f"thread {i} round {r}: {name} differs from the serial run (geometry {GEOMETRIES[i]}), max |diff| "
                    f"{(a - b).abs().max().item():.3e}"
                )


# Frontends and losses under threads ---------------------------------------------------------------------------------
def _frontend_jobs(device):
    """(name, module or function, input shape, dtype, target signal?) per thread."""
    L = spectro.losses
    return [
        ("whisper log-mel", spectro.LogMelSpectrogram(16000, 400, 160, n_mels=80, power=2.0, log="log10",
                                                      log_eps=1e-10), (2, 8000), torch.float32, False),
        ("hifigan log-mel", spectro.LogMelSpectrogram(22050, 1024, 256, n_mels=80, f_max=8000.0, power=1.0,
                                                      mag_eps=1e-9, center=False, pad=384, log="ln"),
         (2, 9000), torch.float32, False),
        ("torchaudio mel", spectro.MelSpectrogram(16000, 512, n_mels=64), (3, 6000), torch.float32, False),
        ("whisper", lambda x: spectro.whisper_log_mel(x, 80), (2, 6000), torch.float32, False),
        ("log-mel float64", spectro.LogMelSpectrogram(16000, 256, 64, n_mels=40, power=1.5, log="db"),
         (2, 5000), torch.float64, False),
        ("dac mel loss", L.MelSpectrogramLoss(16000, n_mels=[5, 10, 20, 40], window_lengths=[32, 64, 128, 256]),
         (2, 1, 4000), torch.float32, True),
        ("auraloss mrstft", L.MultiResolutionSTFTLoss(), (2, 1, 12000), torch.float32, True),
        ("pwg mrstft", spectro.MultiResolutionSTFTLoss(), (2, 12000), torch.float32, True),
    ]


def _frontend_work(fn, x, y, G):
    x = x.detach().requires_grad_(True)
    out = fn(x) if y is None else fn(x, y)
    if isinstance(out, (tuple, list)):
        out = torch.stack([o.reshape(()) for o in out])
    (gx,) = torch.autograd.grad(out, x, G if G is not None else torch.ones_like(out))
    return [out.detach(), gx]


def test_frontends_and_losses_threads_bitwise_equal_serial(device, quiet):
    jobs = _frontend_jobs(device)
    assert len(jobs) == N_THREADS
    inputs = []
    for i, (name, fn, shape, dtype, target) in enumerate(jobs):
        if isinstance(fn, torch.nn.Module):
            fn.to(device)
        g = torch.Generator().manual_seed(300 + i)
        x = torch.randn(shape, generator=g, dtype=dtype).to(device)
        y = (0.7 * x.cpu() + 0.5 * torch.randn(shape, generator=g, dtype=dtype)).to(device) if target else None
        out = fn(x) if y is None else fn(x, y)
        G = None if target else torch.randn(out.shape, generator=g, dtype=out.dtype).to(device)
        inputs.append((fn, x, y, G))
    serial = [_frontend_work(*inputs[i]) for i in range(N_THREADS)]
    results, errors = _run_threads(_round_fns(device, range(N_THREADS), lambda i: _frontend_work(*inputs[i])))
    for i, e in enumerate(errors):
        if e is not None:
            raise AssertionError(f"thread {i} ({jobs[i][0]}) raised {type(e).__name__}: {e}") from e
    for i in range(N_THREADS):
        for r, out in enumerate(results[i]):
            for what, a, b in zip(["output", "input gradient"], out, serial[i]):
                assert a.dtype == b.dtype and a.shape == b.shape
                assert torch.equal(a, b), (
                    f"thread {i} ({jobs[i][0]}) round {r}: {what} differs from the serial run, max |diff| "
                    f"{(a - b).abs().max().item():.3e}")


# NOLA under threads ------------------------------------------------------------------------------------------------
# Without centring, the first output sample's envelope is window[0]**2: a periodic Hann window (window[0] = 0) fails
# NOLA there, with any hop; a rand window (values in [0.5, 1.5)) passes with any hop <= n_fft. A rand window with a
# zero gap at [100, 130) passes while frames overlap (hop 64, 96: other frames cover the gap) and fails without
# overlap (hop = n_fft).
N_FFT = 256
SPEC_FRAMES = 12


def _nola_jobs(device):
    """(window, hop, should_fail) per thread. Windows are shared between threads on purpose: one window object is
    used with passing and failing geometries at once."""
    g = torch.Generator().manual_seed(5)
    hann = torch.hann_window(N_FFT, device=device)
    rand_a = (0.5 + torch.rand(N_FFT, generator=g)).to(device)
    rand_b = (0.5 + torch.rand(N_FFT, generator=g)).to(device)
    gap = 0.5 + torch.rand(N_FFT, generator=g)
    gap[100:130] = 0.0
    gap = gap.to(device)
    return [
        (hann, 64, True),
        (hann, 128, True),
        (rand_a, 64, False),
        (gap, 64, False),
        (gap, N_FFT, True),  # the gap window's passes at hop 64 / 96 must not cover this geometry
        (gap, 96, False),
        (rand_b, N_FFT, False),
        (rand_a, 128, False),
    ]


def _spec(hop, device):
    g = torch.Generator().manual_seed(hop)
    return torch.randn(1, N_FFT // 2 + 1, SPEC_FRAMES, generator=g, dtype=torch.complex64).to(device)


@pytest.mark.parametrize("torch_like", [True, False])
def test_nola_cache_under_threads(device, torch_like):
    jobs = _nola_jobs(device)
    specs = {hop: _spec(hop, device) for _, hop, _ in jobs}
    calls_per_thread = 6
    if device == "cuda":
        torch.cuda.synchronize()
        streams = [torch.cuda.Stream() for _ in jobs]

    def make(i):
        window, hop, should_fail = jobs[i]

        def fn():
            outcomes = []
            ctx = torch.cuda.stream(streams[i]) if device == "cuda" else _nullcontext()
            with ctx:
                for _ in range(calls_per_thread):
                    try:
                        y = spectro.istft(specs[hop], N_FFT, hop, window=window, center=False,
                                          torch_like=torch_like)
                        outcomes.append(("ok", y))
                    except RuntimeError as e:
                        outcomes.append(("raised", str(e)))
            if device == "cuda":
                streams[i].synchronize()
            return outcomes
        return fn

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        results, errors = _run_threads([make(i) for i in range(len(jobs))])
    assert not any(errors), [repr(e) for e in errors if e is not None]
    nola_warnings = [w for w in rec if "NOLA condition failed" in str(w.message)]
    n_failing = 0
    for i, (window, hop, should_fail) in enumerate(jobs):
        kinds = [k for k, _ in results[i]]
        if torch_like and should_fail:
            assert kinds == ["raised"] * calls_per_thread, f"thread {i} (hop {hop}): {kinds}: a NOLA check was skipped"
            assert all("NOLA" in msg for _, msg in results[i])
        else:
            assert kinds == ["ok"] * calls_per_thread, f"thread {i} (hop {hop}): {results[i]}"
        if should_fail:
            n_failing += calls_per_thread
        if not torch_like:
            # Samples without envelope are zero, the rest equal to the single-threaded result, bit for bit.
            ref = spectro.istft(specs[hop], N_FFT, hop, window=window, center=False, safety="off")
            for _, y in results[i]:
                assert torch.equal(y, ref)
    # torch_like=False: every failing call warns (failures are never cached), no passing call does.
    expected = 0 if torch_like else n_failing
    assert len(nola_warnings) == expected, (
        f"{len(nola_warnings)} NOLA warnings, expected {expected}: " + "; ".join(str(w.message) for w in rec[:5])
    )


def test_nola_cache_window_modified_in_place_under_threads(device):
    """A window that passes, then is zeroed at its first sample in place while other threads call istft with it:
    every call after the modification (a new window version) must be checked again and raise (torch_like=True)."""
    window = (0.5 + torch.rand(N_FFT, generator=torch.Generator().manual_seed(9))).to(device)
    spec = _spec(64, device)
    spectro.istft(spec, N_FFT, 64, window=window, center=False, torch_like=True)  # passes: cached
    with torch.no_grad():
        window[0] = 0.0  # bumps window._version: the cached pass no longer applies
    if device == "cuda":
        torch.cuda.synchronize()

    def fn():
        out = []
        for _ in range(4):
            try:
                spectro.istft(spec, N_FFT, 64, window=window, center=False, torch_like=True)
                out.append("ok")
            except RuntimeError:
                out.append("raised")
        return out

    results, errors = _run_threads([fn] * N_THREADS)
    assert not any(errors)
    assert all(r == ["raised"] * 4 for r in results), results


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
