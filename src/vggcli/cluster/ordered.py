"""Work sent to a cluster in chunks, its results taken back in list order.

A chunk is a list of consecutive items; a task runs the worker function on one chunk and
returns one result per item. Chunks run in any order on any worker; :func:`in_order` yields
the results of the list in its order, as soon as every chunk before is back, so that a file
written from them grows as a local run's would. A worker that dies mid-chunk costs that
chunk's time only: the scheduler runs the chunk again on another worker (Dask's
``allowed-failures``, 3 deaths of a chunk's workers before it gives up), and no result is
taken twice, because each chunk's result is taken once, by its position.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vggcli.cluster.connect import ClusterError, ClusterSpec, connect, slots_per_host


def chunks(items: Sequence, size: int) -> list[Sequence]:
    """``items`` cut into consecutive pieces of ``size`` (the last may be shorter)."""
    return [items[k : k + size] for k in range(0, len(items), size)]


def in_order(
    client, function: Callable[..., list], items: Sequence, size: int, *args: Any
) -> Iterator[Any]:
    """``function(chunk, *args)`` for every chunk of ``items`` on ``client``'s workers; yields
    each item's result in list order. Stopping the iteration (an error, Ctrl-C) cancels the
    chunks not yet finished."""
    from distributed import KilledWorker, as_completed

    pieces = chunks(items, size)
    token = uuid.uuid4().hex[:12]  # the keys of this call's chunks, unlike any other's
    futures = [
        client.submit(function, piece, *args, pure=False, key=f"vggcli-chunk-{k}-{token}")
        for k, piece in enumerate(pieces)
    ]
    position = {future.key: k for k, future in enumerate(futures)}
    back: dict[int, list] = {}
    following = 0
    try:
        for future in as_completed(futures):
            try:
                results = future.result()  # a task's exception is raised here, on the client
            except KilledWorker:
                k = position[future.key]
                raise ClusterError(
                    f"items {k * size + 1}–{k * size + len(pieces[k])}: every worker that ran "
                    "them died (out of memory?); see the workers' logs"
                ) from None
            except OSError as e:  # the scheduler went away
                raise ClusterError(f"lost the cluster: {e}") from None
            if len(results) != len(pieces[position[future.key]]):
                raise RuntimeError("a worker returned the wrong number of results")
            back[position[future.key]] = results
            future.release()
            while following in back:
                yield from back.pop(following)
                following += 1
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)


def on_cluster(
    spec: ClusterSpec,
    requested_threads: int | None,
    function: Callable[..., list],
    items: Sequence,
    size: int,
    *args: Any,
    what: str,
    notify: Callable[[str], None],
) -> Iterator[Any]:
    """:func:`in_order` on the cluster of ``spec``, connected for the iteration's length;
    ``function(chunk, *args, threads)`` gets the maths threads its worker is to use
    (``--threads``, else :meth:`ClusterSpec.worker_threads`, else the cores of its host shared
    between the host's task slots). ``what``: the chunk in words, for the note."""
    per_worker = spec.worker_threads(requested_threads)
    with connect(spec, per_worker) as client:
        maths = per_worker or slots_per_host(client)
        workers = len(client.scheduler_info()["workers"])
        threads = (
            f"{per_worker} thread{'s' * (per_worker != 1)} each"
            if per_worker
            else "each its host's cores shared"
        )
        notify(
            f"cluster {spec.label} · {workers} worker{'s' * (workers != 1)}, {threads} · "
            f"{what} per task"
        )
        found = in_order(client, function, items, size, *args, maths)
        with contextlib.closing(found):  # its chunks cancelled before the client closes
            yield from found
