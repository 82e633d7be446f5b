"""Float32 accuracy against a float64 reference, for every FFT size the fused CUDA kernels cover.

The in-kernel FFT must be no less accurate than cuFFT: for each size, spectro's relative error (norm-wise, against
the same transform computed in float64) must stay within twice torch's own float32 error on the same input. Run on
CUDA with the fused path forced (and on CPU for the CPU path, which uses ATen's FFT (MKL or pocketfft) like torch).
"""
from __future__ import annotations

import pytest
import torch

import spectro

POW2 = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
MIXED = [30, 48, 96, 160, 320, 400, 480, 600, 640, 800, 960, 1200, 1280, 1920, 2400, 3000]


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a.to(ref.dtype) - ref).norm() / ref.norm()).item()


def _inputs(n_fft: int, device: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    frames = 24
    hop = n_fft // 4
    T = n_fft + hop * (frames - 1)
    x = torch.randn(2, T, generator=g, dtype=torch.float64).to(device)
    w = torch.hann_window(n_fft, dtype=torch.float64, device=device)
    return x, w, hop


def _path(device):
    return spectro.kernel_path("fused" if device == "cuda" else "auto")


@pytest.mark.parametrize("n_fft", POW2 + MIXED)
def test_stft_float32_error_within_2x_torch(n_fft, device):
    x, w, hop = _inputs(n_fft, device, seed=n_fft)
    ref = torch.stft(x, n_fft, hop, window=w, return_complex=True)
    torch_err = _rel(torch.stft(x.float(), n_fft, hop, window=w.float(), return_complex=True), ref)
    with _path(device):
        ours = spectro.stft(x.float(), n_fft, hop, window=w.float(), return_complex=True)
    ours_err = _rel(ours, ref)
    assert ours_err <= 2 * torch_err, f"n_fft={n_fft}: spectro {ours_err:.3g} vs torch {torch_err:.3g} (float32)"


@pytest.mark.parametrize("n_fft", POW2 + MIXED)
def test_istft_float32_error_within_2x_torch(n_fft, device):
    x, w, hop = _inputs(n_fft, device, seed=n_fft + 1)
    spec = torch.stft(x, n_fft, hop, window=w, return_complex=True)
    ref = torch.istft(spec, n_fft, hop, window=w, length=x.shape[-1])
    spec32, w32 = spec.to(torch.complex64), w.float()
    torch_err = _rel(torch.istft(spec32, n_fft, hop, window=w32, length=x.shape[-1]), ref)
    with _path(device):
        ours = spectro.istft(spec32, n_fft, hop, window=w32, length=x.shape[-1])
    ours_err = _rel(ours, ref)
    assert ours_err <= 2 * torch_err, f"n_fft={n_fft}: spectro {ours_err:.3g} vs torch {torch_err:.3g} (float32)"


@pytest.mark.parametrize("n_fft", [64, 400, 1024])
def test_fused_float64_matches_reference(n_fft, device):
    x, w, hop = _inputs(n_fft, device, seed=3 * n_fft)
    ref = torch.stft(x, n_fft, hop, window=w, return_complex=True)
    with _path(device):
        ours = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
        y = spectro.istft(ours, n_fft, hop, window=w, length=x.shape[-1])
    assert _rel(ours, ref) < 1e-13
    assert _rel(y, x) < 1e-13
