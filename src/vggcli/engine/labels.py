"""ImageNet-1k class names, shipped with the package (caffe's synset_words.txt).

Line i is class i: ``<wnid> <comma-separated lemmas>``; class 281 is "tabby, tabby cat".
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """(wnid, label) for the 1000 ImageNet classes, in class-index order."""
    text = resources.files("vggcli").joinpath("data/synset_words.txt").read_text("utf-8")
    pairs = tuple(tuple(line.split(" ", 1)) for line in text.splitlines() if line.strip())
    if len(pairs) != 1000:
        raise RuntimeError(f"the packaged label list has {len(pairs)} lines, not 1000")
    return pairs


def imagenet_labels() -> tuple[str, ...]:
    """The 1000 class labels, e.g. ``imagenet_labels()[281] == "tabby, tabby cat"``."""
    return tuple(label for _, label in imagenet_classes())
