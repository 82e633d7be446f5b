"""spectro.losses: parity with auraloss 0.4 (installed), with transcriptions of DAC's / BigVGAN's multi-scale mel
losses and of HiFi-GAN's / Vocos' single-scale mel losses (their packages are heavy: the transcriptions below follow
their source line by line, on torch.stft), plus float64 accuracy, gradcheck, torch.compile, determinism, autocast
and errors.

Requirements: ``pip install auraloss==0.4.0 librosa scipy`` (auraloss may be installed with ``--no-deps``: it
imports only torch, numpy and, for perceptual weighting, scipy). Tests needing a missing package are skipped.
"""
from __future__ import annotations

import copy
import functools
import importlib
import itertools
import math

import pytest
import torch

import spectro
from helpers import assert_graph_step_matches_eager
from spectro import losses as SL



def _optional(name):
    try:
        return importlib.import_module(name)
    except Exception:  # not installed (or broken): the tests that need it are skipped
        return None


auraloss = _optional("auraloss")
librosa = _optional("librosa")
scipy_signal = _optional("scipy.signal")
needs_auraloss = pytest.mark.skipif(auraloss is None, reason="needs auraloss (pip install auraloss==0.4.0)")
needs_librosa = pytest.mark.skipif(librosa is None or scipy_signal is None, reason="needs librosa and scipy")
needs_scipy = pytest.mark.skipif(scipy_signal is None, reason="needs scipy")

# Small resolution lists keep the CPU run short; the default lists appear in a few cases.
SMALL = dict(fft_sizes=[256, 512, 128], hop_sizes=[64, 100, 30], win_lengths=[200, 512, 100])
ONE = dict(fft_sizes=[256], hop_sizes=[64], win_lengths=[256])
DAC_SMALL = dict(n_mels=[5, 20, 80], window_lengths=[32, 128, 512])


def _signals(shape, device, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    y = 0.7 * x + 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)  # correlated, as in training
    return x.to(device, dtype), y.to(device, dtype)


def _loss_and_grad(fn, x, y):
    x = x.detach().clone().requires_grad_(True)
    out = fn(x, y)
    loss = out[0] if isinstance(out, tuple) else out
    (g,) = torch.autograd.grad(loss.sum(), x)
    return out, g


def _close(a, b, rtol, what="", device="cpu", truth=None):
    """max |a - b| <= rtol * max |b|. On CUDA rtol x 5: spectro's single-kernel FFT and cuFFT (the references'
    torch.stft) round differently (the CPU references share spectro's CPU FFT library). With `truth` (the reference
    in float64) on CUDA: a's error against it within 2x the reference's own float32 error b - truth, plus that rtol.
    (Needed where the terms are ill-conditioned in the FFT's rounding: a per-bin log-magnitude at the smallest bins,
    or angle() at DC and Nyquist, whose exact imaginary part 0 cuFFT may round to either sign: a +-pi jump.)"""
    if device == "cuda":
        rtol *= 5
    a, b = torch.as_tensor(a).double().cpu(), torch.as_tensor(b).double().cpu()
    if device == "cuda" and truth is not None:
        # (norm-wise: a per-bin maximum is one bin's luck)
        t = torch.as_tensor(truth).double().cpu()
        err, lib_err, scale = (a - t).norm().item(), (b - t).norm().item(), t.norm().item()
        assert err <= 2 * lib_err + rtol * scale + 1e-30, (
            f"{what}: error {err:.3e} vs the reference's {lib_err:.3e} (float64 norm {scale:.3e}, rtol {rtol:g})")
        return
    err = (a - b).abs().max().item()
    scale = b.abs().max().item()
    assert err <= rtol * scale + 1e-30, f"{what}: max error {err:.3e} vs scale {scale:.3e} (rtol {rtol:g})"


def _phase_term_bound(x, y, n_fft, hop, win_length):
    """A bound on |phs32 - phs64| for auraloss's phase term mean((angle(X) - angle(Y))^2) computed from float32 spectra
    of the float32 signals x, y (Hann window, centred, reflect padding). Per frame a float32 FFT (windowing included)
    is within delta = 4 eps (log2 n_fft + 1) ||X_frame|| of the exact spectrum (norm-wise: the suite's FFT tolerance,
    tests/helpers.py, plus the windowing's rounding), so each bin is; its angle then moves by at most
    (pi / 2) delta / |X| where |X| > delta and the bin is not within delta of the branch cut (the negative real axis),
    else by up to 2 pi; the mean of the squared differences moves by at most mean(2 |tx - ty| (ax + ay) + (ax + ay)^2).
    """
    w = torch.hann_window(win_length).double()  # (auraloss's float32 window, widened)
    X, Y = (torch.stft(t.detach().double().cpu().reshape(-1, t.shape[-1]), n_fft, hop, win_length, w,
                       return_complex=True) for t in (x, y))
    u = 2.0 ** -24

    def allowance(S):
        mag2 = S.real.square() + S.imag.square()
        frame2 = mag2[:, 0] + mag2[:, -1] + 2 * mag2[:, 1:-1].sum(1)  # the full spectrum's norm^2 (even n_fft)
        delta = (4 * u * (math.log2(n_fft) + 1) * frame2.sqrt())[:, None, :]
        mag = mag2.sqrt()
        # (DC and Nyquist are real in any real-input FFT, checked below for spectro: their angle, 0 or pi, changes
        # only where the real part can change sign)
        cut = (S.real < 0) & (S.imag.abs() <= delta)
        cut[:, 0] = cut[:, -1] = False
        wild = (mag <= delta) | cut
        return torch.where(wild, torch.full_like(mag, 2 * math.pi), (math.pi / 2 * delta / mag).clamp(max=2 * math.pi))

    ax, ay = allowance(X), allowance(Y)
    # Frames whose samples are the same in x and y are the same bits in any implementation: no difference there.
    same = (X == Y).all(1, keepdim=True)
    ax, ay = ax.masked_fill(same, 0.0), ay.masked_fill(same, 0.0)
    d = (X.angle() - Y.angle()).abs()
    return float((2 * d * (ax + ay) + (ax + ay).square()).mean())


def _float64_cpu(fn, x, y):
    """The reference module's output on the CPU in float64 (a float64 copy of the module: its buffers, e.g. a mel
    filterbank; auraloss's window, a plain attribute, promotes in torch.stft)."""
    with torch.no_grad():
        return copy.deepcopy(fn).cpu().double()(x.detach().double().cpu(), y.detach().double().cpu())


def _close_grad(g, ref, device, rtol=1e-4):
    """Gradients: elementwise against the largest on the CPU; on CUDA norm-wise (1e-3): the log-magnitude gradient
    1/|X| of the smallest bins, the largest entries, amplifies the FFTs' different rounding there."""
    if device != "cuda":
        return _close(g, ref, rtol, "grad")
    g, ref = g.double().cpu(), ref.double().cpu()
    assert (g - ref).norm() <= 1e-3 * ref.norm(), f"grad: {(g - ref).norm():.3e} vs {ref.norm():.3e}"


# --------------------------------------------------------------------------------------------------------------
# auraloss 0.4
AURA_CASES = [
    pytest.param((2, 1, 3000), SMALL, {}, id="small-default-terms"),
    pytest.param((3, 2, 2500), SMALL, dict(w_lin_mag=1.0, w_phs=0.5), id="lin-phs"),
    pytest.param((1, 1, 4096), {}, {}, id="default-resolutions"),
    pytest.param((2, 2, 2000), SMALL, dict(reduction="sum", w_lin_mag=0.3), id="sum"),
    pytest.param((2, 1, 2000), SMALL, dict(mag_distance="L2", w_lin_mag=2.0, w_sc=0.5), id="L2"),
    pytest.param((2, 1, 2000), SMALL, dict(scale="mel", n_bins=40, sample_rate=16000), id="mel"),
    pytest.param((1, 1, 2000), SMALL, dict(scale_invariance=True, w_lin_mag=1.0), id="scale-invariance"),
    pytest.param((2, 1, 2000), SMALL, dict(w_sc=0.0, w_log_mag=1.0, w_lin_mag=1.0), id="no-sc"),
    pytest.param((2, 1, 2000), SMALL, dict(window="hamming_window", eps=1e-6), id="hamming-eps"),
]


@needs_auraloss
@pytest.mark.parametrize("shape,res,kw", AURA_CASES)
def test_mrstft_matches_auraloss(device, shape, res, kw):
    x, y = _signals(shape, device)
    ref = auraloss.freq.MultiResolutionSTFTLoss(**res, **kw)
    mod = SL.MultiResolutionSTFTLoss(**res, **kw).to(device)
    (la, ga), (lb, gb) = _loss_and_grad(ref, x, y), _loss_and_grad(mod, x, y)
    assert lb.shape == la.shape and lb.dtype == la.dtype
    _close(lb, la, 2e-6, "loss", device, truth=_float64_cpu(ref, x, y) if device == "cuda" else None)
    _close_grad(gb, ga, device, 1e-4)
    # the function form computes the same thing
    lf = SL.multi_resolution_stft_loss(x, y, **res, **kw)
    assert torch.equal(lf, lb.detach())


@needs_auraloss
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kw", [{}, dict(w_lin_mag=1.0, w_phs=1.0)], ids=["default", "all-terms"])
def test_stft_loss_full_output_matches_auraloss(device, reduction, kw):
    x, y = _signals((2, 2, 1500), device)
    if kw.get("w_phs"):
        # The first frame (centred on sample 0, reflect padding) is symmetric: its spectrum is real up to rounding, so
        # its angles are 0 or +-pi by the sign of rounding noise in any float FFT (float64's too). With the samples it
        # covers equal in x and y, it is the same in both and drops out of the phase term.
        y = y.clone()
        y[..., : 256 // 2 + 1] = x[..., : 256 // 2 + 1]
    args = dict(fft_size=256, hop_size=64, win_length=200, output="full", reduction=reduction, **kw)
    ref, mod = auraloss.freq.STFTLoss(**args), SL.STFTLoss(**args).to(device)
    (a, ga), (b, gb) = _loss_and_grad(ref, x, y), _loss_and_grad(mod, x, y)
    truth = list(_float64_cpu(ref, x, y)) if device == "cuda" or kw.get("w_phs") else [None] * 5
    assert len(a) == len(b) == len(truth) == 5
    if kw.get("w_phs"):
        # The phase term against float64 within its error-analysis bound, for both libraries (angle() at the
        # smallest bins makes any comparison of two float32 FFTs a comparison of their rounding there); the total
        # without it as the other terms.
        bound = _phase_term_bound(x, y, 256, 64, 200)
        X = spectro.stft(x.reshape(-1, 1500), 256, 64, 200, torch.hann_window(200, device=device), return_complex=True)
        assert torch.equal(X[:, [0, 128]].imag, torch.zeros_like(X[:, [0, 128]].imag))
        assert not torch.signbit(X[:, [0, 128]].imag).any()  # (+0: angle() of a negative real part is +pi)
        for name, r in (("spectro", b), ("auraloss", a)):
            err = abs(float(r[4]) - float(truth[4]))
            assert err <= bound, f"phase term ({name}): error {err:.3e} above the bound {bound:.3e}"
        a_, b_, truth = ([t[0] - t[4]] + list(t[1:4]) for t in (a, b, truth))
    else:
        a_, b_ = a, b
    for i, (u, v, t) in enumerate(zip(a_, b_, truth)):
        if isinstance(u, float):  # a term weighted 0: the float 0.0, as auraloss
            assert isinstance(v, float) and v == u == 0.0, i
        else:
            assert u.shape == v.shape, i
            _close(v, u, 2e-6, f"term {i}", device, truth=t)
    _close_grad(gb, ga, device, 1e-4)
    assert torch.equal(SL.stft_loss(x, y, **args)[0], b[0].detach())


@needs_auraloss
def test_mrstft_full_output_matches_auraloss(device):
    x, y = _signals((2, 1, 2000), device)
    args = dict(SMALL, w_lin_mag=0.5, output="full")
    a, b = auraloss.freq.MultiResolutionSTFTLoss(**args)(x, y), SL.MultiResolutionSTFTLoss(**args).to(device)(x, y)
    assert len(a) == len(b) == 5
    _close(b[0], a[0], 2e-6, "loss", device)
    for k in range(1, 5):
        assert len(a[k]) == len(b[k]) == 3
        for u, v in zip(a[k], b[k]):
            if isinstance(u, float):
                assert isinstance(v, float) and u == v == 0.0
            else:
                _close(v, u, 2e-6, f"term {k}", device)


@needs_auraloss
def test_mrstft_reduction_none_one_resolution_and_mismatch(device):
    x, y = _signals((2, 1, 1000), device)
    a = auraloss.freq.MultiResolutionSTFTLoss(**ONE, reduction="none")(x, y)
    b = SL.MultiResolutionSTFTLoss(**ONE, reduction="none").to(device)(x, y)
    assert a.shape == b.shape and a.dim() == 3
    _close(b, a, 2e-6, "per-bin loss", device)
    # several resolutions: the per-bin terms cannot be added (auraloss: a broadcasting RuntimeError)
    with pytest.raises(ValueError, match="reduction='none'"):
        SL.MultiResolutionSTFTLoss(**SMALL, reduction="none")(x, y)


@needs_auraloss
@needs_scipy
def test_perceptual_weighting_matches_auraloss(device):
    x, y = _signals((2, 2, 2000), device)
    args = dict(SMALL, perceptual_weighting=True, sample_rate=44100)
    ref, mod = auraloss.freq.MultiResolutionSTFTLoss(**args), SL.MultiResolutionSTFTLoss(**args).to(device)
    assert torch.equal(mod.stft_losses[0].aw_taps.cpu(), ref.stft_losses[0].prefilter.fir.weight.data.view(-1))
    (la, ga), (lb, gb) = _loss_and_grad(ref, x, y), _loss_and_grad(mod, x, y)
    _close(lb, la, 5e-6, "loss", device)
    # The A-weighting leaves bins near DC with magnitudes near sqrt(eps): 1/|X| amplifies float32 rounding in the
    # log-magnitude gradient (float32 vs float64 differ by ~1% there for either library), so the gradients are
    # checked against a float64 reference instead: spectro's error at most 2x auraloss's.
    gr = _loss_and_grad(SL.MultiResolutionSTFTLoss(**args).to(device).double(), x.double(), y.double())[1]
    assert (gb.double() - gr).norm() <= 2 * (ga.double() - gr).norm() + 1e-6 * gr.norm()


@needs_auraloss
def test_state_dict_loads_from_auraloss():
    args = dict(SMALL, scale="mel", n_bins=40, sample_rate=16000)
    ref, mod = auraloss.freq.MultiResolutionSTFTLoss(**args), SL.MultiResolutionSTFTLoss(**args)
    assert list(ref.state_dict()) == list(mod.state_dict())
    mod.load_state_dict(ref.state_dict())
    for a, b in zip(ref.state_dict().values(), mod.state_dict().values()):
        assert torch.equal(a, b)  # the filterbank: librosa's, bit for bit
    assert list(auraloss.freq.MultiResolutionSTFTLoss().state_dict()) == list(SL.MultiResolutionSTFTLoss().state_dict())


@needs_librosa
@pytest.mark.parametrize("args", [
    dict(sr=44100, n_fft=32, n_mels=5), dict(sr=44100, n_fft=2048, n_mels=320), dict(sr=22050, n_fft=1024, n_mels=80,
    fmax=8000.0), dict(sr=16000, n_fft=512, n_mels=64, fmin=50.0, fmax=7000.0), dict(sr=16000, n_fft=512, n_mels=20,
    fmin=1200.5), dict(sr=16000, n_fft=400, n_mels=128, htk=True), dict(sr=24000, n_fft=1024, n_mels=100,
    htk=True, norm=None)], ids=lambda a: "-".join(f"{k}{v}" for k, v in a.items()))
def test_mel_filterbank_equals_librosa(args):
    a = args.copy()
    ref = librosa.filters.mel(sr=a.pop("sr"), n_fft=a.pop("n_fft"), n_mels=a.pop("n_mels"), **a)
    fb = SL._mel_filters(args["sr"], args["n_fft"], args["n_mels"], args.get("fmin", 0.0), args.get("fmax"),
                         args.get("htk", False), args.get("norm", "slaney"))
    assert fb.dtype == torch.float32
    assert torch.equal(fb, torch.from_numpy(ref))


# --------------------------------------------------------------------------------------------------------------
# Transcriptions of the mel losses (their packages are heavy; each follows its source on torch.stft).
@functools.lru_cache(None)
def _librosa_mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney"):
    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                                                norm=norm))


def dac_mel_loss(x, y, sample_rate, n_mels, window_lengths, clamp_eps=1e-5, mag_weight=0.0, log_weight=1.0, pow=1.0,
                 mel_fmin=None, mel_fmax=None):
    """dac.nn.loss.MelSpectrogramLoss.forward on AudioSignal(x), AudioSignal(y) (descript-audio-codec 1.0 with
    descript-audiotools 0.7.2): AudioSignal.mel_spectrogram -> AudioSignal.stft(window_length, hop=w // 4,
    window_type 'hann' (scipy, periodic, float32), match_stride False: pad 0, then torch.stft(center=True) with its
    reflect padding) -> |stft| -> (mag^T @ librosa_mel^T)^T; log10(clamp(mel, eps)^pow) L1 + mag L1, summed."""
    mel_fmin = mel_fmin or [0.0] * len(n_mels)
    mel_fmax = mel_fmax or [None] * len(n_mels)
    B, C, T = x.shape

    def mel_spectrogram(sig, n, fmin, fmax, w):
        window = torch.from_numpy(scipy_signal.get_window("hann", w)).to(sig.device).float()
        sig = torch.nn.functional.pad(sig, (0, 0), "reflect")  # match_stride=False: (pad, pad + right_pad) = (0, 0)
        st = torch.stft(sig.reshape(-1, sig.shape[-1]), n_fft=w, hop_length=w // 4, window=window,
                        return_complex=True, center=True)
        _, nf, nt = st.shape
        mag = torch.abs(st.reshape(B, C, nf, nt))
        basis = _librosa_mel(sample_rate, 2 * (nf - 1), n, fmin, fmax).to(sig.device)
        return (mag.transpose(2, -1) @ basis.T).transpose(-1, 2)

    loss = 0.0
    for n, fmin, fmax, w in zip(n_mels, mel_fmin, mel_fmax, window_lengths):
        xm, ym = mel_spectrogram(x, n, fmin, fmax, w), mel_spectrogram(y, n, fmin, fmax, w)
        loss += log_weight * torch.nn.functional.l1_loss(xm.clamp(clamp_eps).pow(pow).log10(),
                                                         ym.clamp(clamp_eps).pow(pow).log10())
        loss += mag_weight * torch.nn.functional.l1_loss(xm, ym)
    return loss


def bigvgan_mel_loss(x, y, sampling_rate, n_mels, window_lengths, clamp_eps=1e-5, mag_weight=0.0, log_weight=1.0,
                     pow=1.0, weight=1.0):
    """BigVGAN (v2.4) loss.MultiScaleMelSpectrogramLoss.forward: DAC's computation on tensors, log10 as
    ln(.) / ln(10), the sum times `weight`."""
    B, C, T = x.shape

    def mel_spectrogram(wav, n, w):
        window = torch.from_numpy(scipy_signal.get_window("hann", w)).to(wav.device).float()
        st = torch.stft(wav.reshape(-1, T), n_fft=w, hop_length=w // 4, window=window, return_complex=True,
                        center=True)
        _, nf, nt = st.shape
        mag = torch.abs(st.reshape(B, C, nf, nt))
        basis = _librosa_mel(sampling_rate, 2 * (nf - 1), n, 0, None).to(wav.device)
        return (mag.transpose(2, -1) @ basis.T).transpose(-1, 2)

    loss = 0.0
    for n, w in zip(n_mels, window_lengths):
        xm, ym = mel_spectrogram(x, n, w), mel_spectrogram(y, n, w)
        xl = torch.log(xm.clamp(min=clamp_eps).pow(pow)) / torch.log(torch.tensor(10.0))
        yl = torch.log(ym.clamp(min=clamp_eps).pow(pow)) / torch.log(torch.tensor(10.0))
        loss += log_weight * torch.nn.functional.l1_loss(xl, yl)
        loss += mag_weight * torch.nn.functional.l1_loss(xm, ym)
    return loss * weight


def hifigan_mel_loss(x, y, n_fft=1024, num_mels=80, sampling_rate=22050, hop_size=256, win_size=1024, fmin=0,
                     fmax=8000):
    """HiFi-GAN (jik876/hifi-gan meldataset.mel_spectrogram; train.py: F.l1_loss(y_mel, y_g_hat_mel) * 45) on (B, T)
    signals: reflect pad (n_fft - hop) / 2, torch.stft(center=False), sqrt(re^2 + im^2 + 1e-9), librosa mel,
    ln(clamp(., 1e-5))."""
    def mel(sig):
        basis = _librosa_mel(sampling_rate, n_fft, num_mels, fmin, fmax).to(sig.device)
        window = torch.hann_window(win_size).to(sig.device)
        p = int((n_fft - hop_size) / 2)
        sig = torch.nn.functional.pad(sig.unsqueeze(1), (p, p), mode="reflect").squeeze(1)
        spec = torch.stft(sig, n_fft, hop_length=hop_size, win_length=win_size, window=window, center=False,
                          pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
        spec = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
        return torch.log(torch.clamp(torch.matmul(basis, spec), min=1e-5) * 1)

    return torch.nn.functional.l1_loss(mel(y), mel(x)) * 45


def _torchaudio_htk_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate):
    """torchaudio.functional.melscale_fbanks(norm=None, mel_scale='htk') (float32 construction), (n_freqs, n_mels)."""
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_min = 2595.0 * math.log10(1.0 + f_min / 700.0)
    m_max = 2595.0 * math.log10(1.0 + f_max / 700.0)
    m_pts = torch.linspace(m_min, m_max, n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down, up))


def vocos_mel_loss(x, y, sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100):
    """Vocos (0.1) MelSpecReconstructionLoss with mel_loss_coeff 45 (its train config): torchaudio MelSpectrogram
    (center=True, reflect, power=1, periodic Hann, htk filterbank without norm), safe_log = ln(clip(., 1e-7))."""
    fb = _torchaudio_htk_fbanks(n_fft // 2 + 1, 0.0, float(sample_rate // 2), n_mels, sample_rate).to(x.device)

    def mel(sig):
        spec = torch.stft(sig, n_fft, hop_length=hop_length, win_length=n_fft,
                          window=torch.hann_window(n_fft).to(sig.device), center=True, pad_mode="reflect",
                          return_complex=True).abs()
        m = torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)
        return torch.log(torch.clip(m, min=1e-7))

    return torch.nn.functional.l1_loss(mel(x), mel(y)) * 45


DAC_CASES = [
    pytest.param((2, 1, 4096), {}, id="dac-base"),
    pytest.param((1, 2, 3000), DAC_SMALL, id="small-stereo"),
    pytest.param((2, 1, 3000), dict(DAC_SMALL, pow=2.0, mag_weight=1.0), id="pow2-mag"),
    pytest.param((2, 1, 3000), dict(DAC_SMALL, mel_fmin=[0.0, 100.0, 50.0], mel_fmax=[None, 8000.0, 16000.0]),
                 id="fmin-fmax"),
]


@needs_librosa
@pytest.mark.parametrize("shape,kw", DAC_CASES)
def test_mel_loss_matches_dac(device, shape, kw):
    x, y = _signals(shape, device)
    args = dict(dict(n_mels=list(SL._DAC_N_MELS), window_lengths=list(SL._DAC_WINDOWS)), **kw)
    ref = functools.partial(dac_mel_loss, sample_rate=44100, **args)
    mod = SL.MelSpectrogramLoss(44100, **args).to(device)
    (la, ga), (lb, gb) = _loss_and_grad(ref, x, y), _loss_and_grad(mod, x, y)
    _close(lb, la, 2e-6, "loss", device)
    _close_grad(gb, ga, device, 1e-4)
    assert torch.equal(SL.mel_spectrogram_loss(x, y, 44100, **args), lb.detach())
    # a precomputed target mel gives the same loss (its log-mels by ATen rather than the kernel's log stage on CUDA:
    # the same to a rounding)
    torch.testing.assert_close(mod(x, y_mels=mod.mel_spectrograms(y)), lb.detach(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("scales", [3, 17], ids=["3-scales", "17-scales"])
def test_mel_loss_backward_op(device, scales):
    """spectro::mel_loss_backward (the training node's backward): the sum over the scales of mel_l1_backward_input
    with weight log_weight / count (count: the scale's signs). On CUDA each scale's one kernel adds its gradient to the
    sum in place, which reassociates the sum where the padding folds back and where two of its blocks meet (one
    rounding per frame covering a sample: within 2 cover eps max|want| per scale); elsewhere the same calls and adds,
    the same bits. Meta: the shape and dtype; opcheck."""
    try:  # torch >= 2.4
        from torch.library import opcheck
    except ImportError:  # torch 2.3
        from torch.testing._internal.optests import opcheck
    windows_l = [32, 128, 512, 64, 256, 32, 16, 128, 64, 32, 16, 128, 64, 32, 16, 64, 32][:scales]
    n_mels = [5, 20, 80, 10, 40, 4, 3, 12, 9, 6, 5, 8, 7, 6, 4, 10, 3][:scales]
    mod = SL.MelSpectrogramLoss(44100, n_mels, windows_l, log_weight=1.5).to(device)
    x, y = _signals((3, 1, 1500), device)
    windows, fbs = mod._constants()
    T = x.shape[-1]
    hops = [w // 4 for w in windows_l]
    pads = [w // 2 for w in windows_l]
    geo = (list(windows), [f.contiguous() for f in fbs], hops, pads, 1e-5, 1.0, 0.0, 1.5)
    x2, y2 = x.reshape(-1, T), y.reshape(-1, T)
    _, signs = torch.ops.spectro.mel_loss_forward(x2, y2, *geo)
    gl = torch.tensor(0.7, device=device)
    got = torch.ops.spectro.mel_loss_backward(gl, signs, x2, *geo)
    assert got.shape == x2.shape and got.dtype == x2.dtype
    want, bound = torch.zeros_like(x2), 0.0
    for i, (w, h, p) in enumerate(zip(windows_l, hops, pads)):
        n_frames = 1 + (T + 2 * p - w) // h
        gi = torch.ops.spectro.mel_l1_backward_input(gl, signs[i], x2, windows[i], fbs[i].contiguous(), w, h,
                                                     n_frames, p, "reflect", 1.0, 1.0, 0.0, "clamp", 1e-5,
                                                     1.0 / math.log(10), 1.5 / signs[i].numel())
        want = want + gi if i else gi
        bound += 2 * -(-w // h) * torch.finfo(gi.dtype).eps * float(gi.abs().max())
    if x2.is_cuda:
        torch.testing.assert_close(got, want, rtol=0, atol=bound)
    else:
        assert torch.equal(got, want)
    # the training node's gradient is this op's
    xg = x.detach().clone().requires_grad_(True)
    mod(xg, y).backward(gl)
    torch.testing.assert_close(xg.grad, got.reshape(x.shape), rtol=0, atol=bound)
    meta = torch.ops.spectro.mel_loss_backward(gl.to("meta"), [s.to("meta") for s in signs], x2.to("meta"),
                                               *[[t.to("meta") for t in geo[0]], [t.to("meta") for t in geo[1]]],
                                               *geo[2:])
    assert meta.shape == got.shape and meta.dtype == got.dtype
    opcheck(torch.ops.spectro.mel_loss_backward.default, (gl, signs, x2) + geo)
    with pytest.raises(ValueError, match="one signs tensor per scale"):
        torch.ops.spectro.mel_loss_backward(gl, signs[:-1], x2, *geo)


@pytest.mark.kernel_paths
@pytest.mark.parametrize("scales", [3, 17], ids=["3-scales", "17-scales"])
def test_mel_loss_forward_op(device, scales):
    """spectro::mel_loss_forward (the training node's forward; on CUDA per scale one mel kernel that also forms the
    signs and the sums of |log-mel x - log-mel y|, where the fused kernel covers the scale (window 16 and the other
    kernel paths: two mel_analysis calls and one small kernel for them), one kernel for the loss; past 16 scales the
    composite): the signs are exactly those of the difference of mel_analysis' own log-mels, the loss their mean
    absolute difference (float64 of the same log-mels) times log_weight, summed over scales."""
    windows_l = [32, 128, 512, 64, 256, 32, 16, 128, 64, 32, 16, 128, 64, 32, 16, 64, 32][:scales]
    n_mels = [5, 20, 80, 10, 40, 4, 3, 12, 9, 6, 5, 8, 7, 6, 4, 10, 3][:scales]
    mod = SL.MelSpectrogramLoss(44100, n_mels, windows_l).to(device)
    x, y = _signals((3, 1, 1500), device)
    x[1, 0, 200:1100] = y[1, 0, 200:1100]  # (an equal stretch: differences exactly 0 in the frames inside it)
    windows, fbs = mod._constants()
    T = x.shape[-1]
    hops = [w // 4 for w in windows_l]
    pads = [w // 2 for w in windows_l]
    args = (x.reshape(-1, T), y.reshape(-1, T), list(windows), [f.contiguous() for f in fbs], hops, pads, 1e-5, 1.0,
            0.0, 1.5)
    loss, signs = torch.ops.spectro.mel_loss_forward(*args)
    assert loss.shape == () and loss.dtype == torch.float32 and len(signs) == scales
    want = 0.0
    for i, (w, h, p) in enumerate(zip(windows_l, hops, pads)):
        n_frames = 1 + (T + 2 * p - w) // h
        xl, yl = (torch.ops.spectro.mel_analysis(s.reshape(-1, T), windows[i], fbs[i].contiguous(), w, h, n_frames,
                                                 p, "reflect", 1.0, 1.0, 0.0, "clamp", 1e-5, 1.0 / math.log(10))
                  for s in (x, y))
        assert signs[i].dtype == torch.int8 and signs[i].shape == xl.shape
        assert torch.equal(signs[i], (xl - yl).sign().to(torch.int8))
        assert (signs[i] == 0).any() and (signs[i] == 1).any() and (signs[i] == -1).any()
        want += 1.5 * (xl.double() - yl.double()).abs().mean().item()
    torch.testing.assert_close(loss.double().cpu(), torch.tensor(want, dtype=torch.float64), rtol=2e-6, atol=0)
    # the op without gradients (mel_loss) gives the training node's loss bit for bit
    assert torch.equal(torch.ops.spectro.mel_loss(*args, 0.0), loss)
    # the Meta kernel (fake tensors, compile): the same shapes and dtypes from symbolic sizes
    def to_meta(a):
        if isinstance(a, torch.Tensor):
            return a.to("meta")
        return [to_meta(v) for v in a] if isinstance(a, list) and a and isinstance(a[0], torch.Tensor) else a

    meta_loss, meta_signs = torch.ops.spectro.mel_loss_forward(*[to_meta(a) for a in args])
    assert meta_loss.shape == () and meta_loss.dtype == loss.dtype
    assert [(m.shape, m.dtype) for m in meta_signs] == [(s.shape, s.dtype) for s in signs]
    # a zero batch: the mean of nothing, NaN (as torch's)
    empty = (x.reshape(-1, T)[:0], y.reshape(-1, T)[:0]) + args[2:]
    loss0, signs0 = torch.ops.spectro.mel_loss_forward(*empty)
    assert torch.isnan(loss0) and all(s.numel() == 0 for s in signs0)


@needs_librosa
def test_mel_loss_matches_bigvgan(device):
    x, y = _signals((2, 1, 4096), device)
    la, ga = _loss_and_grad(functools.partial(bigvgan_mel_loss, sampling_rate=24000,
                                              n_mels=list(SL._DAC_N_MELS), window_lengths=list(SL._DAC_WINDOWS)),
                            x, y)
    lb, gb = _loss_and_grad(SL.MelSpectrogramLoss(24000).to(device), x, y)
    _close(lb, la, 5e-6, "loss", device)
    _close_grad(gb, ga, device, 1e-4)


@needs_librosa
def test_mel_loss_single_scale_matches_hifigan(device):
    x, y = _signals((3, 4000), device)
    la, ga = _loss_and_grad(hifigan_mel_loss, x, y)
    mod = SL.MelSpectrogramLoss(22050, [80], [1024], mel_fmin=[0.0], mel_fmax=[8000.0], padding="same",
                                mag_eps=1e-9, log_weight=45 * math.log(10)).to(device)
    lb, gb = _loss_and_grad(mod, x, y)
    _close(lb, la, 5e-6, "loss", device)
    _close_grad(gb, ga, device, 1e-4)


@needs_librosa
def test_mel_loss_single_scale_matches_vocos(device):
    x, y = _signals((2, 4000), device)
    la, ga = _loss_and_grad(vocos_mel_loss, x, y)
    mod = SL.MelSpectrogramLoss(24000, [100], [1024], clamp_eps=1e-7, log_weight=45 * math.log(10),
                                mel_scale="htk", mel_norm=None).to(device)
    lb, gb = _loss_and_grad(mod, x, y)
    # torchaudio builds its filterbank in float32, librosa (and spectro) in float64: ~1e-7 relative differences
    _close(lb, la, 1e-5, "loss", device)
    _close_grad(gb, ga, device, 5e-4)


# --------------------------------------------------------------------------------------------------------------
# Accuracy against float64, gradcheck, compile, determinism, autocast.
def _composite_mrstft(x, y, res):  # auraloss in the given dtype (window cast to it)
    m = auraloss.freq.MultiResolutionSTFTLoss(**res)
    for l in m.stft_losses:
        l.window = l.window.to(x.dtype)
    return m(x, y)


@pytest.mark.parametrize("which", [pytest.param("mrstft", marks=needs_auraloss),
                                   pytest.param("mel", marks=needs_librosa)])
def test_float32_error_within_2x_of_library_composition(device, which):
    x, y = _signals((2, 1, 3000), device, torch.float64, seed=3)
    if which == "mrstft":
        mod = SL.MultiResolutionSTFTLoss(**SMALL, w_lin_mag=1.0).to(device)
        lib = lambda a, b: _composite_mrstft(a, b, dict(SMALL, w_lin_mag=1.0))  # noqa: E731
    else:
        mod = SL.MelSpectrogramLoss(44100, **DAC_SMALL).to(device)
        lib = functools.partial(dac_mel_loss, sample_rate=44100, **DAC_SMALL)
    (l64, g64) = _loss_and_grad(lambda a, b: mod.double()(a, b), x, y)
    mod.float()
    (l32, g32) = _loss_and_grad(mod, x.float(), y.float())
    (lr32, gr32) = _loss_and_grad(lib, x.float(), y.float())
    # floor: a few float32 rounding units of the result (either may land within rounding of the exact value)
    eps = torch.finfo(torch.float32).eps
    assert abs(l32.double() - l64) <= 2 * abs(lr32.double() - l64) + 4 * eps * abs(l64)
    assert (g32.double() - g64).norm() <= 2 * (gr32.double() - g64).norm() + 4 * eps * g64.norm()


@pytest.mark.parametrize("which", ["mrstft-all-terms", "mrstft-mel-si", "mel"])
def test_gradcheck_float64(which):
    # fast_mode: gradcheck along random directions (the full Jacobian costs 2 forwards per sample)
    x, y = _signals((1, 2, 80), "cpu", torch.float64, seed=5)
    x.requires_grad_(True)
    res = dict(fft_sizes=[32, 16], hop_sizes=[8, 4], win_lengths=[24, 16])
    if which == "mrstft-all-terms":
        mod = SL.MultiResolutionSTFTLoss(**res, w_lin_mag=0.5, w_phs=0.1).double()
    elif which == "mrstft-mel-si":
        mod = SL.MultiResolutionSTFTLoss(**res, scale="mel", n_bins=4, sample_rate=8000,
                                         scale_invariance=True).double()
        x = x[:1, :1].detach().requires_grad_(True)
        y = y[:1, :1]
    else:
        mod = SL.MelSpectrogramLoss(8000, [4, 6], [16, 32], mag_weight=0.5, pow=2.0).double()
    assert torch.autograd.gradcheck(lambda a: mod(a, y), (x,), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_bitwise_deterministic(device):
    x, y = _signals((2, 1, 3000), device)
    for mod in (SL.MultiResolutionSTFTLoss(**SMALL, w_lin_mag=1.0), SL.MelSpectrogramLoss(44100, **DAC_SMALL),
                SL.MelSpectrogramLoss(22050, [80], [1024], padding="same", mag_eps=1e-9)):
        mod = mod.to(device)
        (a, ga), (b, gb) = _loss_and_grad(mod, x, y), _loss_and_grad(mod, x, y)
        assert torch.equal(a, b) and torch.equal(ga, gb)


def _compile_backend(device):
    # CPU: aot_eager (inductor's C++ compile of the generated kernels takes minutes on the 2-core CI machine);
    # CUDA: inductor.
    return "inductor" if device == "cuda" else "aot_eager"


def test_torch_compile_fullgraph(device):
    torch._dynamo.reset()
    x, y = _signals((2, 1, 2000), device)
    functions = (functools.partial(SL.multi_resolution_stft_loss, **SMALL),
                 functools.partial(SL.mel_spectrogram_loss, sample_rate=44100, **DAC_SMALL))
    for mod in (SL.MultiResolutionSTFTLoss(**SMALL, w_lin_mag=1.0), SL.MelSpectrogramLoss(44100, **DAC_SMALL),
                *functions):
        mod = mod.to(device) if isinstance(mod, torch.nn.Module) else mod
        compiled = torch.compile(mod, fullgraph=True, backend=_compile_backend(device))
        (a, ga), (b, gb) = _loss_and_grad(mod, x, y), _loss_and_grad(compiled, x, y)
        _close(b, a, 1e-6, "loss", device)
        _close_grad(gb, ga, device, 1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_half_inputs(device, dtype):
    if device == "cpu" and dtype == torch.float16:
        pytest.skip("CPU autocast: bfloat16")
    g = torch.Generator().manual_seed(7)
    T = 2000
    lin = torch.nn.Linear(T, T, bias=False).to(device)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(T) + 0.01 * torch.randn(T, T, generator=g))
    x = torch.randn(2, 1, T, generator=g).to(device)
    y = torch.randn(2, 1, T, generator=g).to(device)
    for mod in (SL.MultiResolutionSTFTLoss(**SMALL), SL.MelSpectrogramLoss(44100, **DAC_SMALL)):
        mod = mod.to(device)
        lin.zero_grad()
        with torch.autocast(device, dtype=dtype):
            pred = lin(x)
            assert pred.dtype == dtype
            loss = mod(pred, y)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        # the half input is computed in float32: the loss equals the float32 loss of the same values
        assert torch.equal(loss.detach(), mod(pred.detach().float(), y))
        loss.backward()
        assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()
        assert lin.weight.grad.abs().sum() > 0


def test_float64_inputs_give_float64_loss():
    x, y = _signals((1, 1, 1000), "cpu", torch.float64)
    assert SL.MultiResolutionSTFTLoss(**SMALL)(x, y).dtype == torch.float64
    assert SL.MelSpectrogramLoss(16000, **DAC_SMALL)(x, y).dtype == torch.float64


# --------------------------------------------------------------------------------------------------------------
# The losses' per-call path, kept short (host time before the ops' first kernel) with the same results and errors.
_MODULES = {
    "mel": lambda: SL.MelSpectrogramLoss(16000, **DAC_SMALL),
    "mel-same": lambda: SL.MelSpectrogramLoss(22050, [80], [1024], padding="same", mag_eps=1e-9),
    "stft": lambda: SL.STFTLoss(256, 64, 200, w_lin_mag=1.0),
    "stft-mel": lambda: SL.STFTLoss(256, 64, 200, sample_rate=16000, scale="mel", n_bins=16),
    "mrstft": lambda: SL.MultiResolutionSTFTLoss(**SMALL, w_lin_mag=1.0),
    "mrstft-full": lambda: SL.MultiResolutionSTFTLoss(**SMALL, output="full"),
    "pwg": lambda: spectro.MultiResolutionSTFTLoss(((256, 64, 200), (128, 32, 100))),
}


def _tensors(out):
    """The tensors of a loss' result (a tensor, or a tuple of tensors, floats and lists of them), in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _tensors(v)]
    return []


@pytest.mark.parametrize("name", list(_MODULES))
def test_modules_compute_with_their_converted_buffers(name):
    # Called once, then converted by .double() (nn.Module._apply replaces the buffers): the module computes with the
    # new buffers, as a module converted before its first call does; and again after .float().
    make = _MODULES[name]
    x, y = _signals((2, 1, 1500), "cpu", torch.float64)
    mod = make()
    first = _tensors(mod(x.float(), y.float()))
    mod.double()
    got, want = _tensors(mod(x, y)), _tensors(make().double()(x, y))
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        assert a.dtype == torch.float64 and torch.equal(a, b)
    mod.float()
    again = _tensors(mod(x.float(), y.float()))
    assert all(a.dtype == torch.float32 and torch.equal(a, b) for a, b in zip(again, first))


def test_too_short_signal_errors_at_the_boundary_and_after_other_lengths():
    # Each module's shortest accepted signal passes; one sample less raises the error naming the first scale /
    # resolution it is too short for, the same after calls at other lengths.
    x = torch.randn(1, 2000)
    mel_same = SL.MelSpectrogramLoss(16000, [10], [1024], hop_lengths=[1000], padding="same")  # pad 12: one frame
    cases = [
        (SL.MelSpectrogramLoss(16000), 1025,
         "MelSpectrogramLoss: input has 1024 samples, too short for window_lengths[6]=2048 with padding='center': "
         "reflect padding by 1024 needs at least 1025 samples"),
        (mel_same, 1000,
         "MelSpectrogramLoss: input has 999 samples, too short for window_lengths[0]=1024 with padding='same': the "
         "padded signal (1023) is shorter than one frame (1024)"),
        (SL.MelSpectrogramLoss(22050, [80], [1024], padding="same"), 385,
         "MelSpectrogramLoss: input has 384 samples, too short for window_lengths[0]=1024 with padding='same': "
         "reflect padding by 384 needs at least 385 samples"),
        (SL.MultiResolutionSTFTLoss(), 1025,
         "MultiResolutionSTFTLoss: input has 1024 samples, too short for fft_sizes[1]=2048: reflect padding by 1024 "
         "needs at least 1025 samples"),
        (SL.STFTLoss(), 513,
         "STFTLoss: input has 512 samples, too short for fft_size=1024: reflect padding by 512 needs at least 513 "
         "samples"),
    ]
    for mod, shortest, message in cases:
        for T in (2000, shortest, shortest + 1):
            assert torch.isfinite(mod(x[:, :T], x[:, :T] * 0.5))
        for _ in range(2):
            with pytest.raises(ValueError) as e:
                mod(x[:, :shortest - 1], x[:, :shortest - 1])
            assert str(e.value) == message
    with pytest.raises(ValueError) as e:  # (the precomputed target's path names the signal)
        mel_same.mel_spectrograms(x[:, :999])
    assert str(e.value) == ("MelSpectrogramLoss: signal has 999 samples, too short for window_lengths[0]=1024 with "
                            "padding='same': the padded signal (1023) is shorter than one frame (1024)")


def test_autocast_context_only_where_autocast_is_on():
    on = SL._is_autocast_enabled
    assert not on("cpu") and not on("cuda")
    assert not isinstance(SL._autocast_disabled("cpu"), torch.autocast)  # off already: no context to enter
    with SL._autocast_disabled("cpu"):
        assert not on("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not isinstance(SL._autocast_disabled("cuda"), torch.autocast)  # (CUDA's autocast is off)
        ctx = SL._autocast_disabled("cpu")
        assert isinstance(ctx, torch.autocast)
        with ctx:
            assert not on("cpu")
        assert on("cpu")
    assert not on("cpu")


# --------------------------------------------------------------------------------------------------------------
# spectro::stft_loss_sums, the op under the multi-resolution STFT loss (on CUDA the fused kernel: both signals in one
# complex FFT per frame), against its definition on torch.stft.
def _loss_sums_def(x, y, window, n_fft, hop, eps, distance):
    """The four sums from torch.stft (centred, reflect padding, onesided), in the inputs' dtype."""
    def mag(s):
        X = torch.stft(s, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True)
        return torch.view_as_real(X).square().sum(-1).clamp(min=eps).sqrt()
    xm, ym = mag(x), mag(y)
    d, lg = ym - xm, xm.log() - ym.log()
    dist = (lambda t: t.square()) if distance == "L2" else (lambda t: t.abs())  # noqa: E731
    return torch.stack([d.square().sum(), ym.square().sum(), dist(lg).sum(), dist(d).sum()])


def _loss_op(x, y, window, n_fft, hop, eps, distance):
    T = x.shape[-1]
    return torch.ops.spectro.stft_loss_sums(x, y, window, n_fft, hop, 1 + T // hop, n_fft // 2, "reflect", eps,
                                            distance)


LOSS_OP_CASES = [  # (batch, T, n_fft, hop, eps, distance): power-of-two and general FFT lengths (both engines)
    pytest.param(3, 2000, 256, 64, 1e-8, "L1", id="256-L1"),
    pytest.param(2, 1500, 400, 100, 1e-3, "L2", id="400-L2-eps"),
    pytest.param(1, 3000, 1024, 120, 1e-8, "L1", id="1024-L1"),
    pytest.param(2, 700, 30, 7, 1e-8, "L2", id="30-L2"),
    pytest.param(1, 5000, 2048, 240, 1e-8, "L1", id="2048-L1"),
]


@pytest.mark.kernel_paths
@pytest.mark.parametrize("batch,T,n_fft,hop,eps,distance", LOSS_OP_CASES)
def test_stft_loss_op_accuracy(device, batch, T, n_fft, hop, eps, distance):
    """Sums and both signals' gradients (for random weights of the sums) against the float64 definition, within 2x
    the float32 definition's own error (plus a few roundings)."""
    x, y = _signals((batch, T), device, torch.float64, seed=n_fft)
    win = torch.hann_window(n_fft, dtype=torch.float64, device=device)
    wts = torch.tensor([0.7, 0.3, 1.1, 0.5], dtype=torch.float64, device=device)

    def run(fn, dtype):
        a = x.to(dtype).requires_grad_(True)
        b = y.to(dtype).requires_grad_(True)
        sums = fn(a, b, win.to(dtype), n_fft, hop, eps, distance)
        ga, gb = torch.autograd.grad((sums.double() * wts).sum(), (a, b))
        return sums.double(), ga.double(), gb.double()

    ref = run(_loss_sums_def, torch.float64)
    lib = run(_loss_sums_def, torch.float32)
    got = run(_loss_op, torch.float32)
    assert got[0].dtype == torch.float64  # (the .double() above; the op returns float32)
    eps32 = torch.finfo(torch.float32).eps
    for q in range(4):
        err, lib_err = (got[0][q] - ref[0][q]).abs(), (lib[0][q] - ref[0][q]).abs()
        assert err <= 2 * lib_err + 8 * eps32 * ref[0][q].abs(), f"sum {q}: {err:.3e} vs torch's {lib_err:.3e}"
    for i, name in ((1, "x"), (2, "y")):
        err, lib_err = (got[i] - ref[i]).norm(), (lib[i] - ref[i]).norm()
        assert err <= 2 * lib_err + 8 * eps32 * ref[i].norm(), f"grad {name}: {err:.3e} vs torch's {lib_err:.3e}"
    # y without grad: the onesided backward (x's gradient only) gives x's gradient of the two-signal backward
    a = x.float().requires_grad_(True)
    sums = _loss_op(a, y.float(), win.float(), n_fft, hop, eps, distance)
    (ga,) = torch.autograd.grad((sums.double() * wts).sum(), a)
    torch.testing.assert_close(ga.double(), got[1], rtol=0, atol=float(1e-5 * got[1].abs().max()))


def _loss_backward_torch(grad, x, y, win, n_fft, hop, eps, distance, grad_target):
    """stft_loss_sums_backward's definition written with torch.stft (centred, reflect): on CUDA, cuFFT's float32
    error on the same input is the yardstick."""
    X, Y = (torch.stft(t, n_fft, hop, window=win, center=True, pad_mode="reflect", return_complex=True) for t in (x, y))
    sx, sy = X.real**2 + X.imag**2, Y.real**2 + Y.imag**2
    xm, ym = sx.clamp_min(eps).sqrt(), sy.clamp_min(eps).sqrt()
    d, lg = ym - xm, xm.log() - ym.log()
    dlog, dlin = (2 * lg, 2 * d) if distance == "L2" else (lg.sign(), d.sign())
    g = grad.to(x.dtype)
    gx = X * torch.where(sx >= eps, (g[0] * (-2 * d) + g[2] * dlog / xm - g[3] * dlin) / xm, 0)
    if not grad_target:
        return gx
    gy = Y * torch.where(sy >= eps, (g[0] * (2 * d) + g[1] * (2 * ym) - g[2] * dlog / ym + g[3] * dlin) / ym, 0)
    K = n_fft // 2 + 1
    G = torch.zeros(x.shape[0], n_fft, X.shape[-1], dtype=X.dtype, device=X.device)
    G[:, :K] += 0.5 * (gx + 1j * gy)
    mirrored = 0.5 * (gx.conj() + 1j * gy.conj())
    G[:, 0] += mirrored[:, 0]
    G[:, n_fft - K + 1:] += mirrored[:, 1:K].flip(1)
    return G


@pytest.mark.kernel_paths
@pytest.mark.parametrize("grad_target", [False, True])
def test_stft_loss_backward_op_matches_composite(device, grad_target):
    """The backward op (CUDA: the kernel in its backward mode) against its float64 composite definition on the CPU:
    dL/dX onesided, or the packed x + i y spectrum gradient."""
    x, y = _signals((2, 1200), device, torch.float64, seed=4)
    for n_fft, hop, distance in ((256, 64, "L2"), (400, 80, "L1")):
        win = torch.hann_window(n_fft, dtype=torch.float64)
        grad = torch.tensor([0.7, 0.3, 1.1, 0.5], dtype=torch.float64)
        n_frames = 1 + 1200 // hop
        args = (n_fft, hop, n_frames, n_fft // 2, "reflect", 1e-4, distance, grad_target)
        ref = torch.ops.spectro.stft_loss_sums_backward(grad, x.cpu(), y.cpu(), win, *args)
        got = torch.ops.spectro.stft_loss_sums_backward(grad.to(device), x, y, win.to(device), *args)
        assert got.shape == ref.shape == (2, n_fft if grad_target else n_fft // 2 + 1, n_frames)
        assert got.stride() == ref.stride() == (ref.shape[1] * n_frames, 1, ref.shape[1])  # frame-major
        bad = ~torch.isclose(got.cpu(), ref, rtol=1e-9, atol=1e-9 * float(ref.abs().max()))
        # (L1: a bin at a distance's kink may take the other sign's derivative under different rounding)
        assert bad.sum() <= (2 if distance == "L1" else 0), f"{int(bad.sum())} of {bad.numel()} differ"
        # (the transcription below is the definition: float64 on the CPU it gives ref)
        lib64 = _loss_backward_torch(grad, x.cpu(), y.cpu(), win, n_fft, hop, 1e-4, distance, grad_target)
        assert (~torch.isclose(lib64, ref, rtol=1e-9, atol=1e-9 * float(ref.abs().max()))).sum() <= (
            2 if distance == "L1" else 0)
        # float32, L2 (L1's derivative sign(ln X - ln Y) jumps: float32 rounding flips it at whichever bins sit at the
        # kink, for any FFT; float64 covers L1 above). The gradient's 1/|X| factors amplify any FFT's rounding at the
        # smallest bins, so a comparison of two float32 results there compares their luck at a few bins: each bin of
        # spectro's result and of torch's (the definition with torch.stft: cuFFT on CUDA) is held to the
        # error-analysis bound instead, against float64 on the float32 signals' values.
        if distance == "L1":
            continue
        x32, y32, w32, g32 = x.float(), y.float(), win.float(), grad.float()
        got32 = torch.ops.spectro.stft_loss_sums_backward(g32.to(device), x32, y32, w32.to(device), *args)
        lib32 = _loss_backward_torch(g32.to(device), x32, y32, w32.to(device), n_fft, hop, 1e-4, distance,
                                     grad_target)
        assert got32.dtype == lib32.dtype == torch.complex64
        ref32 = torch.ops.spectro.stft_loss_sums_backward(g32.double(), x32.double().cpu(), y32.double().cpu(),
                                                          w32.double(), *args)
        bound = _loss_grad_bound(g32, x32, y32, w32, n_fft, hop, 1e-4, grad_target)
        for name, t in (("spectro", got32), ("torch", lib32)):
            excess = (t.cpu().to(torch.complex128) - ref32).abs() / bound
            assert float(excess.max()) <= 1, f"{name}: a bin's error is {float(excess.max()):.2f}x its bound"


def _loss_grad_bound(grad, x, y, win, n_fft, hop, eps, grad_target):
    """Per-bin bound on |G32 - G64| for stft_loss_sums_backward (distance L2) from float32 signals x, y [B, T]:
    the spectra of a float32 FFT are within delta = 4 eps (log2 n_fft + 1) sqrt(||X_frame||^2 + ||Y_frame||^2) of the
    exact ones (the suite's FFT tolerance for the transform of x + i y, which the CUDA kernel computes), so
    |dG| <= 2 delta (|dG/dRe X| + |dG/dIm X| + |dG/dRe Y| + |dG/dIm Y|) (first order, doubled), plus the rounding of the
    bin's own arithmetic (the log difference's, the magnitude difference's and a few ulps of G); a bin whose |X|^2 is
    within reach of the clamp eps may take either branch (its allowance: both values). grad_target: the packed G[k] =
    (GX[k] + i GY[k]) / 2 + (conj GX[q] + i conj GY[q]) / 2 (q = n_fft - k) is bounded by its four parts' bounds."""
    u = 2.0 ** -24
    w = win.double().cpu()
    X, Y = (torch.stft(t.double().cpu(), n_fft, hop, window=w, center=True, pad_mode="reflect", return_complex=True)
            for t in (x, y))

    def frame2(S):
        m2 = S.real.square() + S.imag.square()
        return m2[:, 0] + m2[:, -1] + 2 * m2[:, 1:-1].sum(1)

    delta = (4 * u * (math.log2(n_fft) + 1) * (frame2(X) + frame2(Y)).sqrt())[:, None, :]
    g = grad.double().cpu()

    def parts(Ar, Ai, Br, Bi, sign):  # the gradient of one signal's bins (sign -1: x's, +1: y's) from A and B
        sa = Ar * Ar + Ai * Ai
        am, bm = sa.clamp_min(eps).sqrt(), (Br * Br + Bi * Bi).clamp_min(eps).sqrt()
        d, lg = bm - am, am.log() - bm.log()
        # (the composite's dxm, dym with d, lg written from the signal's own side: A's magnitude am, the other's bm)
        h = (g[0] * (-2 * d) + g[2] * 2 * lg / am - g[3] * 2 * d + (g[1] * 2 * am if sign > 0 else 0)) / am
        h = torch.where(sa >= eps, h, torch.zeros_like(h))
        return Ar * h, Ai * h

    def bound_of(A, B, sign):
        prim = (A.real, A.imag, B.real, B.imag)
        sens = 0
        for i in range(4):
            tangent = tuple(torch.ones_like(p) if j == i else torch.zeros_like(p) for j, p in enumerate(prim))
            _, (tr, ti) = torch.func.jvp(lambda *p: parts(*p, sign), prim, tangent)
            sens = sens + tr.abs() + ti.abs()
        Gr, Gi = parts(*prim, sign)
        gabs = (Gr.square() + Gi.square()).sqrt()
        am = (A.real.square() + A.imag.square()).clamp_min(eps).sqrt()
        bm = (B.real.square() + B.imag.square()).clamp_min(eps).sqrt()
        arith = 8 * u * gabs + 4 * u * (abs(g[2]) * (am.log().abs() + bm.log().abs() + 2) / am
                                        + (abs(g[0]) + abs(g[3])) * (am + bm) / am + abs(g[1]) * am)
        total = 2 * delta * sens + arith
        # the clamp's branch: |A|^2 within reach of eps (either value: the other one is 0)
        sa = A.real.square() + A.imag.square()
        near = (sa - eps).abs() <= 2 * delta * sa.sqrt() + delta.square()
        h_at = (2 * abs(g[0]) * (bm + am) + 2 * abs(g[2]) * ((am.log() - bm.log()).abs() + 1) / am
                + 2 * abs(g[3]) * (bm + am) + 2 * abs(g[1]) * am) / am
        return torch.where(near, total + gabs + sa.sqrt() * h_at, total)

    bx = bound_of(X, Y, -1)
    if not grad_target:
        return bx
    by = bound_of(Y, X, +1)
    K = n_fft // 2 + 1
    B = torch.zeros(x.shape[0], n_fft, X.shape[-1], dtype=torch.float64)
    B[:, :K] += 0.5 * (bx + by)
    B[:, 0] += 0.5 * (bx[:, 0] + by[:, 0])
    B[:, n_fft - K + 1:] += 0.5 * (bx[:, 1:K] + by[:, 1:K]).flip(1)
    return B


def test_stft_loss_op_gradcheck_float64():
    """First and second order in both signals (the second through the composite), float64."""
    x, y = _signals((2, 90), "cpu", torch.float64, seed=6)
    win = torch.hann_window(32, dtype=torch.float64)
    for distance in ("L1", "L2"):
        f = lambda a, b: _loss_op(a, b, win, 32, 8, 1e-6, distance) * torch.tensor([0.7, 0.3, 1.1, 0.5],  # noqa: E731
                                                                                    dtype=torch.float64)
        a, b = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(f, (a, b), eps=1e-6, atol=1e-6, rtol=1e-4)
    a, b = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda a, b: _loss_op(a, b, win, 32, 8, 1e-6, "L2"), (a, b), eps=1e-6,
                                        atol=1e-5, rtol=1e-3)


def test_stft_loss_op_under_torch_func(device):
    """vmap (the composite folds the mapped dimension into the analyses' batch) and torch.func.grad (the composite's
    autograd) give the per-call results."""
    from torch.func import grad, vmap
    x, y = _signals((3, 2, 500), device, torch.float64, seed=11)
    win = torch.hann_window(64, dtype=torch.float64, device=device)
    wts = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, device=device)
    f = lambda a, b: _loss_op(a, b, win, 64, 16, 1e-8, "L1")  # noqa: E731
    torch.testing.assert_close(vmap(f)(x, y), torch.stack([f(x[i], y[i]) for i in range(3)]), rtol=1e-12, atol=0)
    g = grad(lambda a: (f(a, y[0]) * wts).sum())(x[0])
    a = x[0].clone().requires_grad_(True)
    (f(a, y[0]) * wts).sum().backward()
    torch.testing.assert_close(g, a.grad, rtol=1e-10, atol=1e-12)


def test_stft_loss_op_opcheck(device):
    try:  # torch >= 2.4
        from torch.library import opcheck
    except ImportError:  # torch 2.3
        from torch.testing._internal.optests import opcheck
    x, y = _signals((2, 700), device, seed=8)
    win = torch.hann_window(64, device=device)
    for distance in ("L1", "L2"):
        args = (x, y, win, 64, 16, 1 + 700 // 16, 32, "reflect", 1e-8, distance)
        opcheck(torch.ops.spectro.stft_loss_sums.default, args)
        opcheck(torch.ops.spectro.stft_loss_sums.default, (x.clone().requires_grad_(), y) + args[2:])
        for grad_target in (False, True):  # (the backward's composite traces to the same values)
            opcheck(torch.ops.spectro.stft_loss_sums_backward.default,
                    (torch.ones(4, device=device),) + args + (grad_target,))


def test_stft_loss_op_errors(device):
    x, y = _signals((2, 700), device, seed=9)
    win = torch.hann_window(64, device=device)
    op = torch.ops.spectro.stft_loss_sums
    base = (64, 16, 44, 32, "reflect", 1e-8, "L1")
    with pytest.raises(RuntimeError, match="expected y of the shape of x"):
        op(x, y[:, :-1], win, *base)
    with pytest.raises(RuntimeError, match="expected y of the dtype of x"):
        op(x, y.double(), win, *base)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        op(x.half(), y.half(), win, *base)
    with pytest.raises(ValueError, match="distance must be 'L1' or 'L2'"):
        op(x, y, win, *base[:-1], "L3")
    with pytest.raises(ValueError, match="eps must be a positive number"):
        op(x, y, win, *base[:5], 0.0, "L1")
    with pytest.raises(RuntimeError, match="window"):
        op(x, y, win[:-1], *base)
    with pytest.raises(RuntimeError, match="hop_length"):
        op(x, y, win, 64, 0, 44, 32, "reflect", 1e-8, "L1")


@pytest.mark.kernel_paths
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weights", [(1.0, 1.0, 0.0), (0.5, 0.0, 2.0), (0.0, 0.0, 0.0)],
                         ids=["sc-log", "sc-lin", "none"])
def test_stft_loss_multi_op_matches_sums(device, reduction, weights):
    """spectro::stft_loss (all resolutions, one op; its own autograd node; on CUDA's fused path every resolution's
    loss kernel and one combine kernel, forward and backward) against its definition over stft_loss_sums: the terms,
    the weighted mean over resolutions, and the gradients of both signals through both outputs. Without gradients
    to record the op's backend kernel runs directly: the same bits."""
    x, y = _signals((3, 1500), device, seed=11)
    geometries = ((256, 64), (128, 30), (400, 100))
    windows = [torch.hann_window(n, device=device) for n, _ in geometries]
    W = torch.randn(3, 3, generator=torch.Generator().manual_seed(15)).to(device)  # dL/dterms
    for grad_y in (False, True):
        xg, yg = x.clone().requires_grad_(True), y.clone().requires_grad_(grad_y)
        loss, terms = torch.ops.spectro.stft_loss(xg, yg, windows, [g[0] for g in geometries],
                                                  [g[1] for g in geometries], 1e-7, "L1", reduction, list(weights))
        assert terms.shape == (3, 3) and loss.shape == () and loss.dtype == terms.dtype == torch.float32
        with torch.no_grad():
            loss_ng, terms_ng = torch.ops.spectro.stft_loss(x, y, windows, [g[0] for g in geometries],
                                                            [g[1] for g in geometries], 1e-7, "L1", reduction,
                                                            list(weights))
        assert torch.equal(loss_ng, loss.detach()) and torch.equal(terms_ng, terms.detach())
        xr, yr = x.clone().requires_grad_(True), y.clone().requires_grad_(grad_y)
        ref_terms, ref_loss = [], 0.0
        for (n, h), w in zip(geometries, windows):
            s = _loss_op(xr, yr, w, n, h, 1e-7, "L1")
            count = 3 * (n // 2 + 1) * (1 + 1500 // h) if reduction == "mean" else 1
            t = torch.stack([(s[0] / s[1]).sqrt() if weights[0] else s.new_zeros(()),
                             s[2] / count if weights[1] else s.new_zeros(()),
                             s[3] / count if weights[2] else s.new_zeros(())])
            ref_terms.append(t)
            ref_loss = ref_loss + (t * torch.tensor(weights, device=device)).sum()
        ref_loss = ref_loss / len(geometries)
        ref_terms = torch.stack(ref_terms)
        torch.testing.assert_close(terms, ref_terms.detach(), rtol=1e-5, atol=0)
        torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-5, atol=0)
        if not any(weights):
            assert not loss.requires_grad or float(loss) == 0.0
            continue
        for objective in ("loss", "terms", "both"):
            def total(l, t):
                return {"loss": l, "terms": (t * W).sum(), "both": l + (t * W).sum()}[objective]
            ins, ref_ins = ((xg, yg), (xr, yr)) if grad_y else ((xg,), (xr,))
            got = torch.autograd.grad(total(loss, terms), ins, retain_graph=True, allow_unused=True)
            want = torch.autograd.grad(total(ref_loss, ref_terms), ref_ins, retain_graph=True, allow_unused=True)
            for g, gr in zip(got, want):
                if gr is None:  # (only the terms' zero columns reach it)
                    assert g is None or float(g.abs().max()) == 0.0
                    continue
                torch.testing.assert_close(g, gr, rtol=0, atol=1e-5 * float(gr.abs().max()))


@pytest.mark.kernel_paths
def test_stft_loss_multi_op_many_resolutions(device):
    """More resolutions than CUDA's combine kernel takes at once (16) give the composite on every device: the loss and
    the gradient equal the mean of the one-resolution losses (each the fused path on CUDA)."""
    x, y = _signals((2, 900), device, seed=16)
    geometries = [(32 + 8 * i, 8 + i) for i in range(17)]
    windows = [torch.hann_window(n, device=device) for n, _ in geometries]
    weights = [1.0, 1.0, 0.5]
    xg = x.clone().requires_grad_(True)
    loss, terms = torch.ops.spectro.stft_loss(xg, y, windows, [n for n, _ in geometries], [h for _, h in geometries],
                                              1e-7, "L1", "mean", weights)
    xr = x.clone().requires_grad_(True)
    parts = [torch.ops.spectro.stft_loss(xr, y, [w], [n], [h], 1e-7, "L1", "mean", weights)
             for (n, h), w in zip(geometries, windows)]
    ref = torch.stack([p[0] for p in parts]).mean()
    torch.testing.assert_close(terms, torch.cat([p[1] for p in parts]).detach(), rtol=1e-5, atol=0)
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-5, atol=0)
    (g,) = torch.autograd.grad(loss, xg)
    (gr,) = torch.autograd.grad(ref, xr)
    torch.testing.assert_close(g, gr, rtol=0, atol=1e-5 * float(gr.abs().max()))


def test_stft_loss_multi_op_opcheck_and_errors(device):
    try:  # torch >= 2.4
        from torch.library import opcheck
    except ImportError:  # torch 2.3
        from torch.testing._internal.optests import opcheck
    x, y = _signals((2, 700), device, seed=12)
    wins = [torch.hann_window(64, device=device), torch.hann_window(32, device=device)]
    op = torch.ops.spectro.stft_loss
    args = (x.clone().requires_grad_(), y, wins, [64, 32], [16, 8], 1e-7, "L1", "mean", [1.0, 1.0, 0.5])
    opcheck(op.default, args)
    # (the loss' forward and backward below its autograd node, called with nothing to differentiate)
    plain = (x,) + args[1:]
    opcheck(torch.ops.spectro.stft_loss_forward.default, plain)
    loss, terms, sums = torch.ops.spectro.stft_loss_forward(*plain)
    for grad_target in (False, True):
        opcheck(torch.ops.spectro.stft_loss_backward.default,
                (torch.ones((), device=device), None) + plain + (sums, terms, grad_target))
    with pytest.raises(ValueError, match="n_ffts, hop_lengths and windows must have the same length"):
        op(x, y, wins, [64, 32], [16], 1e-7, "L1", "mean", [1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="at least one resolution"):
        op(x, y, [], [], [], 1e-7, "L1", "mean", [1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        op(x, y, wins, [64, 32], [16, 8], 1e-7, "L1", "none", [1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="weights must hold"):
        op(x, y, wins, [64, 32], [16, 8], 1e-7, "L1", "mean", [1.0, 1.0])
    with pytest.raises(ValueError, match=r"positive n_ffts and hop_lengths.*hop_lengths\[1\]=0"):
        op(x, y, wins, [64, 32], [16, 0], 1e-7, "L1", "mean", [1.0, 1.0, 0.0])
    with pytest.raises(RuntimeError, match="expected x of shape \\[batch, time\\]"):
        op(x[0], y[0], wins, [64, 32], [16, 8], 1e-7, "L1", "mean", [1.0, 1.0, 0.0])
    with pytest.raises(RuntimeError, match="expected y of the shape of x"):
        op(x, y[:, :-1], wins, [64, 32], [16, 8], 1e-7, "L1", "mean", [1.0, 1.0, 0.0])


@pytest.mark.kernel_paths
def test_mel_loss_op_opcheck_and_errors(device):
    """spectro::mel_loss (every scale, one op): opcheck, gradients against its definition over mel_analysis (with only
    the prediction requiring grad and log terms only: the op's own autograd node, whose backward is mel_l1_backward;
    otherwise the composite), and its argument errors."""
    try:  # torch >= 2.4
        from torch.library import opcheck
    except ImportError:  # torch 2.3
        from torch.testing._internal.optests import opcheck
    x, y = _signals((2, 900), device, seed=13)
    wins = [torch.hann_window(64, device=device), torch.hann_window(32, device=device)]
    bases = [SL._mel_filters(8000, 64, 6).to(device), SL._mel_filters(8000, 32, 4).to(device)]
    op = torch.ops.spectro.mel_loss
    for (log_weight, mag_weight, pw), grad_y in itertools.product(((1.0, 0.0, 1.0), (0.5, 2.0, 2.0), (2.0, 0.0, 2.0)),
                                                                  (True, False)):
        args = [x.clone().requires_grad_(), y.clone().requires_grad_(grad_y), wins, bases, [16, 8], [32, 16], 1e-5, pw,
                0.0, log_weight, mag_weight]
        opcheck(op.default, tuple(args))
        loss = op(*args)
        gx, gy = torch.autograd.grad(loss, args[:2]) if grad_y else torch.autograd.grad(loss, args[:1]) + (None,)
        with torch.no_grad():  # (nothing to record: the op's backend kernel)
            torch.testing.assert_close(op(*args), loss.detach(), rtol=0, atol=0)
        a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
        ref = 0.0
        for w, fb, h, pad in zip(wins, bases, [16, 8], [32, 16]):
            n_frames = 1 + (900 + 2 * pad - w.shape[0]) // h
            mx, my = (torch.ops.spectro.mel_analysis(t, w, fb, w.shape[0], h, n_frames, pad, "reflect", 1.0, 1.0, 0.0,
                                                     "none", 0.0, 1.0) for t in (a, b))
            lx, ly = (m.clamp(min=1e-5).pow(pw).log10() for m in (mx, my))
            ref = ref + log_weight * (lx - ly).abs().mean() + mag_weight * (mx - my).abs().mean()
        ra, rb = torch.autograd.grad(ref, (a, b))
        torch.testing.assert_close(loss, ref.detach(), rtol=2e-6, atol=0)
        torch.testing.assert_close(gx, ra, rtol=0, atol=1e-4 * float(ra.abs().max()))
        if grad_y:
            torch.testing.assert_close(gy, rb, rtol=0, atol=1e-4 * float(rb.abs().max()))
    # mel_l1_backward (the node's backward op): opcheck, and equal to mel_analysis_backward of the L1 gradient
    w, fb = wins[0], bases[0]
    geo = (w, fb, 64, 16, 1 + (900 + 64 - 64) // 16, 32, "reflect", 1.0, 1.0, 0.0, "clamp", 1e-5, 0.4343)
    target = torch.ops.spectro.mel_analysis(y, *geo) + 0.01 * torch.randn(
        (2, 6, geo[4]), generator=torch.Generator().manual_seed(3)).to(device)
    gl = torch.tensor(0.7, device=device)
    l1 = torch.ops.spectro.mel_l1_backward(gl, target, x, *geo, 0.25)
    ref = torch.ops.spectro.mel_analysis_backward(
        torch.sign(torch.ops.spectro.mel_analysis(x, *geo) - target) * (0.7 * 0.25), x, *geo)
    torch.testing.assert_close(l1, ref, rtol=1e-6, atol=1e-6 * float(ref.abs().max()))
    opcheck(torch.ops.spectro.mel_l1_backward.default, (gl, target, x) + geo + (0.25,))
    with pytest.raises(RuntimeError, match="expected grad_loss of shape"):
        torch.ops.spectro.mel_l1_backward(gl.reshape(1), target, x, *geo, 0.25)
    with pytest.raises(RuntimeError, match="expected target of shape"):
        torch.ops.spectro.mel_l1_backward(gl, target[:, :-1], x, *geo, 0.25)
    base = ([16, 8], [32, 16], 1e-5, 1.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="windows, bases, hop_lengths and pads must have the same length"):
        op(x, y, wins, bases[:1], *base)
    with pytest.raises(ValueError, match="at least one scale"):
        op(x, y, [], [], [], [], *base[2:])
    with pytest.raises(ValueError, match=r"hop_lengths\[1\] > 0"):
        op(x, y, wins, bases, [16, 0], *base[1:])
    with pytest.raises(ValueError, match="clamp_eps must be a positive number"):
        op(x, y, wins, bases, [16, 8], [32, 16], 0.0, *base[3:])
    with pytest.raises(RuntimeError, match="expected y of the shape of x"):
        op(x, y[:, :-1], wins, bases, *base)


@pytest.mark.cuda
def test_mrstft_loss_cuda_graph_training_step(cuda_device):
    """A training step with the multi-resolution STFT loss (fused forward and backward) captured in one CUDA graph and
    replayed: the same parameters as the same steps run eagerly."""
    loss_fn = SL.MultiResolutionSTFTLoss(w_lin_mag=1.0).to(cuda_device)
    x, y = _signals((4, 1, 8192), cuda_device, seed=10)
    assert_graph_step_matches_eager(cuda_device, lambda pred: loss_fn(pred, y), x, lr=0.01, param_atol=1e-7)


@pytest.mark.cuda
def test_mel_loss_cuda_graph_training_step(cuda_device):
    """The same with the multi-scale mel loss (spectro::mel_loss: the fused mel kernels forward and backward)."""
    loss_fn = SL.MelSpectrogramLoss(44100, **DAC_SMALL).to(cuda_device)
    x, y = _signals((4, 1, 8192), cuda_device, seed=14)
    assert_graph_step_matches_eager(cuda_device, lambda pred: loss_fn(pred, y), x, lr=0.01, param_atol=1e-7)


# --------------------------------------------------------------------------------------------------------------
# Errors
def test_errors():
    x = torch.randn(1, 1, 1000)
    with pytest.raises(ValueError, match="same shape"):
        SL.MultiResolutionSTFTLoss(**SMALL)(x, torch.randn(1, 1, 999))
    with pytest.raises(ValueError, match="same shape"):
        SL.MelSpectrogramLoss(16000, **DAC_SMALL)(x, torch.randn(1, 2, 1000))
    with pytest.raises(ValueError, match="same length"):
        SL.MultiResolutionSTFTLoss(fft_sizes=[256, 128], hop_sizes=[64], win_lengths=[256, 128])
    with pytest.raises(ValueError, match="same length"):
        SL.MelSpectrogramLoss(16000, n_mels=[5, 10], window_lengths=[32])
    with pytest.raises(ValueError, match=r"win_lengths\[1\]=300 is longer than its FFT size fft_sizes\[1\]=256"):
        SL.MultiResolutionSTFTLoss(fft_sizes=[256, 256], hop_sizes=[64, 64], win_lengths=[256, 300])
    with pytest.raises(ValueError, match=r"win_length=300 is longer"):
        SL.STFTLoss(256, 64, 300)
    with pytest.raises(ValueError, match=r"hop_sizes\[0\] must be a positive int"):
        SL.MultiResolutionSTFTLoss(fft_sizes=[256], hop_sizes=[0], win_lengths=[256])
    with pytest.raises(ValueError, match=r"hop_lengths\[0\] must be a positive int"):
        SL.MelSpectrogramLoss(16000, n_mels=[5], window_lengths=[2])  # 2 // 4 == 0
    with pytest.raises(ValueError, match=r"too short for fft_sizes\[1\]=2048"):
        SL.MultiResolutionSTFTLoss()(torch.randn(1, 1, 1024), torch.randn(1, 1, 1024))
    with pytest.raises(ValueError, match=r"input has 1000 samples, too short for window_lengths\[6\]=2048"):
        SL.MelSpectrogramLoss(16000)(x, x)
    with pytest.raises(ValueError, match="padding='same'"):
        SL.MelSpectrogramLoss(16000, [10], [1024], padding="same")(torch.randn(1, 300), torch.randn(1, 300))
    for kw, name in ((dict(reduction="avg"), "reduction"), (dict(output="all"), "output"),
                     (dict(mag_distance="L3"), "mag_distance"), (dict(scale="bark"), "scale"),
                     (dict(scale="mel"), "sample_rate"), (dict(scale="chroma"), "chroma"),
                     (dict(perceptual_weighting=True), "sample_rate")):
        with pytest.raises(ValueError, match=name):
            SL.MultiResolutionSTFTLoss(**SMALL, **kw)
    with pytest.raises(TypeError, match="unexpected keyword"):
        SL.MultiResolutionSTFTLoss(fft_size=[256])
    mod = SL.MelSpectrogramLoss(16000, **DAC_SMALL)
    with pytest.raises(ValueError, match="exactly one of target"):
        mod(x)
    with pytest.raises(ValueError, match=r"y_mels\[1\] must have the shape"):
        ym = mod.mel_spectrograms(x)
        mod(x, y_mels=[ym[0], ym[1][..., :-1], ym[2]])
    with pytest.raises(ValueError, match="one mel spectrogram per scale"):
        mod(x, y_mels=ym[:2])
    with pytest.raises(ValueError, match="padding"):
        SL.MelSpectrogramLoss(16000, padding="valid")


def test_existing_parallel_wavegan_loss_is_unchanged():
    # spectro.MultiResolutionSTFTLoss stays Parallel WaveGAN's (sc, log_mag) pair; spectro.losses' is auraloss's.
    x, y = _signals((2, 4096), "cpu")
    sc, mag = spectro.MultiResolutionSTFTLoss()(x, y)
    assert sc.dim() == 0 and mag.dim() == 0
    assert spectro.losses.MultiResolutionSTFTLoss is not spectro.MultiResolutionSTFTLoss


@needs_scipy
def test_dac_window_is_scipy_periodic_hann():
    # DAC / BigVGAN: torch.from_numpy(scipy.signal.get_window("hann", w)).float()
    for w in (32, 100, 2048):
        ref = torch.from_numpy(scipy_signal.get_window("hann", w)).float()
        assert torch.equal(SL._periodic_hann64(w).float(), ref)


@pytest.mark.parametrize("loss", ["mel"])  # (tests/test_examples.py runs the default, --loss auraloss)
def test_training_example_runs_with_each_loss(loss):
    import os
    import subprocess
    import sys

    example = os.path.join(os.path.dirname(__file__), "..", "examples", "train_mrstft.py")
    proc = subprocess.run([sys.executable, example, "--steps", "2", "--batch", "2", "--samples", "4096", "--device",
                           "cpu", "--loss", loss], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"loss={loss}" in proc.stdout and " -> " in proc.stdout


def test_losses_train_after_an_inference_mode_call(device):
    """A loss evaluated first in inference mode (a validation step) then in training: what the first call kept
    (padded windows per module window, filterbanks) holds no inference tensor, so the training call's backward runs,
    and gives what a loss never called in inference mode gives."""
    g = torch.Generator().manual_seed(31)
    x, y = (torch.randn(2, 4000, generator=g).to(device) for _ in range(2))
    for make in (lambda: SL.MultiResolutionSTFTLoss(**SMALL), lambda: SL.STFTLoss(256, 64, 200),
                 lambda: SL.MelSpectrogramLoss(44100, **DAC_SMALL)):
        mod, fresh = make().to(device), make().to(device)
        with torch.inference_mode():
            ref = mod(x, y)
        grads = []
        for m in (mod, fresh):
            xg = x.clone().requires_grad_()
            out = m(xg, y)
            out.backward()
            grads.append(xg.grad)
            assert torch.equal(out.detach(), ref)
        assert torch.equal(*grads)
