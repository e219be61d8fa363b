"""What a cluster worker runs: chunks of a file list to classify (each worker process builds
a classifier once per :class:`vggcli.classify.Setup` and keeps it for the chunks that follow),
and pictures to stylise. The weights are read from the spec's path, or from the worker's own
cache."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from vggcli.classify import Classifier, Setup
from vggcli.runtime import threads
from vggcli.style.album import stylize_picture
from vggcli.style.prepare import StylizeJob

_built: dict[Setup, Classifier] = {}


def apply_threads(count: int | dict[str, int] | None) -> int:
    """Limit this worker's maths to ``count`` threads; a dict: the task slots (Dask threads of
    all workers) on each host, and this worker takes its host's cores divided by its host's
    slots, so that the workers of one machine never ask for more threads than it has cores;
    None, or a host not in the dict: its cores divided by its own slots."""
    if not isinstance(count, int):
        from distributed import get_worker

        worker = get_worker()
        slots = (count or {}).get(worker.address.rsplit(":", 1)[0], worker.state.nthreads)
        count = max(1, threads.available() // max(1, slots))
    if not threads.applied() or count != threads.chosen():
        threads.use(count)
    return count


def classify_chunk(
    jobs: list[tuple[str, int | None]],
    setup: Setup,
    top: int,
    batch_size: int,
    maths_threads: int | dict[str, int] | None,
) -> list[dict]:
    """The results (:meth:`vggcli.classify.ImageResult.to_dict`) of ``jobs`` (image path,
    class number or None), in order; an unreadable image has its error in its result."""
    apply_threads(maths_threads)
    classifier = _built.get(setup)
    if classifier is None:
        classifier = _built[setup] = setup.build()
    found = classifier.classify_many([(Path(p), label) for p, label in jobs], top, batch_size)
    return [result.to_dict() for result in found]


def stylize_chunk(
    pictures: list[tuple[str, str]],
    job: StylizeJob,
    settings: dict,
    maths_threads: int | dict[str, int] | None,
) -> list[dict]:
    """Each (content path, output name) of ``pictures`` stylised in a folder of this worker's;
    per picture its record (:func:`vggcli.style.album.stylize_picture`) and, under ``files``,
    the bytes of the files it wrote (picture, history, chart), for the client to write where
    the run's output is."""
    apply_threads(maths_threads)
    found = []
    for content, name in pictures:
        with tempfile.TemporaryDirectory(prefix="vggcli-") as folder:
            output = Path(folder) / name
            one = dataclasses.replace(job, content=Path(content))
            record = stylize_picture(one, output, checkpoint_every=0, **settings)
            record["files"] = {
                path.name: path.read_bytes()
                for path in sorted(Path(folder).iterdir())
                if path.is_file()
                and not path.name.startswith(".")
                and not path.name.endswith(".state.npz")
            }
        found.append(record)
    return found
