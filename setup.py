"""Build spectro's operator library: CPU always, CUDA when the installed torch has CUDA and nvcc is available.

    pip install --no-build-isolation -e .

Environment: SPECTRO_FORCE_CPU=1 skips CUDA; TORCH_CUDA_ARCH_LIST (default "9.0") picks the GPU architectures;
MAX_JOBS caps ninja's parallelism.
"""
import glob
import os
import shutil
import subprocess

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def _loaded_libstdcxx():
    """Path of the libstdc++ this process (which imported torch) runs with, from /proc/self/maps (Linux only)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "libstdc++.so" in path:
                    return os.path.realpath(path)
    except OSError:
        pass
    return None


def _compiler_libstdcxx(cxx):
    try:
        out = subprocess.run([cxx, "-print-file-name=libstdc++.so.6"], capture_output=True, text=True, timeout=30)
        return os.path.realpath(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def pick_host_compiler():
    """Compile with a g++ whose libstdc++ is the one torch runs with.

    Code compiled against a newer libstdc++'s headers than the runtime one can crash (seen: an image whose CXX points
    at a separately installed GCC; formatting an integer into an error message segfaulted). If $CXX's libstdc++ is
    not the loaded one but another compiler on PATH matches it, use that one. SPECTRO_KEEP_CXX=1 disables this.
    """
    if os.environ.get("SPECTRO_KEEP_CXX") == "1":
        return
    loaded = _loaded_libstdcxx()
    current = os.environ.get("CXX", "c++")
    if loaded is None or _compiler_libstdcxx(current) in (None, loaded):
        return
    for candidate in ("/usr/bin/g++", "/usr/bin/c++", "g++", "c++"):
        path = shutil.which(candidate)
        if path and _compiler_libstdcxx(path) == loaded:
            print(f"spectro setup: CXX={current} targets another libstdc++ than torch's ({loaded}); using {path}")
            os.environ["CXX"] = path
            cc = os.path.join(os.path.dirname(path), "gcc")
            if os.path.exists(cc):
                os.environ["CC"] = cc
            return


def want_cuda() -> bool:
    if os.environ.get("SPECTRO_FORCE_CPU", "0") == "1":
        return False
    return torch.version.cuda is not None and CUDA_HOME is not None


def extension():
    pick_host_compiler()
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
