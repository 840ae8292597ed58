"""The error helpers of the command line: a user error is one line on stderr, exit status 2.

The library raises ValueError/TypeError with the house message ("<argument> must be
<expectation>; received <what>", made by ``losskit._validate.refusal``); ``user_errors``
turns those, and the OS's errors (a file that cannot be read or written, data too large),
into ``Refused``. A bad option or argument that click checks is ``bad_parameter``, the same
message for click ("Invalid value for '--param': must be ...; received ...").
"""

from __future__ import annotations

import contextlib

import click

# errors of the user's making: the library raises these with a message naming the argument;
# OSError and MemoryError too (a file or folder that cannot be read or written, data too large)
USER_ERRORS = (ValueError, TypeError, OSError, MemoryError, ImportError)


class Refused(click.ClickException):
    """A user error: one line on stderr ("Error: ..."), exit status 2, no traceback."""

    exit_code = 2


def error_text(error: BaseException) -> str:
    """One line saying what is wrong: the library's house message, or the OS's reason and file."""
    if isinstance(error, MemoryError):
        return f"not enough memory ({error or 'MemoryError'}); use smaller data, or fewer --jobs"
    if isinstance(error, OSError) and error.strerror:  # raised by the OS, not by losskit
        return f"{error.strerror}: {str(error.filename)!r}" if error.filename else error.strerror
    return " ".join(str(error).split()) or type(error).__name__


def bad_parameter(expectation: str, received: str, param_hint: str | None = None) -> click.BadParameter:
    """The house message for an option or argument: ``must be <expectation>; received <received>``
    (click names the parameter), made for the caller to raise."""
    return click.BadParameter(f"must be {expectation}; received {received}", param_hint=param_hint)


@contextlib.contextmanager
def user_errors():
    """Around a command's work: an error of the user's making exits 2 with one line."""
    try:
        yield
    except click.ClickException:
        raise
    except USER_ERRORS as error:
        raise Refused(error_text(error)) from None

