"""What ``vgg stylize`` does around the optimisation: sizes, image loading, targets, and the
files a run writes (image, checkpoints, loss history CSV and chart, state file).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vggcli.atomic import atomic_write
from vggcli.engine.network import Network
from vggcli.errors import OutputError, UsageError
from vggcli.images import (
    check_writable,
    from_input,
    image_format,
    load_image,
    preserve_colors,
    resize,
    save_image,
    to_input,
)
from vggcli.style.chart import loss_chart
from vggcli.style.transfer import (
    HISTORY_COLUMNS,
    INITS,
    Objective,
    RunState,
    StyleOptions,
    initial_image,
    load_state,
)

DEFAULT_MAX_SIDE = 320


@dataclass(frozen=True)
class StylizeJob:
    """The inputs of a run: images, sizes and the optimisation options."""

    content: Path
    styles: tuple[Path, ...]
    blend: tuple[float, ...]
    options: StyleOptions
    size: tuple[int, int] | None = None  # (H, W); None: keep the content's aspect ratio
    max_side: int = DEFAULT_MAX_SIDE
    style_scale: float = 1.0

    def __post_init__(self) -> None:
        if len(self.blend) != len(self.styles):
            raise UsageError(
                f"--style-blend has {len(self.blend)} weights for {len(self.styles)} style images"
            )
        if any(w < 0 for w in self.blend) or not sum(self.blend) > 0:
            raise UsageError("the --style-blend weights must be non-negative with a positive sum")
        if self.style_scale <= 0:
            raise UsageError(f"--style-scale must be positive, got {self.style_scale}")
        if self.max_side < 1:
            raise UsageError(f"--max-side must be positive, got {self.max_side}")


def parse_size(text: str) -> tuple[int, int]:
    """'192x320' → (192, 320) (height x width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"a size is HEIGHTxWIDTH in pixels, like 192x320; got {text!r}")
    return int(parts[0]), int(parts[1])


def parse_style_layers(text: str) -> tuple[tuple[str, float], ...]:
    """'relu1_1:0.2,relu2_1' → (('relu1_1', 0.2), ('relu2_1', 1.0))."""
    layers = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            layers.append((name.strip(), float(weight) if weight else 1.0))
        except ValueError:
            raise UsageError(f"a style layer is NAME or NAME:WEIGHT, got {item!r}") from None
    return tuple(layers)


def parse_floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"{what} takes numbers separated by commas, got {text!r}") from None


def output_size(content_wh: tuple[int, int], size: tuple[int, int] | None, max_side: int):
    """(H, W) of the stylised image: ``size``, or the content's aspect with the long side
    ``max_side``."""
    if size is not None:
        return size
    w, h = content_wh
    scale = max_side / max(w, h)
    return max(1, round(h * scale)), max(1, round(w * scale))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Prepared:
    """A run ready to start: the objective, the content image at output size (RGB uint8), the
    initial state and the fingerprint a state file must match."""

    objective: Objective
    content_rgb: np.ndarray
    initial: RunState
    fingerprint: dict


def prepare(job: StylizeJob, network: Network, resume: Path | None = None) -> Prepared:
    """Load the images, compute the targets, and make (or read back) the starting state."""
    pre = network.weights.preprocessing
    content_img = load_image(job.content)
    h, w = output_size(content_img.size, job.size, job.max_side)
    content_img = resize(content_img, (h, w))
    style_hw = (max(1, round(h * job.style_scale)), max(1, round(w * job.style_scale)))
    styles = [
        (to_input(resize(load_image(p), style_hw), pre), weight)
        for p, weight in zip(job.styles, job.blend, strict=True)
    ]
    content = to_input(content_img, pre)
    options = job.options
    init_image = None
    init_key = options.init
    if options.init not in INITS:
        init_path = Path(options.init)
        if not init_path.is_file():
            raise UsageError(
                f"--init is {', '.join(INITS)} or an image file; {init_path} is neither"
            )
        init_image = to_input(resize(load_image(init_path), (h, w)), pre)
        init_key = file_sha256(init_path)
    objective = Objective(network, content, styles, options)
    weights = network.weights
    fingerprint = {
        "content": file_sha256(job.content),
        "styles": [[file_sha256(p), wt] for p, wt in zip(job.styles, job.blend, strict=True)],
        "shape": list(content.shape),
        "style_shape": list(style_hw),
        "weights": weights.sha256 or weights.description,
        "options": json.loads(json.dumps({**asdict(options), "init": init_key})),
    }
    if resume is not None:
        initial = load_state(resume, fingerprint)
    else:
        initial = RunState(initial_image(content, options, init_image), 0)
    return Prepared(objective, np.asarray(content_img), initial, fingerprint)


def to_rgb(image: np.ndarray, preprocessing, content_rgb: np.ndarray | None = None) -> np.ndarray:
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

    def check(self) -> None:
        """Fail now, before any iteration, if the outputs cannot be written."""
        check_writable(self.output)
        if self.checkpoint_every:
            try:
                self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"cannot create {self.checkpoint_dir}: {e.strerror}") from None
            check_writable(self.checkpoint_dir / "probe.png")

    def is_checkpoint(self, step: int) -> bool:
        return bool(self.checkpoint_every) and step % self.checkpoint_every == 0

    def checkpoint(self, step: int, rgb: np.ndarray) -> Path:
        path = self.checkpoint_dir / f"{self.output.stem}_{step:05d}{self.output.suffix}"
        return save_image(rgb, path)

    def write_image(self, rgb: np.ndarray) -> Path:
        return save_image(rgb, self.output)

    def write_history(self, history) -> tuple[Path, Path]:
        """The CSV (header step,content,style,tv,total; DESIGN §8) and its PNG chart."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for row in history:
            writer.writerow([int(row[0]), *(repr(float(v)) for v in row[1:])])
        atomic_write(self.history, lambda f: f.write(text.getvalue().encode()))
        steps = [row[0] for row in history]
        series = {
            name: [row[i] for row in history]
            for i, name in enumerate(HISTORY_COLUMNS)
            if i and name != "tv"
        }
        if any(row[3] > 0 for row in history):
            series["tv"] = [row[3] for row in history]
        buffer = io.BytesIO()
        loss_chart(steps, series, title=f"loss history of {self.output.name}").save(buffer, "PNG")
        atomic_write(self.chart, lambda f: f.write(buffer.getvalue()))
        return self.history, self.chart
