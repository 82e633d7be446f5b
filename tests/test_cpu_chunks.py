"""The CPU kernels' chunks of frames, at several intra-op thread counts.

On the CPU the frames are framed (or overlap-added) and transformed a chunk at a time, each chunk in one thread of
ATen's pool (kernels/cpu/frame_ola.h): the chunk size follows the geometry and ``torch.get_num_threads()``, chunks
cross batch rows, and the overlap-add runs the chunks of even index before the odd ones. Every FFT mode (onesided,
two-sided and complex stft; their istfts, with real and complex output; the backward of each, which runs the other
direction's modes) is compared with torch at 1, 2, 3 and 7 threads, so that each count of chunks per thread and each
way a chunk can meet a batch row's end is reached. Where torch's CPU library carries MKL (x86-64 Linux), the analysis
chunks are transformed by MKL's DFTI straight into the result (csrc/ops/mkl_dft.cpp); elsewhere by ATen's FFT.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

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


# The mel frontend on the CPU runs the same chunks through powers, projection and log stage (kernels/cpu/mel.h):
# n_fft, hop, power, mag_eps, log, log_mode, batch, samples, dtype
MEL_CASES = [
    (400, 160, 2.0, 0.0, "log10", "clamp", 3, 5000, torch.float32),
    (1024, 256, 1.0, 1e-9, "ln", "clamp", 2, 9000, torch.float32),
    (256, 64, 1.0, 0.0, "ln", "add", 3, 3000, torch.float64),
    (512, 128, 1.5, 0.0, "db", "clamp", 2, 4000, torch.float32),
    (128, 32, 2.0, 0.0, None, "clamp", 5, 1000, torch.float32),
    (256, 64, 2.0, 0.0, "ln", "log1p", 1, 2048, torch.float32),
]


def _mel_id(case):
    n_fft, hop, power, mag_eps, log, log_mode, B, T, dtype = case
    return f"n{n_fft}-h{hop}-p{power:g}-{log}-{log_mode}-B{B}-T{T}-{str(dtype).split('.')[-1]}"


def _mel_reference(x, basis, n_fft, hop, power, mag_eps, log, log_mode, log_eps):
    """The frontend's stages as torch ops, in x's dtype (differentiable)."""
    X = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft, dtype=x.dtype), center=True, pad_mode="reflect",
                   return_complex=True)
    mel = basis @ (X.real ** 2 + X.imag ** 2 + mag_eps) ** (power / 2)
    scale = {"ln": 1.0, "log10": 1 / 2.302585092994046, "db": 20 / (power * 2.302585092994046), None: 1.0}[log]
    if log is None:
        return mel
    if log_mode == "clamp":
        return scale * mel.clamp_min(log_eps).log()
    if log_mode == "add":
        return scale * (mel + log_eps).log()
    return scale * mel.log1p()


def _basis(n_fft, dtype, dense, g):
    """A triangular filterbank (projected over each band's nonzero bins), or one with every weight nonzero (the
    dense matrix product)."""
    basis = spectro.mel_filters(16000, n_fft, 40, dtype=dtype)
    return basis + 1e-3 * torch.rand(basis.shape, generator=g, dtype=dtype) if dense else basis


@pytest.mark.parametrize("dense", [False, True], ids=["bands", "dense"])
@pytest.mark.parametrize("case", MEL_CASES, ids=_mel_id)
def test_mel_at_thread_counts(case, threads, dense):
    """spectro.log_mel_spectrogram against the same stages in torch, in float64 on the widened inputs."""
    n_fft, hop, power, mag_eps, log, log_mode, B, T, dtype = case
    g = generator(1000 + len(MEL_CASES) * threads + MEL_CASES.index(case))
    x = torch.randn(B, T, dtype=dtype, generator=g)
    basis = _basis(n_fft, dtype, dense, g)
    log_eps = 1e-5
    got = spectro.log_mel_spectrogram(x, 16000, n_fft, hop, n_mels=40, power=power, mag_eps=mag_eps,
                                      mel_basis=basis, log=log, log_eps=log_eps, log_mode=log_mode)

    ref = _mel_reference(x.double(), basis.double(), n_fft, hop, power, mag_eps, log, log_mode, log_eps)
    assert got.shape == ref.shape and got.dtype == dtype and got.is_contiguous()
    # mel values: relative to the largest (float rounding of the FFT, squares and band sums); log values: absolute
    # (d log m = dm / m, and m >= log_eps where it matters)
    eps = torch.finfo(dtype).eps
    err = (got.double() - ref).abs().max().item()
    bound = (64 * eps * ref.abs().max().item()) if log is None else 64 * eps * max(1.0, ref.abs().max().item())
    assert err <= bound, f"{threads} threads: max error {err:.3g} > {bound:.3g}"


@pytest.mark.parametrize("dense", [False, True], ids=["bands", "dense"])
@pytest.mark.parametrize("case", MEL_CASES, ids=_mel_id)
def test_mel_backward_at_thread_counts(case, threads, dense):
    """The input gradient of spectro.log_mel_spectrogram (the CPU backward recomputes each chunk's spectrum) against
    float64 autograd through the same stages; its error within 2x that of the same stages in torch at x's dtype."""
    n_fft, hop, power, mag_eps, log, log_mode, B, T, dtype = case
    g = generator(2000 + len(MEL_CASES) * threads + MEL_CASES.index(case))
    x = torch.randn(B, T, dtype=dtype, generator=g, requires_grad=True)
    basis = _basis(n_fft, dtype, dense, g)
    args = (n_fft, hop, power, mag_eps, log, log_mode, 1e-5)
    got = spectro.log_mel_spectrogram(x, 16000, n_fft, hop, n_mels=40, power=power, mag_eps=mag_eps,
                                      mel_basis=basis, log=log, log_eps=1e-5, log_mode=log_mode)
    G = torch.randn(got.shape, dtype=dtype, generator=g)
    (gx,) = torch.autograd.grad(got, x, G)
    xd = x.detach().double().requires_grad_()
    (truth,) = torch.autograd.grad(_mel_reference(xd, basis.double(), *args), xd, G.double())
    xt = x.detach().clone().requires_grad_()
    (lib,) = torch.autograd.grad(_mel_reference(xt, basis, *args), xt, G)
    assert gx.shape == x.shape and gx.dtype == dtype
    err = ((gx.double() - truth).norm() / truth.norm()).item()
    lib_err = ((lib.double() - truth).norm() / truth.norm()).item()
    eps = torch.finfo(dtype).eps
    assert err <= 2 * lib_err + 4 * eps, f"{threads} threads: error {err:.3g} vs torch's {lib_err:.3g}"


def test_direct_fft_where_mkl():
    """Where torch's CPU library exports MKL's DFTI (x86-64 Linux builds with MKL), the CPU analysis writes each
    chunk's spectrum straight into the result through it (the entry points resolved at load time); elsewhere it takes
    ATen's FFT."""
    exported = False
    if sys.platform.startswith("linux") and platform.machine() == "x86_64":
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        exported = all(hasattr(lib, f) for f in ("DftiCreateDescriptor_s_1d", "DftiCreateDescriptor_d_1d",
                                                 "DftiSetValue", "DftiCommitDescriptor", "DftiComputeForward",
                                                 "DftiFreeDescriptor"))
    assert spectro._C.cpu_direct_fft() == exported
