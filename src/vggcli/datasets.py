"""Labelled images as people keep them, read into one list: a file of ``IMAGE LABEL`` lines
(the lab manual's ``evaluate()`` input and the ILSVRC devkit's ``val.txt``), or a folder in the
ImageFolder layout (one sub-folder per class, named by its WordNet id such as ``n02123045`` or
by its class number). Everything is checked before anything slow starts; an image that exists
but cannot be read is the classifier's to report, in its row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vggcli.engine.labels import imagenet_classes
from vggcli.errors import UsageError

WNID = re.compile(r"n[0-9]{8}")


@dataclass(frozen=True)
class LabeledImage:
    path: Path
    label_id: int
    line: int  # its line in a file list (1-based); its position in a folder's listing


def read_dataset(path: Path, n_classes: int = 1000) -> list[LabeledImage]:
    """A file list, or an ImageFolder folder: :func:`read_file_list`, :func:`read_image_folder`."""
    path = Path(path)
    return read_image_folder(path, n_classes) if path.is_dir() else read_file_list(path, n_classes)


def listed_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(line number, text) of every line of a list file that says something: stripped, blank
    lines and ``#`` comments skipped, a byte-order mark dropped. UsageError naming ``what``
    ("file list") when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a BOM is not part of line 1
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the {what} {path}: {e}") from None
    lines = ((number, raw.strip()) for number, raw in enumerate(text.splitlines(), start=1))
    return [(number, line) for number, line in lines if line and not line.startswith("#")]


def read_image_folder(folder: Path, n_classes: int = 1000) -> list[LabeledImage]:
    """Every file in the class folders of ``folder`` (sorted: a run is repeatable), labelled by
    its folder's name: a WordNet id of the ImageNet classes (through the ImageNet synset list,
    for a 1000-class network) or a class number. UsageError for a folder that names no class,
    and for a dataset without any file; hidden files are skipped."""
    folder = Path(folder)
    wnids = {wnid: k for k, (wnid, _) in enumerate(imagenet_classes())} if n_classes == 1000 else {}
    entries: list[LabeledImage] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name in wnids:
            label = wnids[sub.name]
        elif re.fullmatch(r"[0-9]+", sub.name) and int(sub.name) < n_classes:
            label = int(sub.name)
        else:
            known = "an ImageNet WordNet id (such as n02123045) or" if wnids else ""
            raise UsageError(
                f"{sub}: a class folder is named by {known} a class number 0-{n_classes - 1}"
            )
        for image in sorted(p for p in sub.rglob("*") if p.is_file()):
            if not any(part.startswith(".") for part in image.relative_to(sub).parts):
                entries.append(LabeledImage(image, label, len(entries) + 1))
    if not entries:
        raise UsageError(f"{folder} holds no images in class folders (ImageFolder layout)")
    return entries


def read_file_list(path: Path, n_classes: int = 1000) -> list[LabeledImage]:
    """Parse a ``PATH LABEL`` list (one image per line; blank lines and ``#`` comments skipped).

    Relative paths are relative to the list's folder. Every line is checked, and every image
    must exist, before anything runs: UsageError names the first bad line.
    """
    path = Path(path)
    entries = []
    for number, line in listed_lines(path, "file list"):
        parts = line.rsplit(maxsplit=1)
        where = f"{path}:{number}"
        if len(parts) != 2 or not re.fullmatch(r"-?[0-9]+", parts[1]):
            raise UsageError(f"{where}: expected 'IMAGE LABEL' with a class number, got {line!r}")
        label = int(parts[1])
        if not 0 <= label < n_classes:
            raise UsageError(f"{where}: label {label} is not a class number 0-{n_classes - 1}")
        image = Path(parts[0]).expanduser()
        if not image.is_absolute():
            image = path.parent / image
        if not image.is_file():
            raise UsageError(f"{where}: image not found: {image}")
        entries.append(LabeledImage(image, label, number))
    if not entries:
        raise UsageError(f"{path} lists no images")
    return entries
