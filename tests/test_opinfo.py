"""PyTorch's own OpInfo samples for torch.stft / torch.istft (torch.testing._internal.common_methods_invocations),
run through spectro and compared with torch: values, dtypes, shapes and strides, and gradients of the input and the
window. Skipped only where torch's testing package cannot be imported (it needs the ``expecttest`` package). (torch's
OpInfos for stft / istft define no error inputs; tests/test_errors.py compares spectro's errors with torch's.)"""
from __future__ import annotations

import warnings

import pytest
import torch

import spectro

try:
    from torch.testing._internal.common_methods_invocations import op_db
except Exception as exc:  # noqa: BLE001
    pytest.skip(f"torch's OpInfo database cannot be imported: {exc}", allow_module_level=True)

OPS = {op.name: op for op in op_db if op.name in ("stft", "istft") and op.variant_test_name == ""}
SPECTRO = {"stft": spectro.stft, "istft": spectro.istft}

# Float rounding of two implementations of the same transform, relative to the result's largest magnitude.
RTOL = {torch.float32: 2e-5, torch.complex64: 2e-5, torch.float64: 1e-12, torch.complex128: 1e-12}


def _samples(name, device, dtype, requires_grad):
    op = OPS[name]
    return list(op.sample_inputs(device, dtype, requires_grad=requires_grad))


def _cases(device_type="cpu"):
    cases = []
    for name, op in sorted(OPS.items()):
        for dtype in sorted(op.supported_dtypes(device_type), key=str):
            cases.append(pytest.param(name, dtype, id=f"{name}-{str(dtype).replace('torch.', '')}"))
    return cases


def _close(actual, expected, dtype, what):
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != torch's {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch's {expected.dtype}"
    scale = max(expected.abs().max().item(), 1e-30) if expected.numel() else 1.0
    err = (actual - expected).abs().max().item() if expected.numel() else 0.0
    assert err <= RTOL[dtype] * scale, f"{what}: max error {err:.3g} against torch (max |torch| {scale:.3g})"


def _call(fn, sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(sample.input, *sample.args, **sample.kwargs)


@pytest.mark.parametrize("name, dtype", _cases())
def test_opinfo_samples_match_torch(name, dtype, device):
    samples = _samples(name, device, dtype, requires_grad=False)
    assert samples, "torch's OpInfo gave no samples"
    for i, sample in enumerate(samples):
        expected = _call(OPS[name].op, sample)
        actual = _call(SPECTRO[name], sample)
        what = f"{name} sample {i} (input {tuple(sample.input.shape)}, {sample.kwargs.keys()})"
        _close(actual, expected, dtype, what)
        if name == "stft":
            assert actual.stride() == expected.stride(), f"{what}: strides {actual.stride()} != {expected.stride()}"


@pytest.mark.parametrize("name, dtype", _cases())
def test_opinfo_sample_gradients_match_torch(name, dtype, device):
    samples = _samples(name, device, dtype, requires_grad=True)
    for i, sample in enumerate(samples):
        window = sample.kwargs.get("window")
        leaves = [sample.input] + ([window] if isinstance(window, torch.Tensor) and window.requires_grad else [])
        expected = _call(OPS[name].op, sample)
        gen = torch.Generator().manual_seed(i)
        grad = torch.randn(expected.shape, generator=gen, dtype=expected.dtype).to(device)
        # (torch's graph may not use a window that cannot affect the result: allow_unused, then None == zeros)
        want = torch.autograd.grad(expected, leaves, grad, allow_unused=True)
        got = torch.autograd.grad(_call(SPECTRO[name], sample), leaves, grad, allow_unused=True)
        for j, (g, w) in enumerate(zip(got, want)):
            what = f"{name} sample {i}: gradient of {'input' if j == 0 else 'window'}"
            if w is None:
                assert g is None or not g.any(), f"{what}: torch's is None (unused), spectro's is not zero"
                continue
            assert g is not None, f"{what}: spectro's is None, torch's is not"
            _close(g, w, dtype, what)
