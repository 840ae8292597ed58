"""The one console and progress bar of the command line.

rich is imported here, at the top: a command that draws (compare, tune, demo, bench)
then fails to load as a whole when rich is missing, with one line, and the others still run.
"""

from __future__ import annotations

import sys

import rich.console  # noqa: F401 - the commands that import this module need rich


def make_console(**kwargs):
    """stderr, messages unwrapped (soft_wrap): a message is one line whatever the terminal's width."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, **kwargs)


def stdout_console(width: int = 140):
    """stdout for tables: the terminal's width, or ``width`` columns when piped (no wrapping at 80)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else width, soft_wrap=True)


def say(console, text: str) -> None:
    """Print ``text`` as it is: user data (column names, labels, paths) is never read as markup."""
    console.print(text, markup=False, highlight=False)


class _Bar:
    """A rich progress bar drawn only from its first update, so that every input error is
    reported before any bar (``update`` comes after the checks); stopped on leaving ``with``."""

    def __init__(self, progress, description: str):
        self.progress = progress
        self.task = progress.add_task(description, total=None, last="")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, text: str, done: int, total: int) -> None:
        self.progress.start()  # a no-op once started
        self.progress.update(self.task, completed=done, total=total, last=text)


def progress_bar(console, description: str):
    """A rich progress bar; returns (the bar, a callback for ``execute``: (record, done, total))."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[last]}", markup=False), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console, transient=False)
    bar = _Bar(progress, description)

    def update(record, done, total):
        last = "" if record is None else f"{record['label']} fold {record['fold']} seed {record['seed']}"
        bar.update(last, done, total)
    return bar, update


def interrupted(console, saved: str):
    """Ctrl-C: say what is kept and how to resume (one unwrapped line), exit 130."""
    from rich.text import Text

    console.print(Text.assemble(("interrupted", "yellow"), f": {saved}; run the same command to resume."),
                  highlight=False)
    sys.exit(130)
