"""spectro: fast drop-in torch.stft / torch.istft as PyTorch custom ops (CUDA and CPU kernels).

    import spectro
    spec = spectro.stft(x, n_fft=1024, hop_length=256, window=w, return_complex=True)
    y = spectro.istft(spec, n_fft=1024, hop_length=256, window=w, length=x.shape[-1])
"""
import os

import torch

from . import _C  # noqa: F401  (loads the operator library: registers torch.ops.spectro.*)
from . import _vmap
from .functional import istft, stft
from .modules import ISTFT, STFT, MultiResolutionSTFTLoss
from .mel import *  # noqa: F401,F403  (the mel frontends: the names in spectro.mel.__all__; binds spectro.mel)
from . import losses  # noqa: F401  (spectro.losses: auraloss / DAC-style spectral losses)

_vmap.register()  # batching rules of the ops for torch.vmap

__version__ = "0.1.0"
# For C++ programs: CMAKE_PREFIX_PATH entry where find_package(spectro) finds the operator library and the headers of
# the public C++ API (as torch.utils.cmake_prefix_path does for torch).
cmake_prefix_path = os.path.join(os.path.dirname(__file__), "share", "cmake")
__all__ = ["stft", "istft", "STFT", "ISTFT", "MultiResolutionSTFTLoss", "set_kernel_path", "kernel_path", *mel.__all__]


class kernel_path:
    """Force a CUDA kernel variant (tests use it to reach every kernel).

    ``"auto"`` (default): the single kernel with the FFT inside where it applies and was measured faster (float32 /
    complex64, n_fft <= 4096, sizes the fused kernels cover), the two-kernel path (framing / overlap-add kernel +
    cuFFT) elsewhere.
    ``"fused"``: the single kernel wherever it can run (an error where it does not apply: n_fft (n_fft / 2 for real
    signals) must factor into 2, 3 and 5, and synthesis needs hop_length <= 2^30).
    ``"two_kernel"``: the two-kernel path, with its own choice of framing / overlap-add kernel.
    ``"tiled"`` / ``"direct"``: the two-kernel path with the shared-memory tiled or the one-thread-per-element
    framing / overlap-add kernel.

    Usable as a context manager (restores the previous choice) or via :func:`set_kernel_path`.
    """

    PATHS = tuple(_C.KERNEL_PATHS)  # (the names, defined once in C++: csrc/spectro.h)

    def __init__(self, path: str):
        if path not in self.PATHS:
            raise ValueError(f"kernel_path must be one of {', '.join(map(repr, self.PATHS))}, but got {path!r}")
        self.path = path
        self._previous = None

    def __enter__(self):
        self._previous = torch.ops.spectro._set_kernel_path(self.path)
        return self

    def __exit__(self, *exc):
        torch.ops.spectro._set_kernel_path(self._previous)
        return False


def set_kernel_path(path: str) -> None:
    """Set the CUDA kernel variant globally (see :class:`kernel_path`)."""
    kernel_path(path).__enter__()
