"""What a cluster worker runs. Each worker process builds a classifier once per
:class:`vggcli.classify.Setup` and keeps it for the chunks that follow (the weights are read
from the spec's path, or from the worker's own cache)."""

from __future__ import annotations

from pathlib import Path

from vggcli.classify import Classifier, Setup
from vggcli.runtime import threads

_built: dict[Setup, Classifier] = {}


def apply_threads(count: int | None) -> int:
    """Limit this worker's maths to ``count`` threads; None: the cores this worker process may
    use, shared between the tasks it runs at once (its Dask threads)."""
    if count is None:
        from distributed import get_worker

        count = max(1, threads.available() // get_worker().state.nthreads)
    if count != threads.chosen() or not threads.applied():
        threads.use(count)
    return count


def classify_chunk(
    jobs: list[tuple[str, int | None]],
    setup: Setup,
    top: int,
    batch_size: int,
    maths_threads: int | None,
) -> list[dict]:
    """The results (:meth:`vggcli.classify.ImageResult.to_dict`) of ``jobs`` (image path,
    class number or None), in order; an unreadable image has its error in its result."""
    apply_threads(maths_threads)
    classifier = _built.get(setup)
    if classifier is None:
        classifier = _built[setup] = setup.build()
    found = classifier.classify_many([(Path(p), label) for p, label in jobs], top, batch_size)
    return [result.to_dict() for result in found]
