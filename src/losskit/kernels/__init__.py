"""Fast paths: fused kernels that compute a loss and its input gradient in one
pass, beside the reference math in :mod:`losskit.functional`.

A functional loss validates its arguments, then asks this package for a fast
path. One is taken only where it can serve the call exactly (a PyTorch tensor
on a device with a kernel, float32 or float64, options it implements, no
gradient needed for anything but the input); otherwise the reference math runs.
The switch turns fast paths off everywhere or inside a ``with`` block::

    import losskit.kernels
    losskit.kernels.set_enabled(False)      # or LOSSKIT_KERNELS=reference
    with losskit.kernels.disabled(): ...    # reference math in this block
    with losskit.kernels.record() as used:  # which path each loss call took
        ...
    losskit.kernels.release_buffers()       # return cached gradient buffers to the system

Importing this package imports neither torch nor numba; they load on the
first call that could use them.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["enabled", "set_enabled", "disabled", "record", "note", "release_buffers"]

_OFF_VALUES = {"0", "off", "false", "no", "reference"}
# Plain module globals, not context variables: torch.compile reads a global as a
# constant (and guards on it), while reading a ContextVar breaks the graph. So
# the switch and the record are per process: a ``with`` block in one thread is
# seen by the others.
_default = os.environ.get("LOSSKIT_KERNELS", "on").strip().lower() not in _OFF_VALUES
_enabled: bool | None = None  # a ``disabled()`` block's setting, else None
_records: list | None = None


def enabled() -> bool:
    """Whether fast paths may be taken here (the ``with`` block's setting, else
    the global one, else ``$LOSSKIT_KERNELS``)."""
    return _default if _enabled is None else _enabled


def set_enabled(flag: bool) -> None:
    """Turn fast paths on or off for the whole process."""
    global _default
    if not isinstance(flag, bool):
        raise TypeError(f"set_enabled: flag must be True or False; received {flag!r}")
    _default = flag


@contextlib.contextmanager
def disabled():
    """Run the block on the reference math only."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


@contextlib.contextmanager
def record():
    """Collect ``(loss, path)`` for every call that asked for a fast path in the
    block: ``path`` names the kernel taken (``"cpu"``, ``"triton"``) or starts
    with ``"reference: "`` and says why none could serve."""
    global _records
    used: list[tuple[str, str]] = []
    previous, _records = _records, used
    try:
        yield used
    finally:
        _records = previous


def note(loss: str, path: str) -> None:
    """Record the path a call took (a no-op outside :func:`record`)."""
    if _records is not None:
        _records.append((loss, path))


def release_buffers() -> int:
    """Return the cached CPU gradient buffers that nothing references to the
    system (see :mod:`losskit.kernels._buffers`); the number of bytes freed."""
    from . import _buffers
    return _buffers.release()
