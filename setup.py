"""Build spectro: the operator library (CPU always, CUDA when the installed torch has CUDA and nvcc is available) and
its Python binding.

    pip install --no-build-isolation -e .

Two shared libraries:
  spectro/lib/libspectro.so   every op, its kernels and autograd, and the public C++ API (spectro/include); no Python.
                              C++ programs link it (CMake: find_package(spectro) with spectro.cmake_prefix_path).
  spectro/_C.*.so             the Python module: direct entry points of the ops; links libspectro.so.

Environment: SPECTRO_FORCE_CPU=1 skips CUDA; TORCH_CUDA_ARCH_LIST (default "9.0") picks the GPU architectures;
MAX_JOBS caps ninja's parallelism.
"""
import glob
import os
import shutil
import sys

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))
LIB = "spectro.lib.libspectro"


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


def runtime_library_dirs(cuda: bool):
    """The folders of the shared libraries libspectro.so needs: torch's lib folder and, for CUDA, the folder of the CUDA
    runtime torch loaded (a pip wheel's nvidia/.../lib, else CUDA_HOME's).

    They become libspectro.so's RUNPATH, so that a C++ program finds them however it was linked: a RUNPATH is not
    inherited, and the program's own (which names torch's lib folder) does not serve the libraries it loads.
    """
    dirs = [os.path.join(os.path.dirname(torch.__file__), "lib")]
    if cuda:
        cudart = None
        try:
            with open("/proc/self/maps") as maps:
                cudart = next((line.split()[-1] for line in maps if "/libcudart.so" in line), None)
        except OSError:
            pass
        dirs.append(os.path.dirname(cudart) if cudart else os.path.join(CUDA_HOME, "lib64"))
    return dirs


def sources(*patterns):
    return sorted(f for p in patterns for f in glob.glob(os.path.join("csrc", p)))


def extensions():
    pick_host_compiler()
    include_dirs = [os.path.join(ROOT, "spectro", "include")]
    cxx = ["-O3", "-Wall", "-Wno-unused-function"]
    # at::parallel_for is an inline template: without -fopenmp it compiles to a serial loop in this library (torch
    # builds with OpenMP). The library then uses the libgomp torch loaded (same soname), so one thread pool serves both.
    openmp = ["-fopenmp"] if torch.backends.openmp.is_available() and sys.platform.startswith("linux") else []
    lib_sources = sources("ops/*.cpp", "api/*.cpp", "autograd/*.cpp")
    cuda = want_cuda()
    rpath = ["-Wl,-rpath," + d for d in runtime_library_dirs(cuda)]
    if cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
        lib_sources += sources("ops/*.cu", "kernels/cuda/instances/*.cu")
        nvcc = ["-O3", "-lineinfo", "--expt-relaxed-constexpr"]
        lib = CUDAExtension(LIB, lib_sources, include_dirs=include_dirs,
                            extra_compile_args={"cxx": cxx + openmp, "nvcc": nvcc}, extra_link_args=rpath + openmp)
    else:
        lib = CppExtension(LIB, lib_sources, include_dirs=include_dirs, extra_compile_args={"cxx": cxx + openmp},
                           extra_link_args=rpath + openmp)
    # The library serves C++ programs too: it must not need libtorch_python (which needs a Python interpreter).
    lib.libraries = [name for name in lib.libraries if name != "torch_python"]
    binding = CppExtension(
        "spectro._C", [os.path.join("csrc", "python", "module.cpp")], include_dirs=include_dirs,
        extra_compile_args={"cxx": cxx + ["-fvisibility=hidden"]}, libraries=["spectro"],
        extra_link_args=["-Wl,-rpath,$ORIGIN/lib"],
    )
    return [lib, binding]


class Build(BuildExtension.with_options(use_ninja=True)):
    """Names the operator library libspectro.so (no Python ABI suffix) and links the binding against it."""

    def get_ext_filename(self, fullname):
        parts = fullname.split(".")
        if parts[-1] == LIB.split(".")[-1]:  # (setuptools asks with the full name or with its last part)
            return os.path.join(*parts[:-1], "libspectro.so")
        return super().get_ext_filename(fullname)

    def build_extensions(self):
        lib_dir = os.path.dirname(self.get_ext_fullpath(LIB))
        for ext in self.extensions:
            if ext.name != LIB:
                ext.library_dirs = list(ext.library_dirs) + [lib_dir]
        # The library first: the binding links it.
        self.extensions.sort(key=lambda e: e.name != LIB)
        os.makedirs(os.path.join(ROOT, "spectro", "lib"), exist_ok=True)  # (where --inplace / editable copies it)
        super().build_extensions()


setup(ext_modules=extensions(), cmdclass={"build_ext": Build})
