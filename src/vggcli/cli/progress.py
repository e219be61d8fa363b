"""Progress while a command works: tqdm bars on a terminal, and for style transfer a log table
when stderr is a file. Each class renders events; how long is left is computed by
:class:`vggcli.style.estimate.TimeLeft`."""

from __future__ import annotations

import time

from tqdm import tqdm

from vggcli.cli.render.console import duration, err
from vggcli.engine.vgg19 import Layer
from vggcli.style.estimate import TimeLeft


class LayerBar:
    """A tqdm bar over a network pass, in work units, showing the current layer.

    Appears only when the pass takes longer than ``delay`` seconds (the loops backend).
    """

    def __init__(self, total: int, description: str, delay: float = 1.0) -> None:
        self.bar = tqdm(
            total=total,
            desc=description,
            unit="MAC",
            unit_scale=True,
            delay=delay,
            leave=False,
            dynamic_ncols=True,
            disable=None,
        )
        self.layer: str | None = None

    def __call__(self, layer: Layer, units: int) -> None:
        if layer.name != self.layer:
            self.layer = layer.name
            self.bar.set_postfix_str(layer.name, refresh=False)
        self.bar.update(units)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> LayerBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageBar:
    """Images done out of a list: a tqdm bar on a terminal; else (a log file, nohup) a line
    every :attr:`every` seconds with the rate and the time left, so that a long evaluation
    shows it is alive wherever its output goes."""

    every = 10.0

    def __init__(
        self, total: int, done: int = 0, description: str = "classify", noun: str = "images"
    ) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.description, self.noun = description, noun
        self.started = self.last_line = time.perf_counter()
        self.bar = None
        if err.is_terminal:
            self.bar = tqdm(
                total=total, initial=done, desc=description, unit=noun[:3], dynamic_ncols=True
            )

    def advance(self, images: int = 1) -> None:
        self.done += images
        if self.bar is not None:
            self.bar.update(images)
            return
        now = time.perf_counter()
        if now - self.last_line >= self.every and self.done < self.total:
            self.last_line = now
            rate = (self.done - self.start_done) / (now - self.started)
            left = duration((self.total - self.done) / rate) if rate else "?"
            err.print(
                f"{self.description}: {self.done}/{self.total} images · {rate:.3g}/s · {left} left",
                soft_wrap=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ImageBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ByteBar:
    """A tqdm bar for a download or a checksum, fed with (done, total) byte counts."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total,
                initial=done,
                desc=self.description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                dynamic_ncols=True,
                disable=None,
                leave=False,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ByteBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def step_bar(total: int, initial: int, description: str) -> tqdm:
    """A tqdm bar over optimisation steps (hidden when stderr is not a terminal)."""
    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit="step",
        dynamic_ncols=True,
        disable=None,
    )


class BenchBar:
    """Renders :class:`vggcli.measure.harness.BenchProgress` events, one tqdm bar each."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def start(self, label: str, total: int) -> None:
        self.finish()
        self.bar = tqdm(
            total=total, desc=label, unit="run", leave=False, dynamic_ncols=True, disable=None
        )

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


LOG_COLUMNS = ("step", "stage", "size", "total", "content", "style", "elapsed", "left")


LOG_ROW = "{:>9} {:>5} {:>9}  {:>9} {:>9} {:>9} {:>8} {:>8}"  # 75 characters


class StylizeProgress:
    """Progress of a style transfer, called as ``on_step(step, losses, stage)``: a tqdm bar
    on a terminal (fits 80 columns), else a table of one row every :attr:`every` seconds (a log
    file, nohup, ``make demo``; 75 columns, :data:`LOG_COLUMNS`); nothing with ``quiet``."""

    every = 5.0

    def __init__(self, prepared, start_step: int, quiet: bool = False) -> None:
        self.prepared = prepared
        self.total = prepared.total_steps
        self.quiet = quiet
        self.started = time.perf_counter()
        self.last_line = self.started
        self.start_step = start_step
        self.time_left = TimeLeft(prepared, start_step, self.started)
        self.bar = None
        self.logged = False  # whether the log's header row is out
        if not quiet and err.is_terminal:
            self.bar = tqdm(
                total=self.total, initial=start_step, desc="stylize", unit="step", ncols=80
            )

    def __call__(self, step: int, losses, stage: int) -> None:
        if self.quiet:
            return
        stages = self.prepared.stages
        where = f"{stage + 1}/{len(stages)} {stages[stage].label}"
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix_str(f"{where} loss {losses.total:.3g}", refresh=True)
            return
        now = time.perf_counter()
        if now - self.last_line < self.every and step < self.total:
            return
        self.last_line = now
        elapsed = now - self.started
        done = step - self.start_step
        left = self.time_left(step, stage, now)
        if not self.logged:
            err.print(LOG_ROW.format(*LOG_COLUMNS), soft_wrap=True)
            self.logged = True
        row = LOG_ROW.format(
            f"{step}/{self.total}",
            f"{stage + 1}/{len(stages)}",
            stages[stage].label,
            f"{losses.total:.2e}",
            f"{losses.content:.2e}",
            f"{losses.style:.2e}",
            duration(elapsed),
            duration(left) if done else "",
        )
        err.print(row, soft_wrap=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
