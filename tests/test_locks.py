"""The advisory file locks (vggcli.storage.locks): one holder at a time, and no lock file left
beside what it protected once the last holder lets go, whatever the order of the processes."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from vggcli.errors import OutputError
from vggcli.storage.locks import lock_path, locked


def test_the_lock_file_goes_with_the_last_holder(tmp_path):
    target = tmp_path / "picture.png"
    with locked(target):
        assert lock_path(target).exists()
    assert list(tmp_path.iterdir()) == []
    with locked(target, shared=True), locked(target, shared=True):
        pass
    assert list(tmp_path.iterdir()) == []


def _hold(target, shared, entered, leave):
    with locked(target, shared=shared):
        entered.set()
        leave.wait(30)


def test_a_shared_holder_leaves_the_file_while_another_holds_it(tmp_path):
    target = tmp_path / "weights"
    entered, leave = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(target=_hold, args=(target, True, entered, leave))
    other.start()
    try:
        assert entered.wait(30)
        with locked(target, shared=True):
            pass
        assert lock_path(target).exists()  # the other reader still holds it
    finally:
        leave.set()
        other.join(30)
    assert list(tmp_path.iterdir()) == []


def test_a_busy_lock_is_refused_by_on_wait(tmp_path):
    target = tmp_path / "picture.png"
    entered, leave = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(target=_hold, args=(target, False, entered, leave))
    other.start()
    try:
        assert entered.wait(30)

        def busy():
            raise OutputError("busy")

        with pytest.raises(OutputError), locked(target, on_wait=busy):
            pass
        assert lock_path(target).exists()  # still the other's
    finally:
        leave.set()
        other.join(30)


def _count_inside(target, inside, overlaps, rounds):
    for _ in range(rounds):
        with locked(target):
            with inside.get_lock():
                inside.value += 1
                if inside.value > 1:
                    overlaps.value += 1
            time.sleep(0.0005)
            with inside.get_lock():
                inside.value -= 1


def test_removing_the_file_never_lets_two_holders_in(tmp_path):
    """Four processes taking one lock 150 times each: each removes the lock file as it lets
    go while the others open, wait on and lock it; never two inside at once."""
    target = tmp_path / "results.jsonl"
    inside, overlaps = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    workers = [
        multiprocessing.Process(target=_count_inside, args=(target, inside, overlaps, 150))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert overlaps.value == 0
    assert list(tmp_path.iterdir()) == []


def test_a_killed_holder_leaves_an_empty_file_that_the_next_one_uses(tmp_path):
    target = tmp_path / "picture.png"
    entered, leave = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(target=_hold, args=(target, False, entered, leave))
    other.start()
    assert entered.wait(30)
    os.kill(other.pid, 9)
    other.join(30)
    assert lock_path(target).exists()
    with locked(target):
        pass
    assert list(tmp_path.iterdir()) == []
