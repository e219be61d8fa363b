"""``vgg check --backend NAME``: a backend's conv and pool layers, forward and every backward
output, on random inputs of several shapes, against the loops reference (and torch when
installed), followed by its gradient checks (:mod:`.gradient_checks`)."""

from __future__ import annotations

from vggcli import models
from vggcli.engine.backends.base import Backend
from vggcli.engine.network import FLOAT32_TOLERANCE
from vggcli.errors import UsageError
from vggcli.measure.gradcheck import Check, relative_error
from vggcli.measure.gradient_checks import gradient_checks
from vggcli.measure.layercases import conv_case, pool_case
from vggcli.measure.torch_reference import TORCH, TorchOps

# (N, Cin, H, W, Cout, K, stride, pad) and (N, C, H, W, K, stride): odd sizes, strides, padding
CONV_CASES = (
    (1, 3, 7, 9, 4, 3, 1, 1),
    (2, 16, 9, 7, 16, 3, 1, 1),  # wide enough for winograd's own path
    (1, 32, 6, 5, 24, 3, 1, 0),
    (2, 5, 8, 6, 3, 3, 2, 1),
    (1, 6, 5, 7, 2, 1, 1, 0),
    (2, 4, 9, 11, 6, 5, 1, 2),
)


POOL_CASES = ((1, 3, 8, 8, 2, 2), (2, 4, 7, 9, 2, 2), (1, 2, 9, 9, 3, 2))


def layer_checks(backend: Backend, references: dict[str, Backend]) -> list[Check]:
    """``backend`` against each reference on :data:`CONV_CASES` and :data:`POOL_CASES`:
    the forward output and every backward output (dx, and dw, db for conv)."""
    cases = []
    for n, cin, h, w, cout, k, s, p in CONV_CASES:
        cases.append(
            (
                f"conv {n}x{cin}x{h}x{w}→{cout} k{k} s{s} p{p}",
                conv_case((n, cin, h, w), cout, k, s, p, seed=len(cases)),
            )
        )
    for n, c, h, w, k, s in POOL_CASES:
        cases.append(
            (f"maxpool {n}x{c}x{h}x{w} k{k} s{s}", pool_case((n, c, h, w), k, s, seed=len(cases)))
        )
    checks = []
    for label, case in cases:
        ours = case.run(backend)[2]
        for ref_name, ref in references.items():
            theirs = case.run(ref)[2]
            checks += [
                Check(
                    f"{label} {key} vs {ref_name}",
                    relative_error(ours[key], theirs[key]),
                    FLOAT32_TOLERANCE,
                )
                for key in ours
            ]
    return checks


def check_backend(name: str) -> tuple[list[Check], list[str]]:
    """``vgg check --backend name``: its layers against the loops reference and torch (when
    installed), and its gradients against central differences. (checks, notes for the user)."""
    backend = models.layer_backend(
        name, f"check it on an image: vgg check IMAGE --compare img2col,{name}"
    )
    references: dict[str, Backend] = {}
    notes = []
    if backend.name != "loops":
        references["loops"] = models.layer_backend("loops", "")
    try:
        references[TORCH] = TorchOps()
    except UsageError:
        notes.append("torch is not installed: comparing with the loops reference only")
    return layer_checks(backend, references) + gradient_checks(backend), notes
