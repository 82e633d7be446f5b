"""The mel frontends' eager C++ path (spectro._C.mel_frontend, csrc/api/mel_frontend.cpp) against their Python path
(spectro/mel.py's _mel_core steps, which torch.compile traces): for every call the C++ path takes, the same result
(values, dtype, shape, strides) and the same input gradient, bit for bit; and it declines (None) exactly the calls
that are not one spectro::mel_analysis call, which the Python path then serves."""
from __future__ import annotations

import pytest
import torch

import spectro
import spectro.mel as M


def python_path(monkeypatch, *args):
    """_mel_core with the C++ path off (as under torch.compile)."""
    with monkeypatch.context() as mp:
        mp.setattr(M, "_is_compiling", lambda: True)
        return M._mel_core(*args)


def filterbank(n_fft, n_mels, bins=None):
    """An (n_mels, bins) basis, contiguous (bins past n_fft // 2 + 1: zeros)."""
    fb = spectro.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, n_mels, 16000, norm="slaney", mel_scale="slaney")
    if bins is not None and bins > fb.shape[0]:  # zero-padded bins (DynamicMelSpectrogram's crop / pad)
        fb = torch.cat([fb, torch.zeros(bins - fb.shape[0], n_mels)])
    elif bins is not None:
        fb = fb[:bins]
    return fb.t().contiguous()


# (shape, n_fft, hop, win, center, pad_mode, pad, pad_value_mode, normalized, power, mag_eps, drop_last, log,
#  log_mode, x dtype, window dtype, the basis' bins, expected: the C++ path takes it)
CASES = [
    ((2, 3000), 256, 64, 256, True, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, True),
    ((3000,), 400, 160, 400, True, "reflect", (0, 0), "reflect", False, 2.0, 0.0, True, "log10", "clamp",
     torch.float32, torch.float32, None, True),
    ((2, 2, 2500), 256, 100, 200, True, "constant", (0, 0), "reflect", True, 1.0, 1e-9, False, "db", "add",
     torch.float32, torch.float32, None, True),
    ((2, 2000), 128, 32, 128, True, "replicate", (0, 0), "reflect", False, 1.5, 0.0, False, None, "clamp",
     torch.float32, torch.float32, 80, True),
    ((2, 2000), 128, 32, 96, True, "circular", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "log1p",
     torch.float32, torch.float32, 40, True),
    ((2, 2000), 256, 64, 256, False, "reflect", (96, 96), "reflect", False, 1.0, 1e-9, False, "ln", "clamp",
     torch.float32, torch.float32, None, True),  # HiFi-GAN / BigVGAN
    ((2, 2000), 256, 64, 256, False, "reflect", (96, 96), "constant", False, 1.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, True),
    ((2, 2000), 256, 64, 256, False, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, True),
    ((2, 2000), 256, 64, 256, True, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float64, torch.float64, None, True),
    ((2, 2000), 256, 64, 256, True, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float64, None, True),  # a float64 window promotes the call to float64
    ((2, 2000), 256, 64, 256, True, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float16, torch.float32, None, True),
    ((2, 2000), 256, 64, 256, True, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.bfloat16, torch.float32, None, True),
    # declined: the Python path serves them
    ((2, 2000), 256, 64, 256, False, "reflect", (96, 97), "reflect", False, 1.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, False),  # an asymmetric pad (torchfcpe's "same")
    ((2, 2000), 256, 64, 256, True, "reflect", (8, 8), "reflect", False, 1.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, False),  # a pad on top of centre padding
    ((2, 100), 256, 64, 256, True, "constant", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, True),  # constant centre padding: a short signal still has frames
    ((2, 100), 256, 64, 256, True, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, False),  # reflect padding longer than the signal: spectro.stft's error
    ((2, 100), 256, 64, 256, False, "reflect", (0, 0), "reflect", False, 2.0, 0.0, False, "ln", "clamp",
     torch.float32, torch.float32, None, False),  # no frame
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_eager_path_equals_python_path(case, device, monkeypatch):
    (shape, n_fft, hop, win, center, pad_mode, pad, pvm, normalized, power, mag_eps, drop_last, log, log_mode,
     xdt, wdt, bins, takes) = CASES[case]
    g = torch.Generator().manual_seed(case)
    x = torch.randn(shape, generator=g).to(device=device, dtype=xdt)
    window = torch.hann_window(win, dtype=wdt, device=device)
    basis = filterbank(n_fft, 24, bins).to(device)
    args = (x, window, basis, n_fft, hop, win, center, pad_mode, pad, pvm, normalized, power, mag_eps, drop_last, log,
            log_mode, 1e-5, "float32")
    eager = spectro._C.mel_frontend(x, window, basis, n_fft, hop, win, center, pad_mode, pad[0], pad[1], pvm,
                                    normalized, power, mag_eps, drop_last, log, log_mode, 1e-5)
    assert (eager is not None) == takes
    if eager is None:
        return
    ref = python_path(monkeypatch, *args)
    assert eager.dtype == ref.dtype and eager.shape == ref.shape and eager.stride() == ref.stride()
    assert torch.equal(eager, ref)
    assert torch.equal(M._mel_core(*args), ref)  # (and _mel_core takes the C++ path)


@pytest.mark.parametrize("case", [0, 2, 5])
def test_eager_path_gradient(case, device, monkeypatch):
    (shape, n_fft, hop, win, center, pad_mode, pad, pvm, normalized, power, mag_eps, drop_last, log, log_mode,
     xdt, wdt, bins, _) = CASES[case]
    g = torch.Generator().manual_seed(100 + case)
    x = torch.randn(shape, generator=g).to(device)
    window = torch.hann_window(win, device=device).requires_grad_()
    basis = filterbank(n_fft, 24, bins).to(device)
    grads = []
    for path in ("eager", "python"):
        xg = x.clone().requires_grad_()
        args = (xg, window, basis, n_fft, hop, win, center, pad_mode, pad, pvm, normalized, power, mag_eps, drop_last,
                log, log_mode, 1e-5, "float32")
        out = M._mel_core(*args) if path == "eager" else python_path(monkeypatch, *args)
        grads.append(torch.autograd.grad(out, (xg, window), torch.ones_like(out)))
    for a, b in zip(*grads):
        assert torch.equal(a, b)


def test_modules_take_the_eager_path(monkeypatch):
    """LogMelSpectrogram / MelSpectrogram / whisper_log_mel reach the C++ path with a contiguous basis (their own
    filterbank as they hold it: no per-call copy) and give what the Python path gives."""
    calls = []
    real = spectro._C.mel_frontend

    class Spy:
        def __getattr__(self, name):
            return getattr(spectro._C, name)

        @staticmethod
        def mel_frontend(*a):
            out = real(*a)
            calls.append((out is not None, a[2].is_contiguous()))  # (the basis passed on without a copy)
            return out

    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(7))
    fns = [spectro.LogMelSpectrogram(16000, 400, 160, n_mels=40),
           spectro.LogMelSpectrogram(22050, 256, 64, n_mels=20, mag_eps=1e-9, center=False, pad=96),
           spectro.MelSpectrogram(n_fft=256, n_mels=20),
           lambda v: spectro.whisper_log_mel(v, 80)]
    for f in fns:
        with monkeypatch.context() as mp:
            mp.setattr(M, "_C", Spy())
            got = f(x)
        with monkeypatch.context() as mp:
            mp.setattr(M, "_is_compiling", lambda: True)
            want = f(x)
        assert torch.equal(got, want)
    assert calls == [(True, True)] * len(fns)
