"""Many content pictures in one style: ``vgg stylize FOLDER|LIST.txt STYLE... -o FOLDER``.

:func:`contents_of` lists the pictures (a folder's files, sorted, or a list's lines);
:func:`output_names` gives each a name in the output folder that no other picture of the run
has; :func:`stylize_picture` runs one picture with its usual files (history, chart, state,
checkpoints) and returns its record for the run's ``stylize.jsonl``, the file that makes the
whole run resumable picture by picture.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from vggcli.datasets import listed_lines
from vggcli.errors import Diverged, ImageError, UsageError, Worsened
from vggcli.style.job import Stylization, load_network, open_run
from vggcli.style.prepare import StylizeJob
from vggcli.style.runfiles import RunFiles

RECORDS = "stylize.jsonl"  # in the output folder: one line per finished picture
_networks: dict = {}  # (backend, weights, pooling) → (weights, model): built once per process


def is_album(content: Path) -> bool:
    """Whether CONTENT names many pictures: a folder, or a list of paths (``.txt``)."""
    return Path(content).is_dir() or Path(content).suffix.lower() == ".txt"


def contents_of(source: Path) -> list[Path]:
    """The pictures of a folder (every file under it that is not hidden, sorted by path; a file
    that is not a picture fails in its own row) or of a list (one path per line, relative to
    the list; blank lines and ``#`` comments skipped). UsageError for an empty one, and for a
    list line naming no file."""
    source = Path(source)
    if source.is_dir():
        found = sorted(
            p
            for p in source.rglob("*")
            if p.is_file() and not any(s.startswith(".") for s in p.relative_to(source).parts)
        )
    else:
        found = []
        for number, line in listed_lines(source, "list of pictures"):
            path = source.parent / Path(line).expanduser()
            if not path.is_file():
                raise UsageError(f"{source}:{number}: picture not found: {line}")
            found.append(path)
    if not found:
        raise UsageError(f"{source} names no pictures")
    return found


def output_names(contents: list[Path], source: Path, styles: tuple[Path, ...]) -> list[str]:
    """A file name per picture, ``PICTURE-STYLE.png``, PICTURE being its path under the folder
    (``/`` → ``-``) or its stem; the second picture to want a name (compared without case, as
    some file systems do) gets ``-2``, the third ``-3``: the same names on every run of the same
    list, never two alike."""
    style = "+".join(s.stem for s in styles)
    taken: set[str] = set()
    names = []
    for path in contents:
        if Path(source).is_dir():
            stem = "-".join(path.relative_to(source).with_suffix("").parts)
        else:
            stem = path.stem
        name, k = f"{stem}-{style}.png", 1
        while name.casefold() in taken:
            k += 1
            name = f"{stem}-{k}-{style}.png"
        taken.add(name.casefold())
        names.append(name)
    return names


def header(job: StylizeJob, source: Path, contents: list[Path], **settings) -> dict:
    """What a ``stylize.jsonl`` belongs to: the styles, the options, the pictures in order (their
    number and the checksum of their paths)."""
    options = dataclasses.asdict(job.options)
    return {
        "format": "vggcli stylize album 1",
        "source": str(source),
        "pictures": len(contents),
        "pictures_sha256": hashlib.sha256("\n".join(map(str, contents)).encode()).hexdigest(),
        "styles": [str(s) for s in job.styles],
        "blend": list(job.blend),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
        "size": list(job.size) if job.size else None,
        "max_side": job.max_side,
        "style_scale": job.style_scale,
        "stages": job.stages,
        "steps": list(job.steps) if job.steps else None,
        **settings,
    }


def stylize_picture(
    job: StylizeJob,
    output: Path,
    *,
    backend: str,
    weights_spec: str | None,
    checkpoint_every: int,
    preserve_colors: bool,
    notify: Callable[[str], None] | None = None,
    on_start: Callable[[Stylization], None] | None = None,
    on_step: Callable | None = None,
) -> dict:
    """One picture of the run, into ``output`` and its files; its record. A picture stopped
    earlier continues from its state file; one that cannot be read, or that the run made worse,
    has its error in its record (the run goes on)."""
    files = RunFiles(output, None, checkpoint_every)
    started = time.perf_counter()
    record: dict = {"content": str(job.content), "output": output.name}
    try:
        try:
            run = _open(job, files, backend, weights_spec, preserve_colors, notify, resume=True)
        except UsageError:  # a state this run cannot continue (finished, or not its own)
            run = _open(job, files, backend, weights_spec, preserve_colors, notify, resume=False)
        if on_start:
            on_start(run)
        run.run(on_step)
        run.save()
        saved = run.saved_losses()
        record.update(steps=run.state.step, stop_reason=run.stop_reason, loss=saved.total)
        run.check_improved(run.optimised_losses() if preserve_colors else saved)
    except (ImageError, Worsened, Diverged) as e:  # this picture's; the others may go well
        record["error"] = str(e)
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def _open(job, files, backend, weights_spec, preserve_colors, notify, *, resume: bool):
    key = (backend, weights_spec, job.options.pooling)
    if key not in _networks:
        _networks[key] = load_network(backend, weights_spec, job.options.pooling, notify)
    state = files.state if resume and files.state.is_file() else None
    return open_run(
        job, files, backend=backend, weights_spec=weights_spec, resume=state,
        preserve_colors=preserve_colors, force=state is None, network=_networks[key],
    )  # fmt: skip
