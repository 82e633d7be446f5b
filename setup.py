"""Build spectro's operator library: CPU always, CUDA when the installed torch has CUDA and nvcc is available.

    pip install --no-build-isolation -e .

Environment: SPECTRO_FORCE_CPU=1 skips CUDA; TORCH_CUDA_ARCH_LIST (default "9.0") picks the GPU architectures;
MAX_JOBS caps ninja's parallelism.
"""
import glob
import os
import shutil

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def pick_host_compiler():
    """Build with the distribution's g++ (/usr/bin/g++) when it exists, even if $CXX names another compiler.

    torch's wheels run against the system libstdc++; an extension built by a separately installed GCC can carry its
    own libstdc++ pieces and crash inside torch's process (seen on a GPU image whose CXX is /opt/gcc/bin/g++: the
    first error message that formats an integer segfaulted). SPECTRO_KEEP_CXX=1 keeps $CXX.
    """
    system = "/usr/bin/g++"
    current = os.environ.get("CXX")
    if os.environ.get("SPECTRO_KEEP_CXX") == "1" or not current or not os.path.exists(system):
        return
    if os.path.realpath(shutil.which(current) or current) != os.path.realpath(system):
        print(f"spectro setup: building with {system} instead of CXX={current} (SPECTRO_KEEP_CXX=1 keeps it)")
        os.environ["CXX"] = system
        if os.path.exists("/usr/bin/gcc"):
            os.environ["CC"] = "/usr/bin/gcc"


def want_cuda() -> bool:
    if os.environ.get("SPECTRO_FORCE_CPU", "0") == "1":
        return False
    return torch.version.cuda is not None and CUDA_HOME is not None


def extension():
    pick_host_compiler()
    cxx = ["-O3", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"]
    sources = [os.path.join("csrc", n) for n in ("spectro.cpp", "autograd.cpp", "python.cpp")]
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
