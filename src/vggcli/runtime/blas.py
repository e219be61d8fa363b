"""OpenBLAS's AVX-512 kernels on CPUs that OpenBLAS does not recognise.

OpenBLAS (the BLAS inside numpy's wheels) chooses its GEMM kernels from the CPU model when it is
loaded. A CPU newer than the OpenBLAS build (for example AMD Zen 5) falls back to the AVX2
"Haswell" kernels, which run float32 GEMM at about half the speed of the AVX-512 "SkylakeX"
kernels on the same machine (measured here: 210 vs 390 GFLOP/s on 2 cores). Every fast path of
vggcli is a GEMM, so this matters more than anything else we could do in Python.

The choice has to be made through the ``OPENBLAS_CORETYPE`` environment variable before numpy is
first imported. A value the user has set is never touched, which is also how to opt out; when
that value leaves the CPU's AVX-512 unused, :func:`avx512_unused` says so, for ``vgg bench`` to
explain why PyTorch (which uses AVX-512 regardless) is faster.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping

# The instruction subsets OpenBLAS's SkylakeX kernels use.
_SKYLAKEX_FLAGS = frozenset({"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"})
# OpenBLAS core types whose kernels use AVX-512 (lower case)
_AVX512_CORETYPES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})


def _cpu_flags(cpuinfo_path: str) -> frozenset[str]:
    try:
        with open(cpuinfo_path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def choose_openblas_kernel(
    environ: MutableMapping[str, str] = os.environ,
    cpuinfo_path: str = "/proc/cpuinfo",
    numpy_loaded: bool | None = None,
) -> str | None:
    """Set ``OPENBLAS_CORETYPE=SkylakeX`` when it is safe and useful; return the value set.

    Does nothing (returns None) when numpy is already loaded, when the user chose a kernel, or
    when the CPU lacks the AVX-512 subsets the SkylakeX kernels need.
    """
    if numpy_loaded is None:
        numpy_loaded = "numpy" in sys.modules
    if numpy_loaded or "OPENBLAS_CORETYPE" in environ:
        return None
    if not _cpu_flags(cpuinfo_path) >= _SKYLAKEX_FLAGS:
        return None
    environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    return "SkylakeX"


def avx512_unused(
    environ: Mapping[str, str] = os.environ, cpuinfo_path: str = "/proc/cpuinfo"
) -> str | None:
    """The pinned kernel name when ``OPENBLAS_CORETYPE`` keeps OpenBLAS off the AVX-512 the
    CPU has (PyTorch uses it regardless, so comparisons with it are uneven); else None."""
    chosen = environ.get("OPENBLAS_CORETYPE")
    if not chosen or chosen.lower() in _AVX512_CORETYPES:
        return None
    return chosen if _cpu_flags(cpuinfo_path) >= _SKYLAKEX_FLAGS else None
