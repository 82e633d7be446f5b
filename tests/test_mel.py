"""Mel frontends (spectro/mel.py): filterbanks against librosa, torchaudio and whisper's npz; torchaudio's
MelSpectrogram / AmplitudeToDB; the log-mel frontends of HiFi-GAN, BigVGAN, Vocos, Whisper, RMVPE and torchfcpe
(their formulas transcribed below on torch.stft); log modes; errors and warnings; gradients; torch.compile; export;
half-precision input.

torchaudio: used when it imports (the GPU machine: torchaudio 2.11 + torch 2.11); otherwise the comparisons use a
transcription of its formulas (functional.melscale_fbanks, transforms.MelSpectrogram / Spectrogram / MelScale,
functional.amplitude_to_DB, compliance.kaldi.get_mel_banks) written from torchaudio 2.11's source.

Accuracy criterion (frontend outputs)
-------------------------------------
Every frontend output y is compared with a float64 reference r: the same formula evaluated with torch.stft in
float64 on the same input (the float32 filterbank's values converted exactly to float64, so the filterbank is part
of the definition and only the arithmetic differs). spectro's float32 result s must satisfy, norm-wise and element-
wise,

    ||s - r|| / ||r||      <=  2 * ||t - r|| / ||r||       +  FLOOR
    max |s - r| / max |r|  <=  2 * max |t - r| / max |r|   +  FLOOR

with t the same formula composed of torch ops in float32 (torch.stft based): spectro may be at most twice as
inaccurate as the torch composition that it replaces. FLOOR = 8 * eps32 ~ 9.5e-7: the error that the float32
steps after the FFT produce by themselves, which a lucky torch result may avoid on a small input: |X|^2 (2
roundings) or |X| (2-3), the mel dot product (<= log2(n_freqs) ~ 10 roundings for a blocked / pairwise GEMM, usually
far fewer in effect: ~sqrt), the log (1-2) and the output rounding (1/2): about 4-8 eps relative; the FFT's own
error (~ eps * log2(n_fft) * c, see tests/helpers.py) is of the same order, so this floor is at most the size of the
quantity measured and still ~10^6 times below what an indexing / scaling bug produces.
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import torch

import spectro
from helpers import (assert_graph_step_matches_eager, config_id, covering_configs, generator, has_warning,
                     record_warnings, seed_of)

try:  # torch >= 2.4
    from torch.library import opcheck
except ImportError:  # torch 2.3
    from torch.testing._internal.optests import opcheck

try:  # (pip install librosa==0.11.0; the tests that compare with librosa itself skip without it)
    import librosa
except ImportError:
    librosa = None
needs_librosa = pytest.mark.skipif(librosa is None, reason="librosa is not installed (pip install librosa==0.11.0)")

try:  # torchaudio only imports with its matching torch (2.11 on the GPU machine)
    import torchaudio

    HAS_TA = True
except Exception:  # noqa: BLE001  (ImportError, or an OSError / RuntimeError from its extension)
    torchaudio = None
    HAS_TA = False

EPS32 = torch.finfo(torch.float32).eps
FLOOR = 8 * EPS32


def _whisper_npz_path():
    import importlib.util

    spec = importlib.util.find_spec("whisper")  # (finds the package without importing it: whisper imports tqdm, ...)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "assets", "mel_filters.npz")
    return path if os.path.exists(path) else None


WHISPER_NPZ = _whisper_npz_path()


def _load_whisper_audio():
    """openai-whisper's audio.py itself, loaded by path under a stub package (importing `whisper` pulls tiktoken,
    numba, tqdm, ...; audio.py needs only numpy, torch and whisper/utils.py)."""
    import importlib.util
    import sys
    import types

    if WHISPER_NPZ is None:
        return None
    root = os.path.dirname(os.path.dirname(WHISPER_NPZ))
    name = "_spectro_tests_whisper"
    try:
        pkg = types.ModuleType(name)
        pkg.__path__ = [root]
        sys.modules.setdefault(name, pkg)
        spec = importlib.util.spec_from_file_location(name + ".audio", os.path.join(root, "audio.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod
    except Exception:  # noqa: BLE001  (another whisper version's imports: fall back to the transcription)
        return None


WHISPER_AUDIO = _load_whisper_audio()


# ----------------------------------------------------------------------------------------------------------------
# Transcriptions (written from each package's source; used as the reference formulas)
def ta_hz_to_mel(freq, mel_scale="htk"):
    if mel_scale == "htk":
        return 2595.0 * math.log10(1.0 + (freq / 700.0))
    f_min, f_sp = 0.0, 200.0 / 3
    mels = (freq - f_min) / f_sp
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = math.log(6.4) / 27.0
    if freq >= min_log_hz:
        mels = min_log_mel + math.log(freq / min_log_hz) / logstep
    return mels


def ta_mel_to_hz(mels, mel_scale="htk"):
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_min, f_sp = 0.0, 200.0 / 3
    freqs = f_min + f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = math.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * torch.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def ta_melscale_fbanks_transcribed(n_freqs, f_min, f_max, n_mels, sample_rate, norm=None, mel_scale="htk"):
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_min, m_max = ta_hz_to_mel(f_min, mel_scale), ta_hz_to_mel(f_max, mel_scale)
    m_pts = torch.linspace(m_min, m_max, n_mels + 2)
    f_pts = ta_mel_to_hz(m_pts, mel_scale)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    zero = torch.zeros(1)
    down_slopes = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up_slopes = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(zero, torch.min(down_slopes, up_slopes))
    if norm is not None and norm == "slaney":
        enorm = 2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])
        fb *= enorm.unsqueeze(0)
    return fb


def ta_melscale_fbanks(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if HAS_TA:
            return torchaudio.functional.melscale_fbanks(*args, **kw)
        return ta_melscale_fbanks_transcribed(*args, **kw)


def ta_kaldi_mel_banks(num_bins, window_length_padded, sample_freq, low_freq, high_freq):
    """torchaudio.compliance.kaldi.get_mel_banks (no VTLN), transcribed; (num_bins, window_length_padded / 2)."""
    num_fft_bins = window_length_padded / 2
    fft_bin_width = sample_freq / window_length_padded

    def mel_scale(f):
        return 1127.0 * (1.0 + f / 700.0).log()

    mel_low, mel_high = 1127.0 * math.log(1.0 + low_freq / 700.0), 1127.0 * math.log(1.0 + high_freq / 700.0)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins).unsqueeze(1)
    left, center, right = mel_low + b * delta, mel_low + (b + 1.0) * delta, mel_low + (b + 2.0) * delta
    mel = mel_scale(fft_bin_width * torch.arange(num_fft_bins)).unsqueeze(0)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    return torch.max(torch.zeros(1), torch.min(up, down))


def ta_amplitude_to_db(x, multiplier, amin, db_multiplier, top_db=None):
    if HAS_TA:
        return torchaudio.functional.amplitude_to_DB(x, multiplier, amin, db_multiplier, top_db)
    x_db = multiplier * torch.log10(torch.clamp(x, min=amin))
    x_db -= multiplier * db_multiplier
    if top_db is not None:
        shape = x_db.size()
        packed_channels = shape[-3] if x_db.dim() > 2 else 1
        x_db = x_db.reshape(-1, packed_channels, shape[-2], shape[-1])
        x_db = torch.max(x_db, (x_db.amax(dim=(-3, -2, -1)) - top_db).view(-1, 1, 1, 1))
        x_db = x_db.reshape(shape)
    return x_db


def ta_mel_spectrogram(x, window, fb, n_fft, hop, win, pad, power, normalized, center, pad_mode):
    """torchaudio.transforms.MelSpectrogram's forward (functional.spectrogram + MelScale), transcribed."""
    if pad > 0:
        x = torch.nn.functional.pad(x, (pad, pad), "constant")
    frame_length_norm = normalized == "frame_length"
    window_norm = normalized is True or normalized == "window"
    shape = x.size()
    x = x.reshape(-1, shape[-1])
    spec = torch.stft(x, n_fft, hop, win, window, center, pad_mode, frame_length_norm, True, return_complex=True)
    spec = spec.reshape(shape[:-1] + spec.shape[-2:])
    if window_norm:
        spec = spec / window.pow(2.0).sum().sqrt()
    spec = spec.abs() if power == 1.0 else spec.abs().pow(power)
    return torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)


def torch_stft_2d(x, *args, **kw):
    shape = x.shape
    s = torch.stft(x.reshape(-1, shape[-1]), *args, **kw)
    return s.reshape(shape[:-1] + s.shape[-2:])


def hifigan_mel(y, mel_basis, window, n_fft, hop, win, center=False):
    """jik876/hifi-gan meldataset.mel_spectrogram (mel_basis given: librosa's filter as a tensor)."""
    p = int((n_fft - hop) / 2)
    y = torch.nn.functional.pad(y.unsqueeze(1), (p, p), mode="reflect").squeeze(1)
    spec = torch.view_as_real(torch.stft(y, n_fft, hop_length=hop, win_length=win, window=window, center=center,
                                         pad_mode="reflect", normalized=False, onesided=True, return_complex=True))
    spec = torch.sqrt(spec.pow(2).sum(-1) + 1e-9)
    spec = torch.matmul(mel_basis, spec)
    return torch.log(torch.clamp(spec, min=1e-5) * 1)


def vocos_mel(audio, fb, window, n_fft, hop, padding):
    """vocos.feature_extractors.MelSpectrogramFeatures (torchaudio MelSpectrogram, power 1; safe_log 1e-7)."""
    if padding == "same":
        pad = n_fft - hop  # (win_length == n_fft)
        audio = torch.nn.functional.pad(audio, (pad // 2, pad // 2), mode="reflect")
    mel = ta_mel_spectrogram(audio, window, fb, n_fft, hop, n_fft, 0, 1.0, False, padding == "center", "reflect")
    return torch.log(torch.clip(mel, min=1e-7))


def whisper_reference(audio, filters, padding=0, per_example=False):
    """openai-whisper audio.log_mel_spectrogram (filters given), transcribed; per_example: HF's max scope."""
    if padding > 0:
        audio = torch.nn.functional.pad(audio, (0, padding))
    window = torch.hann_window(400, dtype=audio.dtype).to(audio.device)
    stft = torch_stft_2d(audio, 400, 160, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel_spec = filters @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    top = log_spec.amax(dim=(-2, -1), keepdim=True) if per_example else log_spec.max()
    log_spec = torch.maximum(log_spec, top - 8.0)
    return (log_spec + 4.0) / 4.0


def rmvpe_mel(audio, mel_basis, n_fft, win, hop, keyshift=0, speed=1, center=True, clamp=1e-5):
    """RMVPE's MelSpectrogram.forward (RVC), transcribed (mel_basis: librosa mel, htk=True)."""
    factor = 2 ** (keyshift / 12)
    n_fft_new = int(np.round(n_fft * factor))
    win_new = int(np.round(win * factor))
    hop_new = int(np.round(hop * speed))
    window = torch.hann_window(win_new, dtype=audio.dtype).to(audio.device)
    fft = torch_stft_2d(audio, n_fft=n_fft_new, hop_length=hop_new, win_length=win_new, window=window,
                        center=center, return_complex=True)
    magnitude = torch.sqrt(fft.real.pow(2) + fft.imag.pow(2))
    if keyshift != 0:
        size = n_fft // 2 + 1
        resize = magnitude.size(-2)
        if resize < size:
            magnitude = torch.nn.functional.pad(magnitude, (0, 0, 0, size - resize))
        magnitude = magnitude[..., :size, :] * win / win_new
    mel_output = torch.matmul(mel_basis, magnitude)
    return torch.log(torch.clamp(mel_output, min=clamp))


def fcpe_mel(y, mel_basis, n_fft, win, hop, keyshift=0, speed=1, clip_val=1e-5):
    """torchfcpe / DDSP-SVC STFT.get_mel (center=False), transcribed."""
    factor = 2 ** (keyshift / 12)
    n_fft_new = int(np.round(n_fft * factor))
    win_new = int(np.round(win * factor))
    hop_new = int(np.round(hop * speed))
    window = torch.hann_window(win_new, dtype=y.dtype).to(y.device)
    pad_left = (win_new - hop_new) // 2
    pad_right = max((win_new - hop_new + 1) // 2, win_new - y.size(-1) - pad_left)
    y = torch.nn.functional.pad(y.unsqueeze(1), (pad_left, pad_right), mode="reflect").squeeze(1)
    spec = torch.stft(y, n_fft_new, hop_length=hop_new, win_length=win_new, window=window, center=False,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    spec = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
    if keyshift != 0:
        size = n_fft // 2 + 1
        resize = spec.size(1)
        if resize < size:
            spec = torch.nn.functional.pad(spec, (0, 0, 0, size - resize))
        spec = spec[:, :size, :] * win / win_new
    spec = torch.matmul(mel_basis, spec)
    return torch.log(torch.clamp(spec, min=clip_val) * 1)


# ----------------------------------------------------------------------------------------------------------------
# Accuracy criterion (module docstring)
def assert_accuracy(ours, torch32, ref64, what=""):
    assert ours.shape == ref64.shape, f"[{what}] shape {tuple(ours.shape)} != reference {tuple(ref64.shape)}"
    assert ours.dtype == torch32.dtype, f"[{what}] dtype {ours.dtype} != torch's {torch32.dtype}"
    s, t, r = (v.detach().to("cpu", torch.float64) for v in (ours, torch32, ref64))
    assert torch.equal(torch.isnan(s), torch.isnan(r)), f"[{what}] NaN pattern differs from the reference"
    fin = torch.isfinite(r)
    assert torch.equal(torch.isfinite(s), fin), f"[{what}] Inf pattern differs from the reference"
    s, t, r = s[fin], t[fin], r[fin]
    if r.numel() == 0:
        return
    rn, rm = r.norm().item(), r.abs().max().item()
    if rn == 0:
        assert s.abs().max().item() == 0
        return
    es, et = (s - r).norm().item() / rn, (t - r).norm().item() / rn
    assert es <= 2 * et + FLOOR, f"[{what}] norm-wise error {es:.3e} > 2 x torch's {et:.3e} + {FLOOR:.1e}"
    ms, mt = (s - r).abs().max().item() / rm, (t - r).abs().max().item() / rm
    assert ms <= 2 * mt + FLOOR, f"[{what}] max error {ms:.3e} (of max|ref|) > 2 x torch's {mt:.3e} + {FLOOR:.1e}"


def signal(shape, seed, device="cpu", dtype=torch.float32):
    """Seeded noise plus a few tones (so that the mel bands span a realistic dynamic range)."""
    g = generator(seed)
    T = shape[-1]
    t = torch.arange(T, dtype=torch.float64)
    x = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    for f in (0.013, 0.071, 0.23):
        x = x + torch.sin(2 * math.pi * f * t + float(torch.rand(1, generator=g)) * 6)
    return x.to(device=device, dtype=dtype)


# ----------------------------------------------------------------------------------------------------------------
# Filterbanks
LIBROSA_GRID = covering_configs(
    {
        "sr": [8000, 16000, 22050, 44100],
        "n_fft": [256, 400, 1024, 2048],
        "n_mels": [40, 80, 128],
        "band": [(0.0, None), (20.0, 8000.0), (300.0, 3400.0)],
        "htk": [False, True],
        "norm": ["slaney", None, 1.0, math.inf],
        "dtype": [torch.float32, torch.float64],
    },
    strength=2,
    strong=("htk", "norm", "dtype"),
    valid=lambda c: "band" not in c or "sr" not in c or c["band"][1] is None or c["band"][1] <= c["sr"] / 2,
    seed=1,
)


@needs_librosa
@pytest.mark.parametrize("cfg", LIBROSA_GRID, ids=config_id)
def test_mel_filters_match_librosa(cfg):
    fmin, fmax = cfg["band"]
    np_dtype = np.float32 if cfg["dtype"] == torch.float32 else np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (empty filters at 8 kHz with 128 mels: both warn, tested below)
        ref = librosa.filters.mel(sr=cfg["sr"], n_fft=cfg["n_fft"], n_mels=cfg["n_mels"], fmin=fmin, fmax=fmax,
                                  htk=cfg["htk"], norm=cfg["norm"], dtype=np_dtype)
        ours = spectro.mel_filters(cfg["sr"], cfg["n_fft"], cfg["n_mels"], fmin, fmax, htk=cfg["htk"],
                                   norm=cfg["norm"], dtype=cfg["dtype"])
    assert ours.shape == ref.shape and ours.dtype == cfg["dtype"] and ours.device.type == "cpu"
    # Same float64 construction, but numpy's and torch's pow / exp (mel -> Hz) may differ by an ulp in float64: a
    # corner frequency f_c 1 ulp off moves the ramps through it by ulp(f_c) / (f_c's gap to its neighbour corner) of
    # the (unnormalised) peak 1, i.e. by eps64 * max(f_c / gap) relative to the largest weight; in float32 that is
    # below the final rounding (1 ulp) almost always. Tolerance: 4x that bound plus 2 ulp of the dtype.
    corners = librosa.mel_frequencies(cfg["n_mels"] + 2, fmin=fmin, fmax=fmax or cfg["sr"] / 2, htk=cfg["htk"])
    amplification = float(np.max(corners[1:] / np.diff(corners)))
    atol = 4 * np.finfo(np.float64).eps * amplification * float(np.abs(ref).max())
    torch.testing.assert_close(ours, torch.from_numpy(ref), rtol=2 * torch.finfo(cfg["dtype"]).eps, atol=atol)
    if cfg["dtype"] == torch.float32:
        assert (ours != torch.from_numpy(ref)).float().mean() < 0.01  # (bit-identical nearly everywhere)


@pytest.mark.skipif(WHISPER_NPZ is None, reason="openai-whisper is not installed (pip install --no-deps "
                                                "openai-whisper)")
@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filters_equal_whisper_npz(n_mels):
    with np.load(WHISPER_NPZ, allow_pickle=False) as f:
        ref = torch.from_numpy(f[f"mel_{n_mels}"])
    ours = spectro.mel_filters(16000, 400, n_mels)
    assert ours.dtype == ref.dtype == torch.float32 and ours.shape == ref.shape
    # Bit-identical on the development machine; 1 float32 ulp of slack for another CPU's libm (see above).
    torch.testing.assert_close(ours, ref, rtol=EPS32, atol=0)


def test_mel_filters_dtype_device_keywords(device):
    f = spectro.mel_filters(22050, 1024, 80, dtype=torch.float64, device=device)
    assert f.dtype == torch.float64 and f.device.type == device and f.shape == (80, 513)


FBANK_GRID = covering_configs(
    {
        "sr": [8000, 16000, 22050, 24000, 44100],
        "n_fft": [256, 400, 1024, 2048],
        "n_mels": [23, 64, 80, 128],
        "band": [(0.0, None), (20.0, 8000.0), (300.0, 3400.0)],
        "norm": [None, "slaney"],
        "mel_scale": ["htk", "slaney"],
    },
    strength=2,
    strong=("norm", "mel_scale", "band"),
    valid=lambda c: "band" not in c or "sr" not in c or c["band"][1] is None or c["band"][1] <= c["sr"] / 2,
    seed=2,
)


@pytest.mark.parametrize("cfg", FBANK_GRID, ids=config_id)
def test_melscale_fbanks_match_torchaudio(cfg):
    fmin, fmax = cfg["band"]
    fmax = float(cfg["sr"] // 2) if fmax is None else fmax
    args = (cfg["n_fft"] // 2 + 1, fmin, fmax, cfg["n_mels"], cfg["sr"], cfg["norm"], cfg["mel_scale"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = spectro.melscale_fbanks(*args)
    ref = ta_melscale_fbanks(*args)
    assert ours.shape == ref.shape == (args[0], cfg["n_mels"]) and ours.dtype == ref.dtype == torch.float32
    # The same float32 operations in the same order on the same CPU: bit-identical.
    assert torch.equal(ours, ref), f"max diff {(ours - ref).abs().max().item():.3e}"
    if cfg["norm"] == "slaney" and cfg["mel_scale"] == "slaney" and cfg["sr"] % 2 == 0 and librosa is not None:
        # An independent check of the transcription: torchaudio's slaney/slaney bank is librosa's default bank on
        # the same grid (even sample rates), built in float32 instead of float64: equal to float32 rounding
        # amplified by the triangles' slopes (a few ulp of the largest weight).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lib = torch.from_numpy(librosa.filters.mel(sr=cfg["sr"], n_fft=cfg["n_fft"], n_mels=cfg["n_mels"],
                                                       fmin=fmin, fmax=fmax, dtype=np.float64)).float().t()
        torch.testing.assert_close(ours, lib, rtol=0, atol=1e-4 * lib.abs().max().item())


@pytest.mark.parametrize("n_fft,n_mels,sr,band", [(400, 23, 16000, (20.0, 8000.0)), (512, 40, 8000, (0.0, 4000.0)),
                                                  (1024, 80, 22050, (300.0, 3400.0))])
def test_melscale_fbanks_kaldi(n_fft, n_mels, sr, band):
    ours = spectro.melscale_fbanks(n_fft // 2 + 1, band[0], band[1], n_mels, sr, None, "kaldi")
    ref = ta_kaldi_mel_banks(n_mels, n_fft, float(sr), band[0], band[1])
    ref = torch.nn.functional.pad(ref, (0, 1)).t()  # kaldi.fbank appends a zero column for the Nyquist bin
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=4 * EPS32)
    kaldi = getattr(getattr(torchaudio, "compliance", None), "kaldi", None) if HAS_TA else None
    if kaldi is not None and hasattr(kaldi, "get_mel_banks"):
        banks, _ = kaldi.get_mel_banks(n_mels, n_fft, float(sr), band[0], band[1], 100.0, -500.0, 1.0)
        torch.testing.assert_close(ours, torch.nn.functional.pad(banks, (0, 1)).t(), rtol=0, atol=4 * EPS32)


def test_filterbank_warnings():
    with record_warnings() as rec:
        spectro.melscale_fbanks(33, 0.0, 8000.0, 128, 16000)
    assert has_warning(rec, "At least one mel filterbank has all zero values")
    with record_warnings() as rec:
        spectro.mel_filters(16000, 128, 128)
    assert has_warning(rec, "Empty filters detected in mel frequency basis")
    if librosa is not None:
        with record_warnings() as rec:  # librosa warns in the same case
            librosa.filters.mel(sr=16000, n_fft=128, n_mels=128)
        assert has_warning(rec, "Empty filters detected")
    with record_warnings() as rec:
        spectro.MelSpectrogram(n_fft=64, n_mels=128)
    assert has_warning(rec, "all zero values")
    with record_warnings() as rec:
        spectro.mel_filters(22050, 1024, 80)
        spectro.melscale_fbanks(201, 0.0, 8000.0, 80, 16000)  # (128 mels on 201 bins warn: torchaudio's defaults do)
    assert not rec, [str(w.message) for w in rec]


# ----------------------------------------------------------------------------------------------------------------
# torchaudio's MelSpectrogram
MEL_GRID = covering_configs(
    {
        "sr": [8000, 16000, 22050],
        "n_fft": [128, 256, 400],
        "win": [None, "short"],
        "hop": [None, 50, 128],
        "n_mels": [16, 40, 64],
        "band": [(0.0, None), (60.0, 3600.0)],
        "norm": [None, "slaney"],
        "mel_scale": ["htk", "slaney"],
        "power": [2.0, 1.0, 0.5],
        "pad": [0, 7],
        "center": [True, False],
        "pad_mode": ["reflect", "constant"],
        "normalized": [False, True, "frame_length"],
        "batch": [(), (3,), (2, 2)],
    },
    strength=2,
    seed=3,
)


@pytest.mark.kernel_paths
@pytest.mark.parametrize("cfg", MEL_GRID, ids=config_id)
def test_mel_spectrogram_matches_torchaudio(cfg, device):
    fmin, fmax = cfg["band"]
    win = None if cfg["win"] is None else cfg["n_fft"] * 3 // 4
    kw = dict(sample_rate=cfg["sr"], n_fft=cfg["n_fft"], win_length=win, hop_length=cfg["hop"], f_min=fmin,
              f_max=fmax, pad=cfg["pad"], n_mels=cfg["n_mels"], power=cfg["power"], normalized=cfg["normalized"],
              center=cfg["center"], pad_mode=cfg["pad_mode"], norm=cfg["norm"], mel_scale=cfg["mel_scale"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (empty filters in a few corners of the grid)
        m = spectro.MelSpectrogram(**kw).to(device)
    x = signal(cfg["batch"] + (1500,), seed_of("mel", config_id(cfg)), device)
    out = m(x)
    if HAS_TA:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ta = torchaudio.transforms.MelSpectrogram(**kw).to(device)
        assert [(k, v.shape) for k, v in ta.state_dict().items()] == [(k, v.shape) for k, v in m.state_dict().items()]
        assert torch.equal(ta.mel_scale.fb.cpu(), m.mel_scale.fb.cpu())
        t32 = ta(x)
        r64 = ta.double().cpu()(x.double().cpu())
    else:
        assert list(m.state_dict()) == ["spectrogram.window", "mel_scale.fb"]
        wl = m.win_length
        assert m.hop_length == (cfg["hop"] or wl // 2)
        f_max = fmax if fmax is not None else float(cfg["sr"] // 2)
        fb = ta_melscale_fbanks(cfg["n_fft"] // 2 + 1, fmin, f_max, cfg["n_mels"], cfg["sr"], cfg["norm"],
                                cfg["mel_scale"])
        assert torch.equal(fb, m.mel_scale.fb.cpu())
        w = torch.hann_window(wl)
        args = (cfg["n_fft"], m.hop_length, wl, cfg["pad"], cfg["power"], cfg["normalized"], cfg["center"],
                cfg["pad_mode"])
        t32 = ta_mel_spectrogram(x, w.to(device), fb.to(device), *args)
        r64 = ta_mel_spectrogram(x.double().cpu(), w.double(), fb.double(), *args)
    assert out.device.type == device
    assert_accuracy(out, t32, r64, config_id(cfg))


def test_mel_spectrogram_defaults_and_float64(device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torchaudio's defaults, 128 mels on 201 bins, have an empty filter)
        m = spectro.MelSpectrogram().to(device)
    assert (m.sample_rate, m.n_fft, m.win_length, m.hop_length, m.n_mels, m.power) == (16000, 400, 400, 200, 128, 2.0)
    assert m.mel_scale.fb.shape == (201, 128) and m.spectrogram.window.shape == (400,)
    x = signal((2, 3200), 5, device, torch.float64)
    y = m(x)
    assert y.shape == (2, 128, 17) and y.dtype == torch.float64
    # (float64 input with the float32 buffers: computed in float64 on the buffers' values)
    ref = ta_mel_spectrogram(x.cpu(), m.spectrogram.window.double().cpu(), m.mel_scale.fb.double().cpu(),
                             400, 200, 400, 0, 2.0, False, True, "reflect")
    torch.testing.assert_close(y.cpu(), ref, rtol=1e-12, atol=1e-12 * ref.abs().max().item())
    with record_warnings() as rec:
        spectro.MelSpectrogram(onesided=True)
    assert has_warning(rec, "'onesided' has been deprecated")


def test_mel_spectrogram_wkwargs_and_functional():
    m = spectro.MelSpectrogram(n_fft=256, window_fn=torch.hamming_window, wkwargs={"periodic": False}, n_mels=32)
    assert torch.equal(m.spectrogram.window, torch.hamming_window(256, periodic=False))
    x = signal((1200,), 6)
    y = spectro.mel_spectrogram(x, 16000, 256, window=m.spectrogram.window, n_mels=32)
    assert torch.equal(m(x), y)


# ----------------------------------------------------------------------------------------------------------------
# AmplitudeToDB
@pytest.mark.parametrize("shape", [(40, 9), (3, 40, 9), (2, 3, 40, 9), (2, 2, 3, 40, 9)], ids=str)
@pytest.mark.parametrize("stype", ["power", "magnitude"])
@pytest.mark.parametrize("top_db", [None, 80.0, 20.0])
def test_amplitude_to_db_matches_torchaudio(shape, stype, top_db, device):
    g = generator(seed_of("db", shape, stype, top_db))
    x = (torch.rand(shape, generator=g) ** 8 * torch.logspace(0, -6, shape[0]).view((-1,) + (1,) * (len(shape) - 1)))
    x = x.to(device)
    x.view(-1)[3] = 0.0
    ours = spectro.AmplitudeToDB(stype, top_db)(x)
    mult = 10.0 if stype == "power" else 20.0
    ref = ta_amplitude_to_db(x.clone(), mult, 1e-10, 0.0, top_db)
    if HAS_TA:
        assert torch.equal(torchaudio.transforms.AmplitudeToDB(stype, top_db)(x), ref)
    assert torch.equal(ours, ref)
    assert torch.equal(spectro.amplitude_to_db(x, mult, 1e-10, 0.0, top_db), ref)


def test_amplitude_to_db_top_db_scope():
    """<= 3-D: one max for the whole tensor; 4-D: one max per leading item (over channel, freq, time)."""
    loud, quiet = torch.full((1, 4, 5), 1.0), torch.full((1, 4, 5), 1e-4)
    quiet[0, 0, 0] = 1e-12
    x3 = torch.cat([loud, quiet])  # (2, 4, 5): channels -> whole tensor
    y3 = spectro.amplitude_to_db(x3, 10.0, 1e-10, 0.0, top_db=30.0)
    assert y3[1].min().item() == pytest.approx(-30.0)  # floored at the loud channel's max - 30
    y4 = spectro.amplitude_to_db(x3.unsqueeze(1), 10.0, 1e-10, 0.0, top_db=30.0)  # (2, 1, 4, 5): per example
    assert y4[1].min().item() == pytest.approx(-70.0) and y4[1].max().item() == pytest.approx(-40.0)
    with pytest.raises(ValueError, match="top_db"):
        spectro.AmplitudeToDB(top_db=-1.0)


# ----------------------------------------------------------------------------------------------------------------
# Log-mel frontends: HiFi-GAN, BigVGAN, Vocos
def _librosa_basis(sr, n_fft, n_mels, fmin, fmax, htk=False):
    if librosa is None:  # (spectro.mel_filters equals it: test_mel_filters_match_librosa)
        return spectro.mel_filters(sr, n_fft, n_mels, fmin, fmax, htk=htk)
    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                                htk=htk)).float()


@pytest.mark.kernel_paths
@pytest.mark.parametrize("batch", [(), (2,), (2, 2)], ids=str)
@pytest.mark.parametrize("preset", ["hifigan", "bigvgan"])
def test_log_mel_hifigan_bigvgan(preset, batch, device):
    # HiFi-GAN: 22.05 kHz, 1024/256, 80 mels, fmax 8000; BigVGAN v2: 24 kHz, 100 mels, fmax None (sr / 2).
    # (n_fft scaled down 4x to keep the test fast; the formula is the same.)
    sr, n_fft, hop, n_mels, fmax = (22050, 256, 64, 40, 8000.0) if preset == "hifigan" else (24000, 256, 64, 50, None)
    m = spectro.LogMelSpectrogram(sr, n_fft, hop, n_fft, 0.0, fmax, n_mels, power=1.0, mag_eps=1e-9, center=False,
                                  pad=(n_fft - hop) // 2).to(device)
    basis = _librosa_basis(sr, n_fft, n_mels, 0.0, fmax)
    assert torch.equal(m.mel_basis.cpu(), basis)
    x = signal(batch + (2000,), seed_of(preset, batch), device)
    flat = x.reshape(-1, x.shape[-1])
    w = torch.hann_window(n_fft)
    t32 = hifigan_mel(flat, basis.to(device), w.to(device), n_fft, hop, n_fft).reshape(batch + (n_mels, -1))
    r64 = hifigan_mel(flat.double().cpu(), basis.double(), w.double(), n_fft, hop, n_fft).reshape(batch + (n_mels, -1))
    assert_accuracy(m(x), t32, r64, preset)
    # (the module's window: a Hann window made on the GPU may differ from the CPU-made buffer in the last bit)
    y = spectro.log_mel_spectrogram(x, sr, n_fft, hop, f_max=fmax, n_mels=n_mels, mag_eps=1e-9, center=False,
                                    pad=(n_fft - hop) // 2, window=m.window)
    assert torch.equal(y, m(x))


@pytest.mark.kernel_paths
@pytest.mark.parametrize("padding", ["center", "same"])
def test_log_mel_vocos(padding, device):
    sr, n_fft, hop, n_mels = 24000, 256, 64, 32  # (Vocos: 1024/256/100; scaled down)
    m = spectro.LogMelSpectrogram(sr, n_fft, hop, n_mels=n_mels, power=1.0, center=padding == "center",
                                  pad="same" if padding == "same" else 0, norm=None, mel_scale="htk", log_eps=1e-7)
    m = m.to(device)
    fb = ta_melscale_fbanks(n_fft // 2 + 1, 0.0, float(sr // 2), n_mels, sr, None, "htk")
    assert torch.equal(m.mel_basis.cpu(), fb.t())
    x = signal((2, 1800), seed_of("vocos", padding), device)
    w = torch.hann_window(n_fft)
    t32 = vocos_mel(x, fb.to(device), w.to(device), n_fft, hop, padding)
    r64 = vocos_mel(x.double().cpu(), fb.double(), w.double(), n_fft, hop, padding)
    assert_accuracy(m(x), t32, r64, f"vocos-{padding}")


def _log_ref(mel, power, log, log_mode, eps):
    if log is None:
        return mel
    if log_mode == "clamp":
        v = torch.clamp(mel, min=eps)
    elif log_mode == "add":
        v = mel + eps
    else:
        v = 1.0 + mel
    if log == "ln":
        return torch.log(v)
    if log == "log10":
        return torch.log10(v)
    # decibels: librosa's power_to_db (10 log10) of a power mel, amplitude_to_db (20 log10) of a magnitude mel
    return (10.0 if power == 2.0 else 20.0) * torch.log10(v)


def _plain_mel(x, basis, window, n_fft, hop, power, mag_eps):
    spec = torch_stft_2d(x, n_fft, hop, window=window, return_complex=True)
    mag2 = spec.real.pow(2) + spec.imag.pow(2) + mag_eps
    return basis @ (mag2.sqrt() if power == 1.0 else mag2)


@pytest.mark.kernel_paths
@pytest.mark.parametrize("log,log_mode", [(lg, md) for lg in ("ln", "log10", "db") for md in ("clamp", "add", "log1p")]
                         + [(None, "clamp")])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_log_modes(log, log_mode, power, device):
    sr, n_fft, hop, n_mels, eps = 16000, 128, 32, 20, 1e-3
    m = spectro.LogMelSpectrogram(sr, n_fft, hop, n_mels=n_mels, power=power, log=log, log_mode=log_mode,
                                  log_eps=eps).to(device)
    x = signal((2, 900), seed_of("logmode", log, log_mode, power), device) * 0.05  # (mel values around eps)
    w = torch.hann_window(n_fft)
    t32 = _log_ref(_plain_mel(x, m.mel_basis, w.to(device), n_fft, hop, power, 0.0), power, log, log_mode, eps)
    r64 = _log_ref(_plain_mel(x.double().cpu(), m.mel_basis.double().cpu(), w.double(), n_fft, hop, power, 0.0), power,
                   log, log_mode, eps)
    assert_accuracy(m(x), t32, r64, f"{log}-{log_mode}-{power}")
    if log == "db" and log_mode == "clamp":  # decibels as torchaudio's AmplitudeToDB of the mel (amin = log_eps)
        lin = spectro.LogMelSpectrogram(sr, n_fft, hop, n_mels=n_mels, power=power, log=None).to(device)(x)
        db = spectro.amplitude_to_db(lin, 10.0 if power == 2.0 else 20.0, eps, 0.0)
        torch.testing.assert_close(m(x), db, rtol=1e-6, atol=1e-5)


def test_log_mel_mel_basis_and_pad_pair(device):
    n_fft, hop = 128, 32
    basis = torch.rand(12, n_fft // 2 + 1, generator=generator(7))
    m = spectro.LogMelSpectrogram(16000, n_fft, hop, mel_basis=basis, pad=(5, 9), center=False, log=None,
                                  power=2.0).to(device)
    assert m.n_mels == 12 and torch.equal(m.mel_basis.cpu(), basis)
    x = signal((3, 700), 8, device)
    xp = torch.nn.functional.pad(x.unsqueeze(1), (5, 9), mode="reflect").squeeze(1)
    w = torch.hann_window(n_fft)

    def ref(xx, b, ww):
        s = torch.stft(xx, n_fft, hop, window=ww, center=False, return_complex=True)
        return b @ s.abs().pow(2)

    assert_accuracy(m(x), ref(xp, basis.to(device), w.to(device)), ref(xp.double().cpu(), basis.double(), w.double()),
                    "mel_basis")


@needs_librosa
@pytest.mark.parametrize("htk,norm", [(False, "slaney"), (True, None)])
def test_mel_matches_librosa_melspectrogram(htk, norm, device):
    """librosa.feature.melspectrogram (center, constant padding, power 2; float64 input) as the float64 reference:
    a reference computed without torch at all."""
    sr, n_fft, hop, n_mels = 22050, 512, 128, 48
    basis = spectro.mel_filters(sr, n_fft, n_mels, 30.0, 9000.0, htk=htk, norm=norm)
    m = spectro.LogMelSpectrogram(sr, n_fft, hop, mel_basis=basis, power=2.0, pad_mode="constant", log=None)
    x = signal((2, 3000), seed_of("librosa-mel", htk), device)
    ref = librosa.feature.melspectrogram(y=x.double().cpu().numpy(), sr=sr, n_fft=n_fft, hop_length=hop,
                                         pad_mode="constant", n_mels=n_mels, fmin=30.0, fmax=9000.0, htk=htk,
                                         norm=norm)
    w = torch.hann_window(n_fft, device=device)
    t32 = basis.to(device) @ torch_stft_2d(x, n_fft, hop, window=w, pad_mode="constant",
                                           return_complex=True).abs().pow(2)
    assert_accuracy(m.to(device)(x), t32, torch.from_numpy(ref), f"librosa-{htk}-{norm}")


@pytest.mark.kernel_paths
# ----------------------------------------------------------------------------------------------------------------
# Whisper
@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("padding", [0, 480])
@pytest.mark.parametrize("max_scope", ["tensor", "example"])
def test_whisper_log_mel(n_mels, padding, max_scope, device):
    g = generator(seed_of("whisper", n_mels, padding, max_scope))
    # Two clips of very different loudness: the max scope matters.
    x = torch.randn(2, 4000, generator=g) * torch.tensor([[1.0], [1e-3]])
    x = x.to(device)
    filters = spectro.mel_filters(16000, 400, n_mels)
    if WHISPER_NPZ is not None:
        with np.load(WHISPER_NPZ, allow_pickle=False) as f:
            filters = torch.from_numpy(f[f"mel_{n_mels}"])
    out = spectro.whisper_log_mel(x, n_mels, padding, max_scope=max_scope)
    per = max_scope == "example"
    t32 = whisper_reference(x, filters.to(device), padding, per)
    if WHISPER_AUDIO is not None and not per:  # the transcription is whisper's function
        assert torch.equal(t32, WHISPER_AUDIO.log_mel_spectrogram(x, n_mels, padding))
    r64 = whisper_reference(x.double().cpu(), filters.double(), padding, per)
    assert out.shape == (2, n_mels, (4000 + padding) // 160)
    assert_accuracy(out, t32, r64, "whisper")
    one = spectro.whisper_log_mel(x[1], n_mels, padding, max_scope=max_scope)  # (unbatched)
    assert_accuracy(one, whisper_reference(x[1], filters.to(device), padding, per),
                    whisper_reference(x[1].double().cpu(), filters.double(), padding, per), "whisper-1d")
    if per:  # the quiet clip keeps its own range
        torch.testing.assert_close(out[1], one, rtol=0, atol=1e-5)
    assert torch.equal(spectro.whisper_log_mel(x.cpu().numpy(), n_mels, padding, device, max_scope=max_scope).cpu(),
                       out.cpu())


# ----------------------------------------------------------------------------------------------------------------
# Dynamic (key shift / speed)
@pytest.mark.parametrize("keyshift,speed", [(0, 1.0), (3, 1.0), (-4, 1.0), (5, 1.3), (-2, 0.8)])
def test_dynamic_rmvpe(keyshift, speed, device):
    sr, n_fft, hop, n_mels = 16000, 256, 40, 32  # (RMVPE: 1024 / 160 / 128; scaled down)
    basis = spectro.mel_filters(sr, n_fft, n_mels, 30.0, 8000.0, htk=True)
    m = spectro.DynamicMelSpectrogram(sr, n_fft, hop, mel_basis=basis, power=1.0, center=True).to(device)
    x = signal((2, 1600), seed_of("rmvpe", keyshift, speed), device)
    out = m(x, keyshift=keyshift, speed=speed)
    t32 = rmvpe_mel(x, basis.to(device), n_fft, n_fft, hop, keyshift, speed)
    r64 = rmvpe_mel(x.double().cpu(), basis.double(), n_fft, n_fft, hop, keyshift, speed)
    assert_accuracy(out, t32, r64, f"rmvpe-{keyshift}-{speed}")
    if keyshift == 0 and speed == 1.0:
        lm = spectro.LogMelSpectrogram(sr, n_fft, hop, mel_basis=basis, power=1.0).to(device)
        assert torch.equal(out, lm(x))


@pytest.mark.parametrize("keyshift,speed", [(0, 1.0), (2, 1.0), (-5, 1.0), (7, 0.9)])
def test_dynamic_torchfcpe(keyshift, speed, device):
    sr, n_fft, hop, n_mels = 16000, 256, 40, 32  # (torchfcpe: 1024 / 160 / 128)
    m = spectro.DynamicMelSpectrogram(sr, n_fft, hop, f_min=0.0, f_max=8000.0, n_mels=n_mels, power=1.0, mag_eps=1e-9,
                                      center=False, pad="same").to(device)
    basis = _librosa_basis(sr, n_fft, n_mels, 0.0, 8000.0)
    x = signal((2, 1500), seed_of("fcpe", keyshift, speed), device)
    out = m(x, keyshift=keyshift, speed=speed)
    t32 = fcpe_mel(x, basis.to(device), n_fft, n_fft, hop, keyshift, speed)
    r64 = fcpe_mel(x.double().cpu(), basis.double(), n_fft, n_fft, hop, keyshift, speed)
    assert_accuracy(out, t32, r64, f"fcpe-{keyshift}-{speed}")


# ----------------------------------------------------------------------------------------------------------------
# Errors
def test_errors():
    with pytest.raises(ValueError, match="f_max"):
        spectro.MelSpectrogram(sample_rate=16000, f_max=9000.0)
    with pytest.raises(ValueError, match="f_max"):
        spectro.LogMelSpectrogram(16000, 400, f_max=8001.0)
    with pytest.raises(ValueError, match="f_max"):
        spectro.mel_filters(16000, 400, f_max=12000.0)
    with pytest.raises(ValueError, match="f_max"):
        spectro.melscale_fbanks(201, 0.0, 8500.0, 40, 16000)
    with pytest.raises(ValueError, match="f_min"):
        spectro.MelSpectrogram(f_min=5000.0, f_max=4000.0, n_mels=40)
    with pytest.raises(ValueError, match="power"):
        spectro.MelSpectrogram(power=-1.0)
    with pytest.raises(ValueError, match="power"):
        spectro.LogMelSpectrogram(16000, 400, power=-2.0)
    with pytest.raises(ValueError, match="power"):
        spectro.MelSpectrogram(power=None)
    with pytest.raises(ValueError, match="mel_basis"):
        spectro.LogMelSpectrogram(16000, 400, mel_basis=torch.rand(80, 257))
    with pytest.raises(ValueError, match="mel_basis"):
        spectro.log_mel_spectrogram(torch.randn(1000), 16000, 400, mel_basis=torch.rand(80, 200))
    with pytest.raises(ValueError, match="waveform"):
        spectro.MelSpectrogram(n_mels=40)(torch.tensor(1.0))
    with pytest.raises(ValueError, match="waveform"):
        spectro.LogMelSpectrogram(16000, 400)(torch.tensor(1.0))
    with pytest.raises(ValueError, match="waveform"):
        spectro.whisper_log_mel(torch.tensor(1.0))
    with pytest.raises(ValueError, match="log_mode"):
        spectro.LogMelSpectrogram(16000, 400, log_mode="sqrt")
    with pytest.raises(ValueError, match="log"):
        spectro.LogMelSpectrogram(16000, 400, log="log2")
    with pytest.raises(ValueError, match="mel_scale"):
        spectro.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, mel_scale="bark")
    with pytest.raises(ValueError, match="norm"):
        spectro.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, norm="l2")
    with pytest.raises(ValueError, match="max_scope"):
        spectro.whisper_log_mel(torch.randn(1000), max_scope="batch")
    with pytest.raises(ValueError, match="speed"):
        spectro.DynamicMelSpectrogram(16000, 256)(torch.randn(1000), speed=0.0)
    with pytest.raises(RuntimeError, match="reflect"):  # (spectro.stft's own error: too short for the reflect pad)
        spectro.MelSpectrogram(n_fft=400, n_mels=40)(torch.randn(100))


@pytest.mark.kernel_paths
def test_nan_inf_propagate(device):
    m = spectro.MelSpectrogram(n_fft=128, n_mels=16).to(device)
    x = signal((2, 1000), 9, device)
    x[0, 300] = float("nan")
    x[1, 700] = float("inf")
    out = m(x)
    ref = ta_mel_spectrogram(x.cpu(), torch.hann_window(128), m.mel_scale.fb.cpu(), 128, 64, 128, 0, 2.0, False, True,
                             "reflect")
    # A NaN sample makes every bin of its frames NaN, hence every band (identical patterns). An inf sample gives
    # inf or NaN bins depending on the FFT's arithmetic (inf - inf in a butterfly): compare what is finite.
    assert torch.equal(torch.isnan(out[0]).cpu(), torch.isnan(ref[0]))
    assert torch.equal(torch.isfinite(out).cpu(), torch.isfinite(ref))
    assert torch.isnan(out[0]).any() and not torch.isnan(out[0, :, :2]).any()
    assert not torch.isfinite(out[1]).all() and torch.isfinite(out[1, :, :2]).all()


# ----------------------------------------------------------------------------------------------------------------
# Gradients, compile, export, half precision
def test_gradcheck_frontends():
    g = generator(11)
    # fast_mode: one random JVP / VJP pair per check instead of full Jacobians (minutes on this shared CPU).
    x = torch.randn(2, 80, generator=g, dtype=torch.float64, requires_grad=True)
    mods = [
        spectro.MelSpectrogram(16000, 32, n_mels=6).double(),
        spectro.MelSpectrogram(16000, 32, n_mels=6, power=1.0, normalized=True, pad=3).double(),
        spectro.LogMelSpectrogram(16000, 32, 8, n_mels=6, mag_eps=1e-9, center=False, pad=12).double(),
        spectro.LogMelSpectrogram(16000, 32, 8, n_mels=6, power=2.0, log="db", log_mode="add").double(),
        spectro.LogMelSpectrogram(16000, 32, 8, n_mels=6, log="log10", log_mode="log1p", mel_scale="htk").double(),
    ]
    for m in mods:
        assert torch.autograd.gradcheck(m, (x,), fast_mode=True), m
    d = spectro.DynamicMelSpectrogram(16000, 32, 8, n_mels=6, mag_eps=1e-9).double()
    assert torch.autograd.gradcheck(lambda v: d(v, keyshift=3, speed=1.25), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda v: d(v, keyshift=-2), (x,), fast_mode=True)
    db = torch.rand(2, 1, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(spectro.AmplitudeToDB("magnitude", top_db=40.0), (db,), fast_mode=True)
    xw = torch.randn(2, 500, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: spectro.whisper_log_mel(v, 80, 20, max_scope="example"), (xw,),
                                    fast_mode=True)


def test_gradient_device(device):
    m = spectro.LogMelSpectrogram(16000, 64, 16, n_mels=8, mag_eps=1e-9).to(device)
    x = signal((2, 400), 12, device).requires_grad_()
    m(x).sum().backward()
    xr = x.detach().cpu().double().requires_grad_()
    w = torch.hann_window(64, dtype=torch.float64)
    ref = torch.log(torch.clamp(_plain_mel(xr, m.mel_basis.double().cpu(), w, 64, 16, 1.0, 1e-9), min=1e-5))
    ref.sum().backward()
    torch.testing.assert_close(x.grad.cpu().double(), xr.grad, rtol=1e-4, atol=1e-4 * xr.grad.abs().max().item())


def test_vmap_grad():
    """torch.func transforms through the core (its in-place eps / sqrt included)."""
    m = spectro.LogMelSpectrogram(16000, 64, 16, n_mels=8, mag_eps=1e-9)
    x = signal((3, 400), 16)
    g = torch.func.vmap(torch.func.grad(lambda v: m(v).sum()))(x)
    xr = x.clone().requires_grad_()
    m(xr).sum().backward()
    torch.testing.assert_close(g, xr.grad, rtol=1e-5, atol=1e-6 * xr.grad.abs().max().item())
    torch.testing.assert_close(torch.func.vmap(m)(x), m(x), rtol=1e-6, atol=1e-6)


def test_compile_fullgraph():
    torch._dynamo.reset()
    m = spectro.LogMelSpectrogram(22050, 256, 64, n_mels=20, mag_eps=1e-9, center=False, pad=96)
    x = signal((2, 2000), 13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (inductor: "does not support code generation for complex operators")
        got = torch.compile(m, fullgraph=True, backend="inductor")(x)
    torch.testing.assert_close(got, m(x), rtol=1e-5, atol=1e-5)


def test_compile_fullgraph_every_frontend(monkeypatch):
    """Each frontend traces into one graph (aot_eager: the trace is what is tested; inductor's codegen is above),
    including the functional forms that build their filterbank inside the graph."""
    monkeypatch.setattr(spectro.mel, "_WHISPER_FILTERS", {})  # (whisper_log_mel builds its filters in the graph)
    monkeypatch.setattr(spectro.mel, "_WHISPER_WINDOWS", {})
    dyn = spectro.DynamicMelSpectrogram(16000, 128, 32, n_mels=16, mag_eps=1e-9)
    fns = {
        "MelSpectrogram": spectro.MelSpectrogram(n_fft=128, n_mels=16, normalized=True, power=1.0),
        "whisper": lambda v: spectro.whisper_log_mel(v, 80, max_scope="example"),
        "dynamic": lambda v: dyn(v, keyshift=3, speed=1.25),
        "log_mel_spectrogram": lambda v: spectro.log_mel_spectrogram(v, 16000, 128, n_mels=16, log="db"),
        "mel_spectrogram": lambda v: spectro.mel_spectrogram(v, 16000, 128, n_mels=16, mel_scale="slaney"),
    }
    x = signal((2, 1000), 15)
    for name, f in fns.items():
        torch._dynamo.reset()
        got = torch.compile(f, fullgraph=True, backend="aot_eager")(x)
        torch.testing.assert_close(got, f(x), rtol=1e-6, atol=1e-6, msg=lambda m: f"[{name}] {m}")


def test_whisper_kept_constants_after_inference_mode(device, monkeypatch):
    """whisper_log_mel keeps its filterbank and window per device: a first call in inference mode must not keep
    inference tensors (a later call that records gradients would fail to save them for backward)."""
    monkeypatch.setattr(spectro.mel, "_WHISPER_FILTERS", {})
    monkeypatch.setattr(spectro.mel, "_WHISPER_WINDOWS", {})
    x = signal((1, 3200), 16, device)
    with torch.inference_mode():
        ref = spectro.whisper_log_mel(x)
    assert len(spectro.mel._WHISPER_FILTERS) == 1 and len(spectro.mel._WHISPER_WINDOWS) == 1
    assert not any(t.is_inference() for t in [*spectro.mel._WHISPER_FILTERS.values(),
                                              *spectro.mel._WHISPER_WINDOWS.values()])
    xg = x.clone().requires_grad_()
    out = spectro.whisper_log_mel(xg)
    out.sum().backward()
    assert torch.equal(out.detach(), ref) and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


def test_dynamic_kept_windows_after_inference_mode(device):
    """DynamicMelSpectrogram keeps its scaled windows: one first built in inference mode is not an inference tensor."""
    m = spectro.DynamicMelSpectrogram(16000, 128, 32, n_mels=16, mag_eps=1e-9).to(device)
    x = signal((2, 1000), 17, device)
    with torch.inference_mode():
        ref = m(x, keyshift=3)
    xg = x.clone().requires_grad_()
    out = m(xg, keyshift=3)
    out.sum().backward()
    assert torch.equal(out.detach(), ref) and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


def test_export():
    m = spectro.LogMelSpectrogram(16000, 128, 32, n_mels=16)
    x = signal((2, 1000), 14)
    ep = torch.export.export(m, (x,))
    assert any("spectro" in str(n.target) for n in ep.graph.nodes)
    torch.testing.assert_close(ep.module()(x), m(x), rtol=0, atol=0)
    mm = spectro.MelSpectrogram(n_fft=128, n_mels=16)
    torch.testing.assert_close(torch.export.export(mm, (x,)).module()(x), mm(x), rtol=0, atol=0)


@pytest.mark.kernel_paths
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_input(dtype, device):
    x = signal((2, 1200), seed_of("half", dtype), device).to(dtype)
    for m in (spectro.LogMelSpectrogram(16000, 128, 32, n_mels=16, power=2.0, log=None),
              spectro.MelSpectrogram(n_fft=128, n_mels=16)):
        m = m.to(device)
        out = m(x)
        assert out.dtype == torch.float32
        # spectro.stft computes a half input in float32 on its values: the float32 path on x.float(), up to the FFT
        # rounding of another kernel variant (CUDA may read half in its single kernel): 2 x helpers' bound,
        # 2 * 4 * eps32 * log2(n_fft) relative to the largest value (the power doubles relative errors).
        ref = m(x.float())
        torch.testing.assert_close(out, ref, rtol=0, atol=2 * 4 * EPS32 * 7 * ref.abs().max().item())
    out = spectro.whisper_log_mel(x, 80)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
@pytest.mark.parametrize("kernel_dtype", ["mixed", "float16"])
def test_kernel_dtype_passthrough(kernel_dtype, device):
    x = signal((2, 1200), seed_of("kd", kernel_dtype), device)
    kw = dict(n_mels=16, power=2.0, log=None)
    m = spectro.LogMelSpectrogram(16000, 128, 32, **kw, kernel_dtype=kernel_dtype).to(device)
    ref = spectro.LogMelSpectrogram(16000, 128, 32, **kw).to(device)(x)
    out = m(x)
    assert out.dtype == torch.float32 and m.kernel_dtype == kernel_dtype
    # Half-precision storage of the spectrum ("mixed": each component within eps16 / 2 relative) and, for "float16",
    # of the input and window (each sample within eps16 / 2 relative: an error of at most eps16 / 2 * sum|w x| per
    # bin, <= eps16 / 2 * sqrt(n_fft) * ||w x|| ~ a few eps16 * max|X| on these tonal signals). The power doubles
    # relative errors and the mel sum does not amplify them: bound 16 * eps16 * max(mel).
    eps16 = torch.finfo(torch.float16).eps
    torch.testing.assert_close(out, ref, rtol=0, atol=16 * eps16 * ref.abs().max().item())
    with pytest.raises(ValueError, match="kernel_dtype"):
        spectro.MelSpectrogram(kernel_dtype="int8")


# ----------------------------------------------------------------------------------------------------------------
# The op spectro::mel_analysis (every frontend's one call; on CUDA one fused kernel, elsewhere its composite)
def _op(x, window, basis, n_fft=128, hop=32, n_frames=None, pad=64, pad_mode="reflect", scale=1.0, power=2.0,
        mag_eps=0.0, log="none", log_eps=1e-5, log_scale=1.0):
    if n_frames is None:
        n_frames = 1 + (x.shape[-1] + 2 * pad - n_fft) // hop
    return torch.ops.spectro.mel_analysis(x, window, basis, n_fft, hop, n_frames, pad, pad_mode, scale, power,
                                          mag_eps, log, log_eps, log_scale)


def _op_reference(x, window, basis, n_fft, hop, n_frames, pad, pad_mode, scale, power, mag_eps, log, log_eps,
                  log_scale):
    """The op's definition on torch.stft in float64 (CPU)."""
    x, window, basis = (v.detach().cpu().double() for v in (x, window, basis))
    xp = torch.nn.functional.pad(x[:, None], (pad, pad), mode=pad_mode)[:, 0] if pad else x
    spec = torch.stft(xp, n_fft, hop, window=window, center=False, return_complex=True)[..., :n_frames] * scale
    p = (spec.abs() ** 2 + mag_eps) ** (power / 2)
    mel = basis @ p[:, : basis.shape[1]]
    if log == "clamp":
        mel = log_scale * mel.clamp_min(log_eps).log()
    elif log == "add":
        mel = log_scale * (mel + log_eps).log()
    elif log == "log1p":
        mel = log_scale * mel.log1p()
    return mel


OP_CASES = [
    # (n_fft, hop, pad, pad_mode, n_mels, bins used, power, mag_eps, log, log_scale, batch, T)
    (128, 32, 64, "reflect", 20, None, 2.0, 0.0, "none", 1.0, 3, 2000),
    (400, 160, 200, "reflect", 80, None, 2.0, 0.0, "clamp", 1 / math.log(10), 2, 16000),  # Whisper's sizes
    (1024, 256, 384, "reflect", 80, None, 1.0, 1e-9, "clamp", 1.0, 2, 22050),  # HiFi-GAN's
    (256, 64, 0, "constant", 16, 100, 1.0, 0.0, "add", 20 / math.log(10), 1, 3001),  # cropped bins
    (64, 16, 32, "replicate", 7, None, 1.5, 0.0, "log1p", 2.0, 2, 999),
    (30, 7, 15, "circular", 5, None, 2.0, 0.0, "none", 1.0, 1, 300),  # general engine, odd hop
    (4096, 1024, 2048, "reflect", 128, None, 2.0, 0.0, "clamp", 1.0, 1, 20000),
]


@pytest.mark.kernel_paths
@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: f"nfft{c[0]}-{c[3]}-{c[8]}")
def test_mel_op_accuracy(case, device):
    """Random (dense, non-triangular) bases too: the kernel's band ranges must cover every nonzero weight."""
    n_fft, hop, pad, pm, n_mels, used, power, mag_eps, log, log_scale, batch, T = case
    g = generator(seed_of("op", str(case)))
    x = signal((batch, T), seed_of("opx", str(case)), device)
    window = torch.hann_window(n_fft, device=device)
    bins = used or n_fft // 2 + 1
    for kind in ("triangular", "dense"):
        if kind == "dense":
            basis = torch.rand(n_mels, bins, generator=g).to(device)
        else:
            basis = spectro.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, n_mels, 16000, norm="slaney").t()
            basis = basis[:, :bins].contiguous().to(device)
        n_frames = 1 + (T + 2 * pad - n_fft) // hop - 1  # (one frame dropped, as Whisper does)
        args = (n_fft, hop, n_frames, pad, pm, 0.5, power, mag_eps, log, 1e-5, log_scale)
        out = torch.ops.spectro.mel_analysis(x, window, basis, *args)
        assert out.shape == (batch, n_mels, n_frames) and out.dtype == torch.float32 and out.is_contiguous()
        r64 = _op_reference(x, window, basis, *args)
        xs = x.detach().cpu()
        spec32 = torch.stft(torch.nn.functional.pad(xs[:, None], (pad, pad), mode=pm)[:, 0] if pad else xs, n_fft,
                            hop, window=window.cpu(), center=False, return_complex=True)[..., :n_frames] * 0.5
        p32 = (spec32.abs() ** 2 + mag_eps) ** (power / 2)
        t32 = basis.cpu() @ p32[:, :bins]
        if log != "none":
            t32 = log_scale * {"clamp": lambda v: v.clamp_min(1e-5).log(), "add": lambda v: (v + 1e-5).log(),
                               "log1p": torch.log1p}[log](t32)
        assert_accuracy(out, t32, r64, f"{case} {kind}")


@pytest.mark.kernel_paths
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_mel_op_half_signal(dtype, device):
    """A half-precision signal is read as it is stored and computed in float32: the float32 result of its values."""
    x = signal((2, 3000), 21, device).to(dtype)
    window = torch.hann_window(256, device=device)
    basis = spectro.melscale_fbanks(129, 0.0, 8000.0, 40, 16000).t().contiguous().to(device)
    out = _op(x, window, basis, 256, 64, pad=128)
    ref = _op(x.float(), window, basis, 256, 64, pad=128)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


def test_mel_op_float64_and_empty(device):
    x = signal((2, 1000), 22, device, torch.float64)
    window = torch.hann_window(128, dtype=torch.float64, device=device)
    basis = spectro.melscale_fbanks(65, 0.0, 8000.0, 12, 16000).t().contiguous().double().to(device)
    out = _op(x, window, basis, log="clamp")
    ref = _op_reference(x, window, basis, 128, 32, out.shape[-1], 64, "reflect", 1.0, 2.0, 0.0, "clamp", 1e-5, 1.0)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-10, atol=1e-10)
    empty = _op(x[:0], window, basis, n_frames=5)
    assert empty.shape == (0, 12, 5)


def test_mel_op_opcheck(device):
    x = signal((2, 700), 23, device)
    window = torch.hann_window(64, device=device)
    basis = spectro.melscale_fbanks(33, 0.0, 8000.0, 6, 16000).t().contiguous().to(device)
    n_frames = 1 + 700 // 16
    for log in ("none", "clamp", "log1p"):
        args = (x, window, basis, 64, 16, n_frames, 32, "reflect", 1.0, 1.0, 1e-9, log, 1e-5, 2.0)
        opcheck(torch.ops.spectro.mel_analysis.default, args)
        args = (x.clone().requires_grad_(), window, basis.clone().requires_grad_()) + args[3:]
        opcheck(torch.ops.spectro.mel_analysis.default, args)


def test_mel_op_gradients_float64():
    """The op's gradients (through its composite definition): x, window and basis, first and second order."""
    g = generator(24)
    x = torch.randn(2, 120, generator=g, dtype=torch.float64, requires_grad=True)
    w = (torch.hann_window(32, dtype=torch.float64) + 0.1).requires_grad_()
    basis = torch.rand(5, 17, generator=g, dtype=torch.float64, requires_grad=True)
    f = lambda a, b, c: _op(a, b, c, 32, 8, pad=16, power=1.0, mag_eps=1e-6, log="clamp", log_eps=1e-5)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, w, basis), fast_mode=True)
    assert torch.autograd.gradgradcheck(f, (x, w, basis), fast_mode=True)
    # forward mode
    assert torch.autograd.gradcheck(f, (x, w, basis), fast_mode=True, check_forward_ad=True, check_backward_ad=False,
                                    check_batched_forward_grad=False)


@pytest.mark.kernel_paths
@pytest.mark.parametrize("case", OP_CASES[:6], ids=lambda c: f"nfft{c[0]}-{c[3]}-{c[8]}")
def test_mel_op_backward(case, device):
    """The input gradient when only x requires grad (the op's own backward: spectro::mel_analysis_backward, on CUDA
    the kernel recomputing the spectrum, then the analysis' adjoint) against the composite's gradient (taken when
    the basis requires grad too) and against torch.stft's in float64."""
    n_fft, hop, pad, pm, n_mels, used, power, mag_eps, log, log_scale, batch, T = case
    if log == "clamp":
        log = "add"  # (clamp's derivative jumps at eps: compared on the smooth stage)
    x = signal((batch, T), seed_of("opb", str(case)), device)
    window = torch.hann_window(n_fft, device=device)
    bins = used or n_fft // 2 + 1
    basis = spectro.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, n_mels, 16000, norm="slaney").t()
    basis = basis[:, :bins].contiguous().to(device)
    n_frames = 1 + (T + 2 * pad - n_fft) // hop
    args = (n_fft, hop, n_frames, pad, pm, 0.5, power, mag_eps, log, 1e-3, log_scale)
    g = torch.randn(batch, n_mels, n_frames, generator=generator(seed_of("opbg", str(case)))).to(device)
    xa = x.clone().requires_grad_()
    out = torch.ops.spectro.mel_analysis(xa, window, basis, *args)
    assert out.grad_fn is not None and "MelFunction" in out.grad_fn.name()
    (ga,) = torch.autograd.grad(out, xa, g)
    xb = x.clone().requires_grad_()
    out_b = torch.ops.spectro.mel_analysis(xb, window, basis.clone().requires_grad_(), *args)
    (gb,) = torch.autograd.grad(out_b, xb, g)
    x64 = x.detach().cpu().double().requires_grad_()
    r = _op_reference(x64, window, basis, *args)
    xs = torch.nn.functional.pad(x64[:, None], (pad, pad), mode=pm)[:, 0] if pad else x64
    spec = torch.stft(xs, n_fft, hop, window=window.cpu().double(), center=False, return_complex=True)[..., :n_frames]
    p64 = (torch.view_as_real(spec * 0.5).square().sum(-1) + mag_eps) ** (power / 2)
    mel = basis.cpu().double() @ p64[:, :bins]
    r = mel if log == "none" else log_scale * ((mel + 1e-3).log() if log == "add" else mel.log1p())
    (g64,) = torch.autograd.grad(r, x64, g.cpu().double())
    scale = g64.abs().max().item()
    # Both float32 gradients: the FFT error of the forward and the backward (~ eps32 * log2(n_fft) each, relative to
    # the largest value) and the power's derivative; 32 eps32 log2(n_fft) of the largest value.
    tol = 32 * EPS32 * math.log2(n_fft) * scale
    torch.testing.assert_close(ga.cpu().double(), g64, rtol=0, atol=tol)
    torch.testing.assert_close(gb.cpu().double(), g64, rtol=0, atol=tol)
    assert ga.dtype == x.dtype


def test_mel_op_backward_bad_grad(device):
    """spectro::mel_analysis_backward names a grad of the wrong shape or device (every backend checks it once)."""
    x = signal((2, 1500), 29, device)
    window = torch.hann_window(128, device=device)
    basis = spectro.melscale_fbanks(65, 0.0, 8000.0, 12, 16000).t().contiguous().to(device)
    n_frames = 1 + (1500 + 2 * 64 - 128) // 32
    args = (x, window, basis, 128, 32, n_frames, 64, "reflect", 1.0, 2.0, 0.0, "none", 1e-5, 1.0)
    ok = torch.ops.spectro.mel_analysis_backward(torch.ones(2, 12, n_frames, device=device), *args)
    assert ok.shape == (2, 65, n_frames) and ok.is_complex()
    for shape in [(2, 12, n_frames + 1), (2, 11, n_frames), (12, n_frames)]:
        with pytest.raises(RuntimeError, match=r"mel_analysis_backward: expected grad of shape \[2, 12, "):
            torch.ops.spectro.mel_analysis_backward(torch.ones(shape, device=device), *args)
    if device == "cuda":
        with pytest.raises(RuntimeError, match="mel_analysis_backward: expected grad on device"):
            torch.ops.spectro.mel_analysis_backward(torch.ones(2, 12, n_frames), *args)


@pytest.mark.kernel_paths
@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: f"nfft{c[0]}-{c[3]}-{c[8]}")
def test_mel_backward_input_ops(case, device):
    """spectro::mel_analysis_backward_input and mel_l1_backward_input (the autograd nodes' backwards: dL/dx in one
    call) against their definition, spectro::synthesis (mode irfft_half, the analysis' window and scale) of
    mel_analysis_backward's dL/dX (for the L1 loss: of dL/d mel = sign * grad_loss * weight, the signs as int8). On
    CUDA, where the one kernel (the synthesis engine with the mel prologue: power-of-two n_fft) runs, the same
    arithmetic on the same values but for the order of the overlap-add where two of its blocks' frames meet
    ((earlier frames) + (later frames)): at most one rounding per frame covering a sample apart, so within
    2 cover eps max|want|; elsewhere the op is that composition. opcheck on both ops."""
    try:  # torch >= 2.4
        from torch.library import opcheck
    except ImportError:  # torch 2.3
        from torch.testing._internal.optests import opcheck
    n_fft, hop, pad, pm, n_mels, used, power, mag_eps, log, log_scale, batch, T = case
    x = signal((batch, T), seed_of("bi", str(case)), device)
    window = torch.hann_window(n_fft, device=device) * 0.9 + 0.05
    bins = used or n_fft // 2 + 1
    basis = spectro.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, n_mels, 16000, norm="slaney").t()
    basis = basis[:, :bins].contiguous().to(device)
    n_frames = 1 + (T + 2 * pad - n_fft) // hop
    geo = (window, basis, n_fft, hop, n_frames, pad, pm, 0.5, power, mag_eps, log, 1e-3, log_scale)
    g = torch.randn(batch, n_mels, n_frames, generator=generator(seed_of("big", str(case)))).to(device)
    adjoint = (window, n_fft, hop, T, pad, pm, False, "irfft_half", 0.5)
    ops = torch.ops.spectro
    got = ops.mel_analysis_backward_input(g, x, *geo)
    want = ops.synthesis(ops.mel_analysis_backward(g, x, *geo), *adjoint)
    assert got.shape == (batch, T) and got.dtype == x.dtype
    cover = -(-n_fft // hop)

    def reassociated(a):  # the bound above
        return 2 * cover * torch.finfo(a.dtype).eps * float(a.abs().max())

    torch.testing.assert_close(got, want, rtol=0, atol=reassociated(want))
    target = ops.mel_analysis(x, *geo) + 0.01 * torch.randn(
        (batch, n_mels, n_frames), generator=generator(seed_of("bit", str(case)))).to(device)
    gl = torch.tensor(0.7, device=device)
    sign = torch.sign(ops.mel_analysis(x, *geo) - target).to(torch.int8)
    got = ops.mel_l1_backward_input(gl, sign, x, *geo, 0.25)
    want = ops.synthesis(ops.mel_analysis_backward(sign.float() * (gl * 0.25), x, *geo), *adjoint)
    torch.testing.assert_close(got, want, rtol=0, atol=reassociated(want))
    # the L1 backward against the target itself (the signs of the same mels): the same gradient
    want = ops.synthesis(ops.mel_l1_backward(gl, target, x, *geo, 0.25), *adjoint)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6 * float(want.abs().max()))
    if n_fft <= 1024:
        opcheck(ops.mel_analysis_backward_input.default, (g, x) + geo)
        opcheck(ops.mel_l1_backward_input.default, (gl, sign, x) + geo + (0.25,))
    with pytest.raises(RuntimeError, match="expected sign of shape"):
        ops.mel_l1_backward_input(gl, sign[:, :-1], x, *geo, 0.25)
    with pytest.raises(RuntimeError, match="expected sign of .*dtype torch.int8"):
        ops.mel_l1_backward_input(gl, sign.float(), x, *geo, 0.25)
    with pytest.raises(RuntimeError, match=r"mel_analysis_backward: expected grad of shape"):
        ops.mel_analysis_backward_input(g[:, :-1], x, *geo)


def test_mel_op_backward_half_and_double_backward():
    x = signal((2, 1500), 27).to(torch.bfloat16).requires_grad_()
    window = torch.hann_window(128)
    basis = spectro.melscale_fbanks(65, 0.0, 8000.0, 12, 16000).t().contiguous()
    out = _op(x, window, basis, log="add", log_eps=1e-3)
    (gx,) = torch.autograd.grad(out.sum(), x)
    assert gx.dtype == torch.bfloat16
    xf = x.detach().float().requires_grad_()
    (gf,) = torch.autograd.grad(_op(xf, window, basis, log="add", log_eps=1e-3).sum(), xf)
    torch.testing.assert_close(gx, gf.to(torch.bfloat16), rtol=0, atol=0)
    # create_graph: the double backward goes through the composite
    g = generator(28)
    x64 = torch.randn(1, 200, generator=g, dtype=torch.float64, requires_grad=True)
    w64, b64 = torch.hann_window(32, dtype=torch.float64), torch.rand(4, 17, generator=g, dtype=torch.float64)
    f = lambda v: _op(v, w64, b64, 32, 8, pad=16, power=1.0, mag_eps=1e-6, log="add", log_eps=1e-3)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x64,))
    assert torch.autograd.gradgradcheck(f, (x64,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda v: _op(v, w64, b64, 32, 8, pad=16, power=1.5), (x64,), fast_mode=True)


def test_mel_op_errors(device):
    x = signal((2, 700), 25, device)
    w = torch.hann_window(64, device=device)
    basis = torch.rand(6, 33, device=device)
    with pytest.raises(RuntimeError, match="basis of shape"):
        _op(x, w, torch.rand(6, 34, device=device), 64, 16, pad=32)
    with pytest.raises(RuntimeError, match="basis of shape"):
        _op(x, w, torch.rand(33, device=device), 64, 16, pad=32)
    with pytest.raises(RuntimeError, match="basis of dtype float32"):
        _op(x, w, basis.double(), 64, 16, pad=32)
    with pytest.raises(ValueError, match="power"):
        _op(x, w, basis, 64, 16, pad=32, power=0.0)
    with pytest.raises(ValueError, match="mag_eps"):
        _op(x, w, basis, 64, 16, pad=32, mag_eps=-1.0)
    with pytest.raises(ValueError, match="log must be"):
        _op(x, w, basis, 64, 16, pad=32, log="ln")
    with pytest.raises(RuntimeError, match="window"):
        _op(x, w[:-1], basis, 64, 16, pad=32)
    with pytest.raises(RuntimeError, match="x of dtype"):
        _op(x.to(torch.complex64), w, basis, 64, 16, pad=32)
    with pytest.raises(RuntimeError, match="x of shape"):
        _op(x[0], w, basis, 64, 16, pad=32)


@pytest.mark.cuda
def test_mel_cuda_graph(cuda_device):
    """The fused frontend (its band-range pass and scratch included) is captured and replayed: no host sync."""
    m = spectro.LogMelSpectrogram(16000, 400, 160, n_mels=80, mag_eps=1e-9).to(cuda_device)
    static_x = signal((4, 16000), 26, cuda_device)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            m(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = m(static_x)
    new_x = signal((4, 16000), 27, cuda_device)
    static_x.copy_(new_x)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(static_out, m(new_x), rtol=0, atol=0)


@pytest.mark.cuda
def test_mel_cuda_graph_training_step(cuda_device):
    """A training step through the frontend (forward, the fused backward, an optimizer step) captured in one CUDA
    graph and replayed: the same parameters as the same steps run eagerly."""
    m = spectro.LogMelSpectrogram(22050, 1024, 256, n_mels=80, f_max=8000.0, power=1.0, mag_eps=1e-9, center=False,
                                  pad=384).to(cuda_device)
    target = m(signal((4, 8192), 29, cuda_device))
    noise = signal((4, 1, 8192), 30, cuda_device)
    assert_graph_step_matches_eager(cuda_device, lambda pred: (m(pred[:, 0]) - target).abs().mean(), noise, lr=0.1)


@pytest.mark.cuda
def test_mel_band_cache(cuda_device):
    """The band ranges kept per basis from its second call on (csrc/ops/mel_band_cache.h): found again through views
    made afresh on each call, recomputed after an in-place change that widens a band (stale ranges would skip its
    new bins), never kept for an inference tensor, a per-call conversion or under capture, usable on another stream;
    every result bitwise equal to the call that computes the ranges itself (a basis' first call), forward and
    backward, and close to the composite definition."""
    x = signal((3, 8000), 31, cuda_device)
    basis = spectro.mel_filters(16000, 512, n_mels=40).to(cuda_device)
    call = lambda b, inp=x: spectro.log_mel_spectrogram(inp, 16000, 512, 128, n_mels=40, mel_basis=b)  # noqa: E731
    kept = spectro._C.mel_band_cache_entries

    spectro._C.mel_band_cache_clear()
    first = call(basis)  # (first sight: computed in the call)
    assert kept() == 0
    second = call(basis)
    assert kept() == 1, "a basis' second call should keep its ranges (views made afresh on each call included)"
    third = call(basis)
    assert kept() == 1
    torch.testing.assert_close(second, first, rtol=0, atol=0)
    torch.testing.assert_close(third, first, rtol=0, atol=0)
    # Widen band 5 in place: ranges kept from before would skip its new bins.
    with torch.no_grad():
        basis[5, 100:200] = 0.01
    widened = [call(basis) for _ in range(3)]
    assert kept() == 1, "the basis' earlier version should be dropped when its new version is first seen"
    for w in widened[1:]:
        torch.testing.assert_close(w, widened[0], rtol=0, atol=0)
    torch.testing.assert_close(widened[0], _composite_log_mel(x, basis, 512, 128), rtol=1e-4, atol=1e-5)
    assert (widened[0] - first).abs().amax() > 1e-3
    widened = widened[0]
    # The backward (the bins' covering bands are kept too): computed in the call, then kept.
    xg = x.clone().requires_grad_(True)
    out = call(basis, xg)
    spectro._C.mel_band_cache_clear()
    g_first = torch.autograd.grad(out.square().sum(), xg)[0]
    for _ in range(2):
        g_kept = torch.autograd.grad(call(basis, xg).square().sum(), xg)[0]
        torch.testing.assert_close(g_kept, g_first, rtol=0, atol=0)
    assert kept() == 1
    # Never kept: an inference tensor, a per-call conversion (float64 basis, float32 signal).
    spectro._C.mel_band_cache_clear()
    with torch.inference_mode():
        frozen = basis.clone()
    for _ in range(2):
        torch.testing.assert_close(call(frozen), widened, rtol=0, atol=0)
        torch.testing.assert_close(call(basis.double()), widened, rtol=0, atol=0)
    assert kept() == 0
    # Kept on a side stream, then used on the current one; nothing kept during a capture.
    other = basis.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            call(other)
    assert kept() == 1
    torch.cuda.current_stream().wait_stream(side)
    torch.testing.assert_close(call(other), widened, rtol=0, atol=0)
    static_x = x.clone()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        call(basis, static_x)  # (warm-up; the basis' first call)
    torch.cuda.current_stream().wait_stream(side)
    before = kept()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = call(basis, static_x)
    assert kept() == before, "nothing is kept during a capture"
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(captured, widened, rtol=0, atol=0)


def _composite_log_mel(x, basis, n_fft, hop):
    """ln(max(basis @ |stft|, 1e-5)) in ATen (float64), the definition of log_mel_spectrogram's defaults."""
    w = torch.hann_window(n_fft, dtype=torch.float64, device=x.device)
    spec = torch.stft(x.double(), n_fft, hop, window=w, center=True, pad_mode="reflect", return_complex=True).abs()
    return (basis.double() @ spec).clamp_min(1e-5).log().float()


def test_melspectrogram_fb_layout():
    """MelSpectrogram's fb (torchaudio's (n_freqs, n_mels) buffer) is stored as the transpose of the kernel's
    (n_mels, n_freqs) layout, so a call passes it without a copy; a loaded state dict (a contiguous fb, as
    torchaudio saves it), .to() and deepcopy keep that, and the values and the output are those of the plain fb."""
    import copy  # noqa: PLC0415
    m = spectro.MelSpectrogram(16000, n_fft=512, n_mels=40)
    fb = m.mel_scale.fb
    assert fb.shape == (257, 40) and fb.t().is_contiguous()
    x = signal((2, 4000), 41)
    out = m(x)
    plain = spectro.mel_spectrogram(x, 16000, n_fft=512, n_mels=40, fb=fb.contiguous())
    torch.testing.assert_close(out, plain, rtol=0, atol=0)
    loaded = spectro.MelSpectrogram(16000, n_fft=512, n_mels=40)
    state = {k: v.contiguous() for k, v in m.state_dict().items()}
    state["mel_scale.fb"] = state["mel_scale.fb"] * 2
    loaded.load_state_dict(state)
    assert loaded.mel_scale.fb.t().is_contiguous()
    torch.testing.assert_close(loaded.mel_scale.fb, 2 * fb, rtol=0, atol=0)
    assert m.to(torch.float64).mel_scale.fb.t().is_contiguous()
    assert copy.deepcopy(m).mel_scale.fb.t().is_contiguous()
