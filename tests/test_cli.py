"""The ``vgg`` command as a whole: its version, and every command's ``--help``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from tests.test_cli_classify import CAT, run
from vggcli import __version__
from vggcli.cli import main
from vggcli.cli.exits import Exit


def test_version_and_help():
    assert run("--version").output.strip() == f"vgg, version {__version__}"
    for command in ("classify", "fetch-weights"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "vgg classify examples/chelsea.png" in run("classify", "--help").output


def _commands(group, prefix=()):
    yield prefix
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*prefix, name))


def test_every_help_fits_80_columns():
    """`vgg … --help` at 80 columns, examples included (click does not rewrap those)."""
    for words in _commands(main):
        result = CliRunner().invoke(main, [*words, "--help"], terminal_width=80)
        assert result.exit_code == 0, words
        long = [line for line in result.output.splitlines() if len(line) > 80]
        assert not long, (words, long)


def test_every_usage_error_exits_2_and_every_failure_1(tmp_path):
    from tests.test_cli_classify import assert_one_line_error

    click_usage = run("classify", CAT, "--backend", "nope")  # click's own
    assert click_usage.exit_code == Exit.USAGE and "Traceback" not in click_usage.output
    ours = run("stylize", CAT, CAT, CAT, "--style-blend", "1,2,3", "-o", tmp_path / "x.png")
    assert_one_line_error(ours, "--style-blend has 3 weights for 2 style images")
    assert ours.exit_code == Exit.USAGE
    failed = run("classify", tmp_path / "missing.png", "--weights", "random")
    assert_one_line_error(failed, "missing.png")
    assert failed.exit_code == Exit.FAILED
    assert (Exit.OK, Exit.FAILED, Exit.USAGE, Exit.INTERRUPTED) == (0, 1, 2, 130)


@pytest.mark.parametrize("delay", [0.1, 0.25, 0.5, 0.8, 1.2])
def test_ctrl_c_during_start_up_is_an_interruption_not_a_traceback(delay):
    """SIGINT while `vgg` is still importing numpy, scipy and the engine, or parsing."""
    child = subprocess.Popen(
        [sys.executable, "-m", "vggcli", "classify", CAT, "--weights", "random"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's
    )
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert "Traceback" not in err and "Aborted!" not in err, err
    # 0: it finished first; -SIGINT: Python ended itself with the signal, which a shell
    # reports as status 130 too
    assert child.returncode in (Exit.INTERRUPTED, -signal.SIGINT, Exit.OK), err
    if child.returncode != Exit.OK:
        assert err.strip().splitlines()[-1] == "interrupted"


def test_threads_are_set_at_run_time(tiny_mat):
    """--threads limits OpenBLAS in the running process (not only through the environment
    before numpy loads); without it, the cores this process may use."""
    from threadpoolctl import threadpool_info

    from vggcli.runtime import threads

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    assert run("classify", CAT, "--weights", tiny_mat, "--threads", "1").exit_code == 0
    assert blas_threads() == {1}
    assert run("classify", CAT, "--weights", tiny_mat).exit_code == 0
    assert blas_threads() == {threads.available()}
    result = run("classify", CAT, "--weights", tiny_mat, "--threads", "0")
    assert result.exit_code == Exit.USAGE and "--threads" in result.output
