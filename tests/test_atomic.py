"""Atomic writes: all or nothing, with the permissions an ordinary open() would give."""

from __future__ import annotations

import os
import stat

import pytest

from vggcli.storage.atomic import atomic_write


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_0666_less_the_umask(tmp_path, umask):
    atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x"))
    assert _mode(tmp_path / "a.bin") == 0o644  # mkstemp alone gives 0600
    umask(0o077)
    atomic_write(tmp_path / "b.bin", lambda f: f.write(b"x"))
    assert _mode(tmp_path / "b.bin") == 0o600


def test_a_replaced_file_keeps_its_permissions(tmp_path, umask):
    path = tmp_path / "c.bin"
    path.write_bytes(b"old")
    path.chmod(0o640)
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new" and _mode(path) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, umask):
    path = tmp_path / "d.bin"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.bin"]
