"""Autograd for spectro::analysis and spectro::synthesis.

The two ops are transposes of each other (csrc/kernels/common.h), so the input gradient of one is the other op with
the same geometry and the adjoint FFT mode. Both backward formulas call registered ops, so they are differentiable
themselves: double backward needs nothing extra.

The window gradient is a reduction over batch and frames. It is computed here with torch ops from the same
definitions (materialising [batch, frames, n_fft] intermediates, and only when the window requires grad), which keeps
it differentiable too.

Autograd is registered from Python (torch.library.register_autograd) rather than in C++ because that is the path
torch.compile, torch.export and opcheck support for custom ops; libtorch users get forward kernels only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Each FFT mode and its transpose.
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

ENVELOPE_EPS = 1e-11


def source_index(length: int, pad: int, span: int, pad_mode: str, device) -> torch.Tensor:
    """Signal sample read at each padded position p in [0, span), -1 for zero padding (kernels' pad_source)."""
    i = torch.arange(span, device=device) - pad
    if pad_mode == "reflect":
        return torch.where(i < 0, -i, torch.where(i >= length, 2 * (length - 1) - i, i))
    if pad_mode == "replicate":
        return i.clamp(0, length - 1)
    if pad_mode == "circular":
        return torch.where(i < 0, i + length, torch.where(i >= length, i - length, i))
    return torch.where((i >= 0) & (i < length), i, -1)


def padded(sig: torch.Tensor, pad: int, span: int, pad_mode: str) -> torch.Tensor:
    """sig[:, src(p)] for p in [0, span) (zero where src(p) = -1), differentiable in sig."""
    idx = source_index(sig.shape[-1], pad, span, pad_mode, sig.device)
    out = sig[:, idx.clamp(min=0)]
    return torch.where(idx >= 0, out, torch.zeros((), dtype=out.dtype, device=out.device))


def frames_of(sig: torch.Tensor, n_fft: int, hop: int, n_frames: int) -> torch.Tensor:
    """[..., span] -> [..., n_frames, n_fft]."""
    return sig.unfold(-1, n_fft, hop)[..., :n_frames, :]


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """[B, n_frames, n_fft] (real) -> [B, span]: sum of frames placed at n * hop."""
    b, n_frames, n_fft = frames.shape
    span = n_fft + hop * (n_frames - 1)
    out = F.fold(frames.transpose(1, 2), output_size=(1, span), kernel_size=(1, n_fft), stride=(1, hop))
    return out.reshape(b, span)


def envelope(window: torch.Tensor, hop: int, n_frames: int) -> torch.Tensor:
    """sum_n window[p - n*hop]^2 over padded positions p in [0, span)."""
    w2 = (window * window).reshape(1, 1, -1).expand(1, n_frames, window.shape[0])
    return overlap_add(w2, hop)[0]


def envelope_scale(window: torch.Tensor, hop: int, n_frames: int) -> torch.Tensor:
    """h(p) = 1 / envelope(p), 0 where the envelope is below 1e-11 (as the kernels do)."""
    env = envelope(window, hop, n_frames)
    small = env < ENVELOPE_EPS
    return torch.where(small, torch.zeros_like(env), 1.0 / torch.where(small, torch.ones_like(env), env))


def synthesis_frames(spec: torch.Tensor, fft_mode: str, n_fft: int) -> torch.Tensor:
    """The unnormalised inverse FFT that spectro::synthesis applies: spec [B, F, N] -> frames [B, N, n_fft]."""
    st = spec.transpose(1, 2)
    if fft_mode == "irfft":
        return torch.fft.irfft(st, n=n_fft, dim=-1, norm="forward")
    if fft_mode == "irfft_half":
        bins = st.shape[-1]
        weight = torch.ones(bins, dtype=st.real.dtype, device=st.device)
        weight[1 : 1 + n_fft - bins] = 0.5
        return torch.fft.irfft(st * weight, n=n_fft, dim=-1, norm="forward")
    full = torch.fft.ifft(st, n=n_fft, dim=-1, norm="forward")
    return full.real if fft_mode == "ifft_real" else full


def _real_inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Re(conj(a) * b), elementwise."""
    if a.is_complex() or b.is_complex():
        a = a if a.is_complex() else torch.complex(a, torch.zeros_like(a))
        b = b if b.is_complex() else torch.complex(b, torch.zeros_like(b))
        return a.real * b.real + a.imag * b.imag
    return a * b


def window_grad(coef: torch.Tensor, window, hop: int, n_frames: int, env_normalize: bool) -> torch.Tensor:
    """Gradient in w of  sum_{b,n,k} coef[b,n,k] * w[k] * h(n*hop + k; w)  (h = 1 unless env_normalize)."""
    if not env_normalize:
        return coef.sum((0, 1))
    n_fft = window.shape[0]
    h = envelope_scale(window, hop, n_frames)
    direct = (coef * frames_of(h, n_fft, hop, n_frames)).sum((0, 1))
    # h(p) = 1/env(p) with env(p) = sum_n w[p - n*hop]^2, so dh/dw[k] = -2 w[k] h(p)^2 at each p = n*hop + k.
    s = overlap_add(coef * window, hop).sum(0)
    return direct - 2 * window * frames_of(h * h * s, n_fft, hop, n_frames).sum(0)


# ----------------------------------------------------------------------------------------------------------------
def _analysis_setup(ctx, inputs, output):
    x, window, n_fft, hop, n_frames, pad, pad_mode, env_normalize, fft_mode, scale = inputs
    ctx.args = (n_fft, hop, n_frames, pad, pad_mode, env_normalize, fft_mode, scale)
    ctx.length = x.shape[-1]
    ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, window)


def _analysis_backward(ctx, grad):
    n_fft, hop, n_frames, pad, pad_mode, env_normalize, fft_mode, scale = ctx.args
    x, window = ctx.saved_tensors
    grad_x = grad_w = None
    if ctx.needs_input_grad[0]:
        grad_x = torch.ops.spectro.synthesis(
            grad, window, n_fft, hop, ctx.length, pad, pad_mode, env_normalize, ADJOINT_MODE[fft_mode], scale
        )
    if ctx.needs_input_grad[1]:
        span = n_fft + hop * (n_frames - 1)
        xf = frames_of(padded(x, pad, span, pad_mode), n_fft, hop, n_frames)
        gf = synthesis_frames(grad, ADJOINT_MODE[fft_mode], n_fft) * scale
        grad_w = window_grad(_real_inner(xf, gf), window, hop, n_frames, env_normalize)
    return grad_x, grad_w, None, None, None, None, None, None, None, None


def _synthesis_setup(ctx, inputs, output):
    spec, window, n_fft, hop, length, pad, pad_mode, env_normalize, fft_mode, scale = inputs
    ctx.args = (n_fft, hop, length, pad, pad_mode, env_normalize, fft_mode, scale)
    ctx.n_frames = spec.shape[-1]
    ctx.save_for_backward(spec if ctx.needs_input_grad[1] else None, window)


def _synthesis_backward(ctx, grad):
    n_fft, hop, length, pad, pad_mode, env_normalize, fft_mode, scale = ctx.args
    spec, window = ctx.saved_tensors
    n_frames = ctx.n_frames
    grad_spec = grad_w = None
    if ctx.needs_input_grad[0]:
        grad_spec = torch.ops.spectro.analysis(
            grad, window, n_fft, hop, n_frames, pad, pad_mode, env_normalize, ADJOINT_MODE[fft_mode], scale
        )
    if ctx.needs_input_grad[1]:
        span = n_fft + hop * (n_frames - 1)
        gf = frames_of(padded(grad, pad, span, pad_mode), n_fft, hop, n_frames)
        f = synthesis_frames(spec, fft_mode, n_fft)
        grad_w = window_grad(_real_inner(gf, f) * scale, window, hop, n_frames, env_normalize)
    return grad_spec, grad_w, None, None, None, None, None, None, None, None


def register() -> None:
    torch.library.register_autograd("spectro::analysis", _analysis_backward, setup_context=_analysis_setup)
    torch.library.register_autograd("spectro::synthesis", _synthesis_backward, setup_context=_synthesis_setup)
