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

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vggcli.cluster.connect import ClusterError


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
    futures = [
        client.submit(function, piece, *args, pure=False, key=f"vggcli-chunk-{k}-{id(items)}")
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
