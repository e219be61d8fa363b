"""Strict JSON for ``--json``: the documents each command's render module shapes are written
here. ``docs/json.md`` describes every field; keys are only ever added. A value that is not a
finite number (NaN, ±Inf) becomes ``null`` instead of the bare ``NaN`` most readers refuse."""

from __future__ import annotations

import json
import math


def dumps(document: dict) -> str:
    """``document`` as strict, indented JSON (non-finite numbers as null)."""
    return json.dumps(_finite(document), indent=2, allow_nan=False)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
