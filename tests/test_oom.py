"""Out of GPU memory, CUDA only: a call that cannot allocate raises ``torch.OutOfMemoryError``
(``torch.cuda.OutOfMemoryError``, a RuntimeError) and disturbs nothing: no memory stays allocated, no CUDA error
is left behind, other tensors keep their values, the kernel path setting and the NOLA cache are as before; the next
call that fits succeeds and is correct (bit for bit the result computed before the failure).

Cases: an stft and an istft whose result alone exceeds the card's memory (every kernel path); an stft on the
two-kernel path whose result fits but whose intermediate frames do not (a ballast tensor leaves about 1.5 times the
result free; skipped, with a message, should the path need no such intermediate); a backward (stft -> istft) whose
istft backward cannot allocate, then succeeds once memory is freed.
"""
from __future__ import annotations

import pytest
import torch

import spectro

# serial: the tests fill the device memory to a set amount; scripts/gpu_check.sh runs them after the parallel run, in
# one process, so that no other worker allocates or frees memory meanwhile.
pytestmark = [pytest.mark.cuda, pytest.mark.serial]

PATHS = ["auto", "fused", "two_kernel"]
OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # (the same class; torch.OutOfMemoryError: 2.5+)


def _total_memory() -> int:
    return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory


def _state():
    """What must be unchanged by a failed call."""
    torch.cuda.synchronize()  # raises if a CUDA error was left behind
    return torch.cuda.memory_allocated(), spectro._C.nola_cache_entries()


def _assert_undisturbed(before, sentinel, sentinel_sum, what):
    allocated, nola = before
    torch.cuda.synchronize()
    after = torch.cuda.memory_allocated()
    assert after == allocated, f"[{what}] {after - allocated} bytes still allocated after the OutOfMemoryError"
    assert spectro._C.nola_cache_entries() == nola, f"[{what}] the NOLA cache changed"
    assert torch.equal(sentinel.sum(dtype=torch.float64), sentinel_sum), f"[{what}] another tensor changed"


def _sentinel():
    s = torch.arange(1 << 20, device="cuda", dtype=torch.float32)
    return s, s.sum(dtype=torch.float64)


def _ballast(leave_free: int):
    """Tensors taking all free device memory but `leave_free` bytes (None if there is not that much free): first each
    free block the caching allocator keeps in segments that empty_cache cannot return (a segment part-held by a live
    tensor), then all but `leave_free` of the device's free memory."""
    torch.cuda.empty_cache()
    fillers = [torch.empty(b["size"], dtype=torch.uint8, device="cuda")
               for seg in torch.cuda.memory_snapshot() for b in seg["blocks"]
               if b["state"] == "inactive" and b["size"] >= (1 << 20)]
    free, _ = torch.cuda.mem_get_info()
    n = free - leave_free - (64 << 20)  # (the allocator rounds and keeps some headroom)
    if n <= 0:
        return None
    return fillers + [torch.empty(n, dtype=torch.uint8, device="cuda")]


@pytest.mark.parametrize("path", PATHS)
def test_stft_result_larger_than_device(cuda_device, path, quiet):
    """x: 2^24 samples (64 MB), n_fft 4096, hop 1: a spectrum of 2049 x 2^24 complex64 = 275 GB (more than any
    single card); then a call that fits."""
    T = 1 << 24
    n_fft = 4096
    assert (n_fft // 2 + 1) * T * 8 > 1.5 * _total_memory()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, T, generator=g).cuda()
    w = torch.hann_window(n_fft, device="cuda")
    small = x[:, : 1 << 16]
    with spectro.kernel_path(path):
        expected = spectro.stft(small, n_fft, 1024, window=w, return_complex=True)
        sentinel, ssum = _sentinel()
        before = _state()
        with pytest.raises(OOM):
            spectro.stft(x, n_fft, 1, window=w, return_complex=True)
        _assert_undisturbed(before, sentinel, ssum, f"stft {path}")
        again = spectro.stft(small, n_fft, 1024, window=w, return_complex=True)
    assert torch.equal(again, expected)
    ref = torch.stft(small, n_fft, 1024, window=w, return_complex=True)
    assert ((again - ref).abs().max() / ref.abs().max()).item() < 1e-5


@pytest.mark.parametrize("path", PATHS)
def test_istft_result_larger_than_device(cuda_device, path, quiet):
    """A small spectrum with length = 2^37 samples (512 GB of zero-padded float32 output); then a call that fits.
    NOLA is checked (and cached) before the output is allocated: the cache must hold only the pass of a geometry
    that was really checked."""
    n_fft, hop = 1024, 256
    g = torch.Generator().manual_seed(1)
    spec = torch.randn(2, n_fft // 2 + 1, 64, generator=g, dtype=torch.complex64).cuda()
    w = torch.hann_window(n_fft, device="cuda")
    length = 1 << 37
    assert length * 4 * 2 > 1.5 * _total_memory()
    with spectro.kernel_path(path):
        expected = spectro.istft(spec, n_fft, hop, window=w)
        sentinel, ssum = _sentinel()
        torch.cuda.synchronize()
        allocated = torch.cuda.memory_allocated()
        with pytest.raises(OOM):
            spectro.istft(spec, n_fft, hop, window=w, length=length)
        torch.cuda.synchronize()
        assert torch.cuda.memory_allocated() == allocated
        assert torch.equal(sentinel.sum(dtype=torch.float64), ssum)
        again = spectro.istft(spec, n_fft, hop, window=w)
        # torch_like=True: the geometry with the long length is checked again or was cached as a real pass; either
        # way a call that fits with it (a shorter length past the end) still works and raises nothing
        spectro.istft(spec, n_fft, hop, window=w, length=n_fft * 70, torch_like=True)
    assert torch.equal(again, expected)


def test_two_kernel_stft_intermediate_does_not_fit(cuda_device, quiet):
    """The result fits but the two-kernel path's frames (about as large) do not: OutOfMemoryError, nothing left
    allocated (also not the result, if it was allocated first), and the call succeeds once the ballast is gone."""
    n_fft, hop = 1024, 128
    T = 1 << 25  # spectrum 513 x 2^18 frames x 8 bytes = 1.1 GB; frames 1024 x 2^18 x 4 bytes = 1.1 GB
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, T, generator=g).cuda()
    w = torch.hann_window(n_fft, device="cuda")
    n_frames = 1 + T // hop
    out_bytes = (n_fft // 2 + 1) * n_frames * 8
    with spectro.kernel_path("two_kernel"):
        expected = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
        expected_sum = torch.view_as_real(expected).sum(dtype=torch.float64)
        del expected
        sentinel, ssum = _sentinel()
        ballast = _ballast(int(1.5 * out_bytes))
        if ballast is None:
            pytest.skip("not enough free memory for the set-up")
        before = _state()
        try:
            fitted = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
        except OOM:
            fitted = None
            _assert_undisturbed(before, sentinel, ssum, "two-kernel stft intermediate")
        del ballast
        if fitted is not None:  # (the path needed no intermediate as large as the result: nothing to test here)
            assert torch.equal(torch.view_as_real(fitted).sum(dtype=torch.float64), expected_sum)
            pytest.skip("the two-kernel stft fitted in 1.5x its result's size: no intermediate of that size")
        torch.cuda.empty_cache()
        again = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
    assert torch.equal(torch.view_as_real(again).sum(dtype=torch.float64), expected_sum)


@pytest.mark.parametrize("path", PATHS)
def test_backward_cannot_allocate_then_succeeds(cuda_device, path, quiet):
    """stft -> istft forward fits; the backward, with almost no memory left, raises OutOfMemoryError; with the memory
    back the same graph's backward (retain_graph) gives the gradient computed without pressure."""
    n_fft, hop = 1024, 256
    T = 1 << 24
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(1, T, generator=g).cuda()
    w = torch.hann_window(n_fft, device="cuda")
    G = torch.randn(1, T, generator=g).cuda()

    with spectro.kernel_path(path):
        def forward(x):
            spec = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
            return (spectro.istft(spec * 0.5, n_fft, hop, window=w, length=T) * G).sum()

        x = x0.clone().requires_grad_(True)
        forward(x).backward()
        expected = x.grad.clone()
        x.grad = None
        loss = forward(x)
        sentinel, ssum = _sentinel()
        # About 164 MB free: the gradient of the product (64 MB) fits, istft's backward (a 269 MB spectrum
        # gradient) does not.
        ballast = _ballast(100 << 20)
        if ballast is None:
            pytest.skip("not enough free memory for the set-up")
        before = _state()
        free_before = torch.cuda.mem_get_info()[0]
        torch.cuda.reset_peak_memory_stats()
        with pytest.raises(OOM):
            loss.backward(retain_graph=True)
            torch.cuda.synchronize()
            # (reached only when nothing raised: say how much the backward took with how much free)
            cached = torch.cuda.memory_reserved() - before[0]
            del ballast  # (the failure's traceback would keep it alive into the next test)
            pytest.fail(f"backward ({path}) did not run out of memory: {free_before / 2**20:.0f} MB free, peak "
                        f"allocated {(torch.cuda.max_memory_allocated() - before[0]) / 2**20:.0f} MB over the "
                        f"{before[0] / 2**20:.0f} MB before, {cached / 2**20:.0f} MB reserved beyond that")
        assert x.grad is None
        _assert_undisturbed(before, sentinel, ssum, f"backward {path}")
        del ballast
        torch.cuda.empty_cache()
        loss.backward()
    assert torch.equal(x.grad, expected)
