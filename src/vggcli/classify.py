"""Image classification (lab manual §3.1.5, §3.2.4.4): preprocess, forward, top-k, accuracy.

The model is whatever ``--backend`` builds (:class:`vggcli.models.Model`): its
``forward(x, ("softmax",))`` gives the probabilities. The forward pass alone is timed, as the
manual's performance figure. :func:`open_classifier` is what ``vgg classify`` calls (a
:class:`Setup` built, the images listed); :class:`Classifier` runs them, one by one or in batches.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vggcli import models
from vggcli.datasets import read_dataset
from vggcli.engine.labels import imagenet_labels
from vggcli.engine.vgg19 import CLASSIFIER_INPUT
from vggcli.engine.weightset import WeightSet
from vggcli.errors import ImageError, NotFinite, UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.models import Model
from vggcli.weights.resolve import resolve_weights


@dataclass(frozen=True)
class Prediction:
    rank: int
    class_id: int
    label: str
    probability: float


@dataclass
class ImageResult:
    """The top-k of one image; ``label_id`` and ``true_rank`` when its class is known."""

    image: str
    top: list[Prediction]
    forward_seconds: float
    label_id: int | None = None
    true_rank: int | None = None  # 1 = predicted first
    error: str | None = None  # the image could not be read: no prediction
    true_probability: float | None = None  # the probability of its class, when it has one

    @property
    def top1(self) -> bool:
        return self.true_rank == 1

    def to_dict(self) -> dict:
        """Its JSON form: an item of ``--json``'s results, a line of ``--results``."""
        item: dict = {"image": self.image}
        if self.error is not None:
            item.update(top=[], forward_seconds=None, error=self.error)
        else:
            item["top"] = [
                {
                    "rank": p.rank,
                    "class_id": p.class_id,
                    "label": p.label,
                    "probability": p.probability,
                }
                for p in self.top
            ]
            item["forward_seconds"] = self.forward_seconds
        if self.label_id is not None:
            item["label_id"] = self.label_id
            item["true_rank"] = self.true_rank
            item["true_probability"] = self.true_probability
        return item

    @staticmethod
    def from_dict(item: dict) -> ImageResult:
        """Back from :meth:`to_dict` (a line of a results file being resumed)."""
        top = [Prediction(**p) for p in item["top"]]
        seconds = item["forward_seconds"] or 0.0
        return ImageResult(
            item["image"], top, seconds, item.get("label_id"), item.get("true_rank"),
            item.get("error"), item.get("true_probability"),
        )  # fmt: skip

    @property
    def top5(self) -> bool:
        return self.true_rank is not None and self.true_rank <= 5


@dataclass(frozen=True)
class Summary:
    """Accuracy over ``count`` labelled images; the ``failed`` ones (unreadable) count as
    misses."""

    count: int
    top1_accuracy: float
    top5_accuracy: float
    seconds: float
    failed: int = 0


def class_names(weights: WeightSet) -> tuple[str, ...]:
    """The names of the network's outputs: from the weights file, else the ImageNet list."""
    if weights.class_names is not None:
        return weights.class_names
    n_out = weights.params["fc8"][0].shape[1]
    if n_out == 1000:
        return imagenet_labels()
    return tuple(f"class {i}" for i in range(n_out))


class Classifier:
    """Runs ``model`` on images preprocessed for ``weights``."""

    def __init__(self, model: Model, weights: WeightSet, resize_mode: str = "stretch") -> None:
        self.model = model
        self.weights = weights
        self.resize_mode = resize_mode
        self.names = class_names(weights)

    def preprocess(self, path: Path) -> np.ndarray:
        img = resize(load_image(path), (CLASSIFIER_INPUT, CLASSIFIER_INPUT), self.resize_mode)
        return to_input(img, self.weights.preprocessing)

    def classify(
        self,
        path: Path,
        top: int = 5,
        label_id: int | None = None,
        progress: Callable | None = None,
    ) -> ImageResult:
        """One image: preprocess, forward, its top-k (ImageError when it cannot be read)."""
        (result,) = self._forward([(path, label_id)], self.preprocess(path), top, progress)
        return result

    def classify_many(
        self,
        jobs: Sequence[Job],
        top: int = 5,
        batch_size: int = 1,
        progress_for: Callable[[int, str], object] | None = None,
    ) -> Iterator[ImageResult]:
        """The results of ``jobs`` in order, ``batch_size`` images per forward pass; the next
        images are decoded and resized in two background threads while the network runs (at
        most two batches ahead). An image that cannot be read gets a result carrying the error
        and the list goes on. ``progress_for(images, label)`` makes a progress callback for a
        batch (a context manager)."""
        ahead: deque = deque()
        todo = iter(jobs)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="vggcli-decode") as pool:

            def refill() -> None:
                while len(ahead) < 3 * batch_size:
                    job = next(todo, None)
                    if job is None:
                        return
                    ahead.append((job, pool.submit(self.preprocess, job[0])))

            refill()
            while ahead:
                batch = [ahead.popleft() for _ in range(min(batch_size, len(ahead)))]
                refill()
                inputs, readable, results = [], [], {}
                for k, ((path, label_id), future) in enumerate(batch):
                    try:
                        inputs.append(future.result())
                        readable.append(k)
                    except ImageError as e:
                        results[k] = ImageResult(str(path), [], 0.0, label_id, None, str(e))
                if inputs:
                    jobs_read = [batch[k][0] for k in readable]
                    label = f"{jobs_read[0][0].name}" + (
                        f" +{len(jobs_read) - 1}" if len(jobs_read) > 1 else ""
                    )
                    bar = progress_for(len(inputs), label) if progress_for else nullcontext()
                    with bar as report:
                        done = self._forward(jobs_read, np.concatenate(inputs), top, report)
                    results.update(zip(readable, done, strict=True))
                yield from (results[k] for k in range(len(batch)))

    def _forward(self, jobs, x: np.ndarray, top: int, progress) -> list[ImageResult]:
        """x [N, 3, 224, 224] through the model; each image's result (the pass's time shared)."""
        start = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite output is checked
            result = self.model.forward(x, taps=("softmax",), progress=progress)
        seconds = time.perf_counter() - start if result.seconds is None else result.seconds
        probabilities = result.outputs["softmax"]
        if not np.isfinite(probabilities).all():
            bad = int(np.flatnonzero(~np.isfinite(probabilities).all(axis=1))[0])
            raise NotFinite(models.where_not_finite(self.model, x[bad : bad + 1]))
        return [
            self._result(path, probs, seconds / len(jobs), top, label_id)
            for (path, label_id), probs in zip(jobs, probabilities, strict=True)
        ]

    def _result(self, path, probs, seconds: float, top: int, label_id) -> ImageResult:
        order = np.argsort(-probs, kind="stable")
        top_k = [
            Prediction(rank, int(i), self.names[i], float(probs[i]))
            for rank, i in enumerate(order[:top], start=1)
        ]
        true_rank = true_probability = None
        if label_id is not None:
            true_rank = int(np.flatnonzero(order == label_id)[0]) + 1
            true_probability = float(probs[label_id])
        return ImageResult(str(path), top_k, seconds, label_id, true_rank, None, true_probability)


Job = tuple[Path, "int | None"]
"""An image to classify and its class number when known (from a file list)."""


@dataclass(frozen=True)
class Setup:
    """What a :class:`Classifier` is built from: ``--backend``, ``--weights`` (a spec that
    :func:`vggcli.weights.resolve.resolve_weights` takes), its seed, ``--quant-params`` and
    ``--resize``. Small and picklable: cluster workers get it and build the classifier once."""

    backend: str
    weights_spec: str | None = None
    seed: int = 0
    quant_params: Path | None = None
    resize_mode: str = "stretch"

    def build(self, notify: Callable[[str], None] | None = None) -> Classifier:
        models.require(self.backend)
        weights = resolve_weights(
            self.weights_spec, need_classifier=True, seed=self.seed, notify=notify
        )
        model = models.build_model(
            self.backend, weights, quant_params=self.quant_params, notify=notify
        )
        return Classifier(model, weights, self.resize_mode)


def open_classifier(
    images: Sequence[Path],
    file_list: Path | None,
    setup: Setup,
    notify: Callable[[str], None] | None = None,
) -> tuple[Classifier, list[Job]]:
    """What ``vgg classify`` runs: the classifier of ``setup`` and the images, each IMAGE then
    each line of the file list. Every image is checked to exist before anything slow starts."""
    if not images and file_list is None:
        raise UsageError("give at least one IMAGE or --file-list FILE")
    for path in images:
        if not Path(path).exists():
            raise ImageError(f"image not found: {path}")
    models.require(setup.backend)
    classifier = setup.build(notify)
    todo: list[Job] = [(Path(p), None) for p in images]
    if file_list is not None:
        todo += [(e.path, e.label_id) for e in read_dataset(file_list, len(classifier.names))]
    return classifier, todo


def summarize(results: list[ImageResult], seconds: float) -> Summary:
    """Top-1/top-5 accuracy over labelled results and the total wall time."""
    n = len(results)
    return Summary(
        count=n,
        top1_accuracy=sum(r.top1 for r in results) / n if n else 0.0,
        top5_accuracy=sum(r.top5 for r in results) / n if n else 0.0,
        seconds=seconds,
        failed=sum(r.error is not None for r in results),
    )


def results_header(classifier: Classifier, todo: list[Job], top: int) -> dict:
    """What a ``--results`` file belongs to: the model, the weights, the preprocessing, the
    top-k kept and the images in order (their list's checksum)."""
    weights = classifier.weights
    listing = "\n".join(f"{path}\t{label}" for path, label in todo)
    return {
        "format": "vggcli classify results 1",
        "backend": classifier.model.label,
        "weights": weights.sha256 or weights.path or weights.description,
        "resize": classifier.resize_mode,
        "top": top,
        "images": len(todo),
        "list_sha256": hashlib.sha256(listing.encode()).hexdigest(),
    }


def resumed(records: list[dict], todo: list[Job]) -> list[ImageResult]:
    """The results a results file already holds, checked to be the first images of ``todo``."""
    done = []
    for record, (path, _) in zip(records, todo, strict=False):
        if not isinstance(record, dict) or record.get("image") != str(path):
            break
        try:
            done.append(ImageResult.from_dict(record))
        except (KeyError, TypeError, ValueError):
            break
    return done


@dataclass(frozen=True)
class Agreement:
    """Two backends on the same labelled images: how often their top-1 classes agree, and how
    far apart the probabilities of the true class are (mean and largest |Δp|), over the images
    both could read."""

    a: str
    b: str
    images: int
    top1_agreement: float
    mean_abs_dp_true: float
    max_abs_dp_true: float


def agreement(a: str, results_a: list[ImageResult], b: str, results_b: list[ImageResult]):
    """The :class:`Agreement` of two backends' results on the same list, in the same order."""
    pairs = [
        (x, y)
        for x, y in zip(results_a, results_b, strict=True)
        if x.error is None and y.error is None and x.true_probability is not None
    ]
    if not pairs:
        return Agreement(a, b, 0, 0.0, 0.0, 0.0)
    same = sum(x.top[0].class_id == y.top[0].class_id for x, y in pairs)
    dp = [abs(x.true_probability - y.true_probability) for x, y in pairs]
    return Agreement(a, b, len(pairs), same / len(pairs), sum(dp) / len(dp), max(dp))
