"""The files of a style-transfer run: the image, its checkpoints, the loss history (CSV and
chart) and the state file that ``--resume`` reads. Every file is written atomically.

The state file is an ``.npz`` without pickles: the image, the step, the history, the optimiser's
name and state (``opt_<key>`` arrays, whatever the optimiser keeps), and a fingerprint of the
run (images, sizes, options, weights) that a resume must match.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vggcli._version import __version__
from vggcli.errors import UNREADABLE, OutputError, UsageError, read_failure
from vggcli.images import check_writable, from_input, image_format, preserve_colors, save_image
from vggcli.storage import npz
from vggcli.storage.atomic import atomic_write
from vggcli.storage.locks import locked
from vggcli.style.chart import loss_chart
from vggcli.style.objective import StyleOptions
from vggcli.style.run import HISTORY_COLUMNS, RunState

STATE_FORMAT = 2  # 1: vggcli 0.1.0, Adam's moments as adam_m, adam_v, adam_t (still read)
HISTORY_WIDTH = 7  # step, content, style, tv, total, height, width
FORMAT1_ADAM = {"adam_m": "m", "adam_v": "v", "adam_t": "t"}
NEW_OPTIONS = ("pooling", "clip")  # StyleOptions fields newer than state format 1


def output_rgb(
    image: np.ndarray, preprocessing, content_rgb: np.ndarray | None = None
) -> np.ndarray:
    """The network input ``image`` as uint8 RGB; with ``content_rgb``, in the content's colours
    (the result's luminance, the content's chrominance)."""
    rgb = from_input(image, preprocessing)
    return preserve_colors(rgb, content_rgb) if content_rgb is not None else rgb


class RunFiles:
    """The files of a run named after ``output`` (say ``out.png``): ``out.csv`` (loss history),
    ``out.loss.png`` (its chart), ``out.state.npz`` (to resume) and checkpoints in a folder."""

    def __init__(self, output: Path, checkpoint_dir: Path | None, checkpoint_every: int) -> None:
        self.output = Path(output)
        image_format(self.output)  # OutputError for an unknown extension
        stem = self.output.stem
        self.history = self.output.with_name(stem + ".csv")
        self.chart = self.output.with_name(stem + ".loss.png")
        self.state = self.output.with_name(stem + ".state.npz")
        self.checkpoint_every = checkpoint_every
        self.checkpoint_dir = (
            Path(checkpoint_dir) if checkpoint_dir else self.output.with_name(stem + "_checkpoints")
        )

    def check(self, *, resume: bool = False, force: bool = False) -> None:
        """Fail now, before any iteration, if the outputs cannot be written, or if they belong
        to an earlier run that neither ``resume`` (continue it) nor ``force`` (replace it) was
        given for. Creates nothing (the checkpoint folder comes with the first checkpoint)."""
        check_writable(self.output)
        if self.checkpoint_every:
            folder = self.checkpoint_dir
            if folder.exists() and not folder.is_dir():
                raise OutputError(f"cannot create the folder {folder}: a file has that name")
            while not folder.exists():
                folder = folder.parent
            if not os.access(folder, os.W_OK):
                raise OutputError(f"cannot write to {folder} (permission denied)")
        earlier = self.earlier_run()
        if earlier and not resume and not force:
            raise UsageError(
                f"{self.output} would replace an earlier run's files ({', '.join(earlier)}): "
                f"continue it with --resume {self.state}, replace it with --force, or give "
                "another -o"
            )

    def checkpoints(self) -> list[Path]:
        """This run's checkpoint images (``<stem>_NNNNN<suffix>``) in the checkpoint folder."""
        if not self.checkpoint_dir.is_dir():
            return []
        pattern = f"{self.output.stem}_[0-9][0-9][0-9][0-9][0-9]{self.output.suffix}"
        return sorted(self.checkpoint_dir.glob(pattern))

    def earlier_run(self) -> list[str]:
        """The names of the files of an earlier run with this output name."""
        files = [p.name for p in (self.output, self.history, self.state) if p.exists()]
        count = len(self.checkpoints())
        plural = "s" if count > 1 else ""
        return files + ([f"{count} checkpoint{plural} in {self.checkpoint_dir}"] if count else [])

    def clear_earlier_run(self) -> None:
        """``--force``: delete the earlier run's history, chart, state and checkpoints (its
        image is replaced when this run saves its own), so none mixes with this run's."""
        for path in (self.history, self.chart, self.state, *self.checkpoints()):
            try:
                path.unlink(missing_ok=True)
            except OSError as e:
                raise OutputError(f"cannot delete {path}: {e.strerror or e}") from None

    def is_checkpoint(self, step: int) -> bool:
        return bool(self.checkpoint_every) and step % self.checkpoint_every == 0

    def checkpoint(self, step: int, rgb: np.ndarray) -> Path:
        try:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {self.checkpoint_dir}: {e.strerror or e}") from None
        path = self.checkpoint_dir / f"{self.output.stem}_{step:05d}{self.output.suffix}"
        return save_image(rgb, path)

    def write_image(self, rgb: np.ndarray) -> Path:
        return save_image(rgb, self.output)

    def write_history(self, history) -> tuple[Path, Path]:
        """The CSV (header step,content,style,tv,total; docs/json.md) and its PNG chart."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for row in history:
            size = f"{int(row[5])}x{int(row[6])}"
            writer.writerow([int(row[0]), *(repr(float(v)) for v in row[1:5]), size])
        atomic_write(self.history, lambda f: f.write(text.getvalue().encode()))
        steps = [row[0] for row in history]
        series = {
            name: [row[i] for row in history]
            for i, name in enumerate(HISTORY_COLUMNS)
            if name in ("content", "style", "total")
        }
        if any(row[3] > 0 for row in history):
            series["tv"] = [row[3] for row in history]
        buffer = io.BytesIO()
        sizes = [(row[0], f"{int(row[5])}x{int(row[6])}") for row in history]
        stages = [now for before, now in itertools.pairwise(sizes) if now[1] != before[1]]
        title = f"loss history of {self.output.name}"
        loss_chart(steps, series, title=title, stages=stages).save(buffer, "PNG")
        atomic_write(self.chart, lambda f: f.write(buffer.getvalue()))
        return self.history, self.chart


@contextmanager
def exclusive(files: RunFiles) -> Iterator[None]:
    """One run at a time per output: a second ``vgg stylize`` writing the same image while this
    one runs is refused (OutputError) instead of mixing its checkpoints and state with this
    one's. The lock is the picture's own (``.NAME.lock`` beside it, :mod:`vggcli.storage.locks`),
    so two runs agree whatever their cache folders, and it dies with the process, kill -9
    included."""

    def busy() -> None:
        raise OutputError(
            f"another vgg stylize is writing {files.output} now: wait for it to end, or give "
            "another -o"
        )

    if not files.output.parent.is_dir():  # nothing can be written there: check() says so
        yield
        return
    with locked(files.output.resolve(), on_wait=busy, optional=True):
        yield


def save_state(path: Path, state: RunState, fingerprint: dict, optimizer: str) -> Path:
    """Write ``state`` atomically as an .npz (no pickles): a reader sees the old or the new one."""
    path = Path(path)
    arrays = {
        "format": np.array(STATE_FORMAT),
        "vggcli_version": np.array(__version__),
        "fingerprint": np.array(json.dumps(fingerprint, sort_keys=True)),
        "image": state.image,
        "step": np.array(state.step),
        "history": np.array(state.history, dtype=np.float64).reshape(-1, HISTORY_WIDTH),
        "optimizer": np.array(optimizer),
        "stage": np.array(state.stage),
        **{f"opt_{key}": value for key, value in state.optimizer_state.items()},
    }
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def load_state(path: Path, fingerprint: dict, images: dict[str, str] | None = None) -> RunState:
    """Read a state file (format 2, or 1 of vggcli 0.1.0) and check that it belongs to this
    run; UsageError otherwise, naming what differs (``images``: the file names of the
    fingerprint's ``content`` and ``styles``, to name them instead of their checksums)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            fmt = int(npz.array(data, "format"))
            if fmt not in (1, STATE_FORMAT):
                version = npz.array(data, "vggcli_version")
                raise UsageError(
                    f"{path} was written by vggcli {version} (state format {fmt}); "
                    f"this vggcli {__version__} reads formats 1 and {STATE_FORMAT}"
                )
            saved = json.loads(str(npz.array(data, "fingerprint")))
            if not isinstance(saved, dict):
                raise UsageError(f"{path}: its fingerprint is not a JSON object: not a state file")
            image = npz.array(data, "image")
            history = _history(path, npz.array(data, "history"), 5 if fmt == 1 else HISTORY_WIDTH)
            if fmt == 1:  # no sizes in the history, no stages, Adam's moments by name
                opt_state = {
                    new: npz.array(data, old) for old, new in FORMAT1_ADAM.items() if old in data
                }
                history = [(*row, *image.shape[2:]) for row in history]
                stage = 0
            else:
                opt_state = {k[4:]: npz.array(data, k) for k in data.files if k.startswith("opt_")}
                stage = int(npz.array(data, "stage"))
            state = RunState(image, int(npz.array(data, "step")), tuple(history), opt_state, stage)
    except UsageError:
        raise
    except FileNotFoundError:
        raise UsageError(f"state file not found: {path}") from None
    except UNREADABLE as e:
        raise UsageError(
            f"{path} is not a vggcli state file, or a damaged one ({read_failure(e)}); its "
            "checkpoints are "
            "intact: start again with --init CHECKPOINT.png"
        ) from None
    defaults = asdict(StyleOptions())  # options added since the file was written: their defaults
    if isinstance(saved.get("options"), dict):
        saved["options"] = {**{k: defaults[k] for k in NEW_OPTIONS}, **saved["options"]}
    differences = _differences(saved, fingerprint, images or {})
    if differences:
        raise UsageError(f"{path} belongs to another run: {'; '.join(differences)}")
    return state


def _history(path: Path, rows: np.ndarray, width: int) -> list[tuple[float, ...]]:
    """The history rows of a state file, checked: a [rows, width] table of finite numbers."""
    if rows.dtype.kind not in "fiu" or rows.ndim != 2 or rows.shape[1] != width:
        raise UsageError(
            f"{path}: its history is {rows.dtype} {list(rows.shape)}, not [rows, {width}] numbers"
        )
    if not np.isfinite(rows).all():
        raise UsageError(f"{path}: its history holds values that are not finite numbers")
    return [tuple(float(v) for v in row) for row in rows]


def check_state(path: Path, state: RunState, stages: list, optimizer) -> None:
    """That ``state`` (read from ``path``) fits this run's plan before its first step: the image
    a finite float32 [1, 3, H, W] at its stage's size, the stage and step within the plan, the
    history up to that step, the optimiser's state of this image's shape. UsageError naming
    the field otherwise."""

    def refuse(field: str, why: str) -> UsageError:
        return UsageError(f"{path}: its {field} {why}: it does not belong to this run")

    image = state.image
    if image.dtype != np.float32 or image.ndim != 4 or image.shape[:2] != (1, 3):
        raise refuse("image", f"is {image.dtype} {list(image.shape)}, not float32 [1, 3, H, W]")
    if not np.isfinite(image).all():
        raise refuse("image", "holds values that are not finite numbers")
    if not 0 <= state.stage < len(stages):
        raise refuse("stage", f"is {state.stage + 1}, this run has {len(stages)}")
    stage = stages[state.stage]
    if image.shape[2:] != stage.size:
        h, w = image.shape[2:]
        raise refuse("image", f"is {h}x{w}, stage {state.stage + 1} is {stage.label}")
    begin = sum(s.steps for s in stages[: state.stage])
    last = state.stage == len(stages) - 1  # past its end: a finished run, given more steps?
    if not begin <= state.step <= (math.inf if last else begin + stage.steps):
        raise refuse(
            "step",
            f"is {state.step}, stage {state.stage + 1} runs steps {begin} to {begin + stage.steps}",
        )
    if state.history and not (
        all(a[0] <= b[0] for a, b in itertools.pairwise(state.history))
        and state.history[-1][0] <= state.step
    ):
        raise refuse("history", f"does not lead up to step {state.step}")
    optimizer.check_state(state.optimizer_state, image.shape, refuse)


def _differences(saved: dict, now: dict, images: dict[str, str]) -> list[str]:
    """What differs between two fingerprints, in the words of the command line."""
    found = []
    for key in sorted(set(saved) | set(now)):
        before, after = saved.get(key), now.get(key)
        if before == after:
            continue
        if key == "content" and key in images:
            found.append(f"the content image {images[key]} is not the state's")
        elif key == "styles" and key in images:
            found.append(f"the style images ({images[key]}) or --style-blend are not the state's")
        elif key == "options" and isinstance(before, dict) and isinstance(after, dict):
            found.extend(
                f"--{name.replace('_', '-')} {before.get(name)!r} in the state, "
                f"{after.get(name)!r} now"
                for name in sorted(set(before) | set(after))
                if before.get(name) != after.get(name)
            )
        else:
            found.append(f"{key} {before!r} in the state, {after!r} now")
    return found
