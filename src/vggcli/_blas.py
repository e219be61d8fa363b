"""Two settings of the BLAS libraries: OpenBLAS's AVX-512 kernels on CPUs that OpenBLAS does not
recognise, and scipy's own BLAS kept to one thread while it works between numpy's GEMMs.

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
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path

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


def private_to_scipy(filepath: str) -> bool:
    """Whether a loaded library is one that scipy's wheels bring for themselves
    (``scipy.libs/`` on Linux and Windows, ``scipy/.dylibs/`` on macOS), not numpy's."""
    return any(part.startswith("scipy") for part in Path(filepath).parent.parts[-2:])


@contextmanager
def scipy_blas_single_threaded() -> Iterator[None]:
    """Keep scipy's own BLAS to one thread inside the block (numpy's is left alone).

    numpy's and scipy's wheels each load their own OpenBLAS, each with a pool of one thread per
    core, and an OpenBLAS thread that has finished its work spins for about 0.1 s before it
    sleeps. L-BFGS-B (scipy) calls its BLAS on every iteration between two evaluations of the
    network (numpy's GEMMs): scipy's spinning threads then take the cores numpy's need. Measured
    on 2 cores, 30 L-BFGS iterations on the style objective (``benchmarks/stylize.py
    --blas-only``): 6.7–7.2 s → 3.4–4.1 s at 128 px, 13.4–13.6 → 9.4–9.6 s at 256,
    35.6–39.6 → 31.6–35.0 s at 512. Where scipy and numpy share one BLAS (conda), nothing is
    changed.
    """
    from threadpoolctl import ThreadpoolController  # here: it scans the loaded libraries

    controller = ThreadpoolController()
    own = [
        lib.filepath
        for lib in controller.lib_controllers
        if lib.user_api == "blas" and private_to_scipy(lib.filepath)
    ]
    if not own:
        yield
        return
    with controller.select(filepath=own).limit(limits=1):
        yield
