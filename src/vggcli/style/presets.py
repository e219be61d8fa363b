"""What ``vgg stylize C S`` does by default, and what ``--manual`` does: option values chosen by
measurement (``docs/style-transfer.md``) and the lab manual's run."""

from __future__ import annotations

DEFAULT_MAX_SIDE = 512


PRESET = {  # what `vgg stylize C S` does: chosen by measurement (docs/style-transfer.md)
    "optimizer": "lbfgs",
    "max_side": 512,
    "stages": None,  # by output size: 2 stages for 512
    "steps": None,  # the optimiser's default_steps
    "init": "content",
    "tv_weight": 0.0,  # L-BFGS from the content leaves no grain to smooth (docs/style-transfer.md)
    "clip": True,
}


MANUAL = {  # `vgg stylize C S --manual`: the lab manual's run, as vggcli 0.1.0 ran it by default
    "optimizer": "adam",
    "max_side": 320,
    "stages": 1,
    "steps": (1000,),
    "init": "noise",
    "tv_weight": 0.0,
    "clip": False,
    "backend": "img2col",
}
