"""``vgg stylize FOLDER|LIST.txt STYLE...``: every picture of a folder or a list in one style,
one output picture each, here or on a ``--cluster``; the same command again continues where a
stop left the run, picture by picture (``stylize.jsonl`` in the output folder)."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from vggcli.cli import interrupts
from vggcli.cli.exits import Exit
from vggcli.cli.progress import ImageBar, StylizeProgress
from vggcli.cli.render.console import err, note, out
from vggcli.cli.render.stylize import album_table
from vggcli.cluster.connect import ClusterSpec, for_workers
from vggcli.errors import ImageError, OutputError, UsageError
from vggcli.images import load_image
from vggcli.storage.atomic import atomic_write
from vggcli.storage.jsonl import JsonLines
from vggcli.style.album import RECORDS, contents_of, header, output_names, stylize_picture
from vggcli.style.prepare import StylizeJob


def stylize_album(
    job: StylizeJob,
    output: Path | None,
    settings: dict,
    checkpoint_every: int,
    cluster: ClusterSpec | None,
    threads: int | None,
    quiet: bool,
) -> None:
    """Every picture of ``job.content`` (a folder or a list) with ``job``'s style and options
    into the folder ``output``; ``settings``: backend, weights_spec, preserve_colors."""
    source = job.content
    contents = contents_of(source)
    for style in job.styles:  # a style that cannot be read fails every picture: say it now
        load_image(style)
    folder = output or Path(f"{source.stem}-{'+'.join(s.stem for s in job.styles)}")
    if folder.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
        raise UsageError(f"-o {folder}: many pictures go into a folder; give a folder's name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder {folder}: {e.strerror or e}") from None
    names = output_names(contents, source, job.styles)
    started = time.perf_counter()
    with JsonLines(
        folder / RECORDS, header(job, source, contents, **settings), "give another -o folder"
    ) as written:
        records = written.resume()
        if len(records) > len(contents) or any(
            r.get("output") != name for r, name in zip(records, names, strict=False)
        ):
            raise UsageError(f"{folder / RECORDS} is not this run's: give another -o")
        if records and not quiet:
            note(f"{folder}: {len(records)} of {len(contents)} pictures done, continuing")
        todo = list(zip(contents, names, strict=True))[len(records) :]
        try:
            if cluster is None:
                pictures = _here(job, todo, folder, settings, checkpoint_every, len(records),
                                 len(contents), quiet)  # fmt: skip
            else:
                pictures = _on_cluster(job, todo, folder, settings, cluster, threads,
                                       len(records), len(contents))  # fmt: skip
            for record in pictures:
                written.append(record)
                records.append(record)
        except KeyboardInterrupt:
            err.print(
                f"interrupted: {len(records)} of {len(contents)} pictures done in {folder}; "
                "run the same command again to continue"
            )
            sys.exit(Exit.INTERRUPTED)
    out.print(album_table(records, folder, time.perf_counter() - started))
    failed = [r for r in records if r.get("error")]
    if failed:
        raise ImageError(
            f"{len(failed)} of {len(records)} pictures failed (first: {failed[0]['error']})"
        )


def _here(job, todo, folder, settings, checkpoint_every, done, total, quiet):
    """The pictures one after the other in this process, each with its progress; Ctrl-C saves
    the picture being made and its state, from which the next run continues it."""
    for k, (content, name) in enumerate(todo, start=done + 1):
        if not quiet:
            note(f"[{k}/{total}] {content} → {folder / name}")
        current = {}

        def start(run, current=current):
            current["run"] = run
            if run.start_step and not quiet:
                note(f"continuing it from step {run.start_step} (its state file)")
            current["progress"] = StylizeProgress(run.prepared, run.start_step, quiet=quiet)

        def step(number, losses, stage, current=current):
            current["progress"](number, losses, stage)
            interrupts.check()

        try:
            record = stylize_picture(
                dataclasses.replace(job, content=content), folder / name,
                checkpoint_every=checkpoint_every, on_start=start, on_step=step,
                notify=None if quiet else note, **settings,
            )  # fmt: skip
        except KeyboardInterrupt:
            if "run" in current:
                current["progress"].close()
                with interrupts.deferred():
                    current["run"].save(interrupted=True)
            raise
        if "progress" in current:
            current["progress"].close()
        yield record


def _on_cluster(job, todo, folder, settings, cluster, threads, done, total):
    """Each picture a task on the cluster's workers; the files they send back written here,
    in list order."""
    from vggcli.cluster.ordered import on_cluster
    from vggcli.cluster.tasks import stylize_chunk

    everywhere = dataclasses.replace(
        job, styles=tuple(Path(s).absolute() for s in job.styles), content=Path(".")
    )
    spec = {**settings, "weights_spec": for_workers(settings["weights_spec"])}
    pictures = [(str(Path(c).absolute()), name) for c, name in todo]
    found = on_cluster(
        cluster, threads, stylize_chunk, pictures, 1, everywhere, spec,
        what="one picture", notify=note,
    )  # fmt: skip
    with ImageBar(total, done, "stylize", "pictures") as counted:
        for (content, _), (sent, _), record in zip(todo, pictures, found, strict=False):
            for name, data in record.pop("files").items():
                atomic_write(folder / name, lambda f, data=data: f.write(data))
            record["content"] = str(content)
            if record.get("error"):
                record["error"] = record["error"].replace(sent, str(content))
            counted.advance()
            yield record
