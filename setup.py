"""Build spectro's operator library: CPU always, CUDA when the installed torch has CUDA and nvcc is available.

    pip install --no-build-isolation -e .

Environment: SPECTRO_FORCE_CPU=1 skips CUDA; TORCH_CUDA_ARCH_LIST (default "9.0") picks the GPU architectures;
MAX_JOBS caps ninja's parallelism.
"""
import glob
import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def want_cuda() -> bool:
    if os.environ.get("SPECTRO_FORCE_CPU", "0") == "1":
        return False
    return torch.version.cuda is not None and CUDA_HOME is not None


def extension():
    cxx = ["-O3", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"]
    sources = [os.path.join("csrc", "spectro.cpp"), os.path.join("csrc", "autograd.cpp")]
    if want_cuda():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
        sources += sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
        nvcc = ["-O3", "-lineinfo", "--expt-relaxed-constexpr"]
        return CUDAExtension(
            "spectro._C", sources, extra_compile_args={"cxx": cxx, "nvcc": nvcc}, py_limited_api=False
        )
    return CppExtension("spectro._C", sources, extra_compile_args={"cxx": cxx})


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
