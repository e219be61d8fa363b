"""How many threads the maths uses: by default as many as the cores this process may run on
(its CPU affinity, which a container, ``taskset`` or a SLURM job narrows, not the machine's
count); ``--threads N`` sets it while the command runs, through threadpoolctl, for OpenBLAS
(numpy's and scipy's) and OpenMP, and for torch where ``vgg bench`` compares with it.

Environment variables such as ``OPENBLAS_NUM_THREADS`` act only before numpy is imported;
threadpoolctl changes the running libraries. Lower it on a machine busy with other work:
OpenBLAS's threads spin while they wait for each other, and two of them sharing two cores with
another process made one VGG19 forward pass take 37.4 s instead of 4.6 s with one thread.
"""

from __future__ import annotations

import os

_chosen: int | None = None


def available() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use(threads: int | None) -> int:
    """Limit the maths to ``threads`` (None: :func:`available`) from now on; the number."""
    global _chosen
    from threadpoolctl import threadpool_limits

    _chosen = threads or available()
    threadpool_limits(limits=_chosen)
    return _chosen


def applied() -> bool:
    """Whether :func:`use` has set the limit in this process."""
    return _chosen is not None


def chosen() -> int:
    """The number of threads the maths uses (the last :func:`use`, else :func:`available`)."""
    return _chosen or available()
