"""Small torch-op helpers shared by the Python layer (the kernels and autograd live in C++).

ADJOINT_MODE pairs each FFT mode of spectro::analysis with the spectro::synthesis mode of its transpose (and back):
the backward of one op is the other op with the adjoint mode (csrc/autograd.cpp).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ADJOINT_MODE = {
    "rfft": "irfft_half",
    "rfft_full": "ifft_real",
    "fft": "ifft",
    "rfft_double": "irfft",
    "irfft_half": "rfft",
    "ifft_real": "rfft_full",
    "ifft": "fft",
    "irfft": "rfft_double",
}

# torch.istft's NOLA threshold: envelope values below it count as zero.
ENVELOPE_EPS = 1e-11


def envelope(window: torch.Tensor, hop: int, n_frames: int) -> torch.Tensor:
    """sum_n window[p - n*hop]^2 over padded positions p in [0, n_fft + hop * (n_frames - 1))."""
    n_fft = window.shape[0]
    span = n_fft + hop * (n_frames - 1)
    w2 = (window * window).reshape(1, n_fft, 1).expand(1, n_fft, n_frames)
    return F.fold(w2, output_size=(1, span), kernel_size=(1, n_fft), stride=(1, hop)).reshape(span)
