"""The process settings vggcli makes at import: OpenBLAS's kernel and glibc's memory reuse."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from vggcli.runtime.blas import avx512_unused, choose_openblas_kernel
from vggcli.runtime.malloc import keep_freed_memory


def test_openblas_kernel_choice(tmp_path):
    avx512 = tmp_path / "avx512"
    avx512.write_text("flags\t: fpu sse avx2 avx512f avx512dq avx512cd avx512bw avx512vl\n")
    plain = tmp_path / "plain"
    plain.write_text("flags\t: fpu sse avx2\n")

    env: dict[str, str] = {}
    assert choose_openblas_kernel(env, str(avx512), numpy_loaded=False) == "SkylakeX"
    assert env == {"OPENBLAS_CORETYPE": "SkylakeX"}
    env = {}
    assert choose_openblas_kernel(env, str(plain), numpy_loaded=False) is None and env == {}
    env = {"OPENBLAS_CORETYPE": "Haswell"}  # the user's choice is kept
    assert choose_openblas_kernel(env, str(avx512), numpy_loaded=False) is None
    assert env == {"OPENBLAS_CORETYPE": "Haswell"}
    env = {}  # too late once numpy has loaded OpenBLAS
    assert choose_openblas_kernel(env, str(avx512), numpy_loaded=True) is None and env == {}
    assert choose_openblas_kernel({}, str(tmp_path / "missing"), numpy_loaded=False) is None


def test_a_kernel_pinned_below_the_cpu_is_reported(tmp_path):
    avx512 = tmp_path / "avx512"
    avx512.write_text("flags\t: fpu sse avx2 avx512f avx512dq avx512cd avx512bw avx512vl\n")
    plain = tmp_path / "plain"
    plain.write_text("flags\t: fpu sse avx2\n")
    assert avx512_unused({"OPENBLAS_CORETYPE": "Haswell"}, str(avx512)) == "Haswell"
    assert avx512_unused({"OPENBLAS_CORETYPE": "SkylakeX"}, str(avx512)) is None
    assert avx512_unused({"OPENBLAS_CORETYPE": "Haswell"}, str(plain)) is None  # nothing unused
    assert avx512_unused({}, str(avx512)) is None  # vggcli chooses SkylakeX itself then


MALLINFO2_FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2: ten size_t counters."""

    _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2_FIELDS.split()]


def test_large_arrays_come_from_the_reused_heap_not_fresh_mmaps():
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    libc.mallinfo2.restype = _MallInfo2
    assert keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"}) is False  # the user's setting wins
    assert keep_freed_memory({}) is True
    mapped_before = libc.mallinfo2().hblkhd
    block = np.ones(16 << 20, dtype=np.float32)  # 64 MB: above glibc's default mmap threshold
    assert libc.mallinfo2().hblkhd - mapped_before < block.nbytes
    assert libc.mallinfo2().uordblks >= block.nbytes  # served by the heap instead
