"""The CPU kernels' chunks of frames, at several intra-op thread counts.

On the CPU the frames are framed (or overlap-added) and transformed a chunk at a time, each chunk in one thread of
ATen's pool (kernels/cpu/frame_ola.h): the chunk size follows the geometry and ``torch.get_num_threads()``, chunks
cross batch rows, and the overlap-add runs the chunks of even index before the odd ones. Every FFT mode (onesided,
two-sided and complex stft; their istfts, with real and complex output; the backward of each, which runs the other
direction's modes) is compared with torch at 1, 2, 3 and 7 threads, so that each count of chunks per thread and each
way a chunk can meet a batch row's end is reached.
"""
from __future__ import annotations

import pytest
import torch

import spectro
from helpers import assert_close_fft, generator

# n_fft, hop, onesided, complex signal, center, pad_mode, batch, samples, dtype
CASES = [
    (64, 16, True, False, True, "reflect", 3, 700, torch.float32),
    (48, 48, False, False, False, "reflect", 2, 1000, torch.float32),
    (32, 8, False, True, True, "constant", 3, 333, torch.float32),
    (400, 160, True, False, True, "reflect", 1, 16000, torch.float32),
    (128, 32, True, False, True, "replicate", 5, 2000, torch.float64),
    (40, 64, True, False, False, "reflect", 2, 900, torch.float32),  # hop > n_fft: gaps between frames (stft only)
]


def _id(case):
    n_fft, hop, onesided, cplx, center, pad_mode, B, T, dtype = case
    return (f"n{n_fft}-h{hop}-{'one' if onesided else 'two'}sided-{'complex' if cplx else 'real'}-"
            f"{pad_mode if center else 'nocenter'}-B{B}-T{T}-{str(dtype).split('.')[-1]}")


@pytest.fixture(params=[1, 2, 3, 7], ids=lambda n: f"threads{n}")
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_modes_at_thread_counts(case, threads):
    n_fft, hop, onesided, cplx, center, pad_mode, B, T, dtype = case
    g = generator(len(CASES) * threads + CASES.index(case))
    x = torch.randn(B, T, dtype=dtype, generator=g)
    if cplx:
        x = torch.complex(x, torch.randn(B, T, dtype=dtype, generator=g))
    w = torch.hann_window(n_fft, dtype=dtype) + 0.1  # nonzero everywhere: NOLA holds for every hop <= n_fft
    kw = dict(n_fft=n_fft, hop_length=hop, window=w, center=center, pad_mode=pad_mode, onesided=onesided,
              return_complex=True)

    xs = x.clone().requires_grad_(True)
    xt = x.clone().requires_grad_(True)
    S_s, S_t = spectro.stft(xs, **kw), torch.stft(xt, **kw)
    assert_close_fft(S_s, S_t, n_fft, what=f"stft, {threads} threads")
    G = torch.randn(S_t.shape, dtype=S_t.dtype, generator=g)
    (gs,), (gt,) = torch.autograd.grad(S_s, xs, G), torch.autograd.grad(S_t, xt, G)
    assert_close_fft(gs, gt, n_fft, what=f"stft backward, {threads} threads", check_strides=False)

    if hop > n_fft:
        return  # istft needs frames that cover the signal
    ikw = dict(n_fft=n_fft, hop_length=hop, window=w, center=center, onesided=onesided, length=T,
               return_complex=cplx)
    Ss = S_t.detach().clone().requires_grad_(True)
    St = S_t.detach().clone().requires_grad_(True)
    y_s, y_t = spectro.istft(Ss, **ikw), torch.istft(St, **ikw)
    assert_close_fft(y_s, y_t, n_fft, what=f"istft, {threads} threads")
    Gy = torch.randn(y_t.shape, dtype=y_t.dtype, generator=g)
    (hs,), (ht,) = torch.autograd.grad(y_s, Ss, Gy), torch.autograd.grad(y_t, St, Gy)
    assert_close_fft(hs, ht, n_fft, what=f"istft backward, {threads} threads", check_strides=False)
