"""Shared pytest configuration for spectro's test suite.

Device parametrisation
----------------------
Every test that takes a ``device`` argument runs on ``"cpu"`` and, when ``torch.cuda.is_available()``, on
``"cuda"`` (those cases carry the ``cuda`` marker and are skipped without a GPU, so the test ids are the same on
every machine).

Tests marked ``@pytest.mark.kernel_paths`` additionally run their CUDA case once per CUDA kernel variant
(``spectro.kernel_path("auto" | "tiled" | "direct" | "fused")``: see KERNEL_PATHS below); the CPU case runs once (the
kernel path only selects CUDA kernels). The ``device`` fixture enters the ``kernel_path`` context for the
duration of the test and yields the device string, so the test body is path-agnostic. ``kpath`` (a fixture) tells
which path is active.

Markers: ``cuda`` (needs a GPU), ``slow`` (long-running: deselect with ``-m "not slow"``), ``kernel_paths``.
"""
from __future__ import annotations

import os
import warnings

import pytest
import torch

import spectro

HAS_CUDA = torch.cuda.is_available()
# The CUDA kernel variants that spectro.kernel_path knows (new variants are picked up automatically). "auto" takes
# the single-kernel path where it applies in single precision, else the two-kernel path; "tiled" and "direct" force
# the two-kernel path with each of its framing / overlap-add kernels; "fused" forces the
# single-kernel path, which raises (by design) where it does not cover a geometry: such cases are reported as skipped
# by pytest_runtest_makereport below, so every parity test reaches the fused kernels wherever they apply.
# "two_kernel" is left out: it runs the same kernels as "tiled" / "direct" (its own choice between them);
# test_cuda.py's test_kernel_paths_agree still checks it against the others.
ALL_KERNEL_PATHS = spectro.kernel_path.PATHS
KERNEL_PATHS = tuple(p for p in ALL_KERNEL_PATHS if p != "two_kernel")


def pytest_configure(config):
    # "cuda" and "slow" are also declared in pyproject.toml; declaring them again is harmless.
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one)")
    config.addinivalue_line("markers", "slow: long-running (deselect with -m 'not slow')")
    config.addinivalue_line("markers", "serial: needs the device to itself (gpu_check.sh runs these in one process)")
    config.addinivalue_line(
        "markers", "kernel_paths: run the CUDA case under each of spectro.kernel_path('auto'|'tiled'|'direct'|'fused')"
    )


def _device_params(all_paths: bool):
    cuda_marks = [pytest.mark.cuda]
    params = [pytest.param(("cpu", "auto"), id="cpu")]
    paths = KERNEL_PATHS if all_paths else ("auto",)
    for path in paths:
        params.append(pytest.param(("cuda", path), id="cuda" if not all_paths else f"cuda-{path}", marks=cuda_marks))
    return params


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        all_paths = metafunc.definition.get_closest_marker("kernel_paths") is not None
        metafunc.parametrize("device", _device_params(all_paths), indirect=True)


def pytest_collection_modifyitems(config, items):
    # SPECTRO_TEST_SHARD=i/n: only the tests at positions i, i + n, i + 2n, ... of the collection (0 <= i < n), so
    # that n runs cover the suite once with about the same mix of tests each (scripts/gpu_check.sh's PYTEST_SHARD: a
    # GPU suite split over several calls of a limited length).
    shard = os.environ.get("SPECTRO_TEST_SHARD", "")
    if shard:
        try:
            i, n = (int(v) for v in shard.split("/"))
        except ValueError:
            raise pytest.UsageError(f"SPECTRO_TEST_SHARD must be i/n, got {shard!r}") from None
        if not 0 <= i < n:
            raise pytest.UsageError(f"SPECTRO_TEST_SHARD: need 0 <= i < n, got {shard!r}")
        keep = [item for k, item in enumerate(items) if k % n == i]
        dropped = [item for k, item in enumerate(items) if k % n != i]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="CUDA is not available")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A forced kernel variant that does not cover a geometry raises by design ("spectro: kernel_path('fused')
    cannot run ..."): report such a test as skipped for that variant rather than failed. Only for forced (non-auto)
    variants, so that auto never gets this leniency."""
    outcome = yield
    rep = outcome.get_result()
    path = getattr(item, "_spectro_kpath", "auto")
    if rep.when != "call" or not rep.failed or call.excinfo is None or path == "auto":
        return
    msg = str(call.excinfo.value)
    if call.excinfo.errisinstance(RuntimeError) and f"kernel_path('{path}') cannot run" in msg:
        rep.outcome = "skipped"
        rep.longrepr = (str(item.path), item.location[1] or 0, f"kernel_path({path!r}) does not cover this case")


@pytest.fixture
def device(request):
    dev, path = request.param
    if dev == "cuda" and not HAS_CUDA:  # pragma: no cover - collection already skips these
        pytest.skip("CUDA is not available")
    request.node._spectro_kpath = path
    with spectro.kernel_path(path):
        yield dev


@pytest.fixture
def kpath(request, device):
    """The spectro.kernel_path active in this test ("auto" on CPU)."""
    return request.node._spectro_kpath


@pytest.fixture
def cuda_device():
    """For CUDA-only tests (tests/test_cuda.py)."""
    if not HAS_CUDA:
        pytest.skip("CUDA is not available")
    return "cuda"


@pytest.fixture(autouse=True)
def _fresh_spectro_state():
    """Each test starts with spectro's once-per-process warnings un-emitted and an empty NOLA pass cache, so tests
    do not depend on their order (both are process-global, in C++)."""
    spectro._C.reset_warnings()
    spectro._C.nola_cache_clear()
    yield


@pytest.fixture
def quiet():
    """Silence the rectangular-window / deprecation warnings (both libraries) in tests that do not check them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield
