"""Every registered loss traces whole with torch.compile(fullgraph=True): no graph
break (a context variable, a host read, a dtype-returning torch call...).

The ``eager`` backend runs dynamo's tracing, where graph breaks happen, without
inductor's code generation (minutes on CI); the graph it captured must give the
uncompiled value and gradient."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from losskit.testing.sampling import draw_case

torch = pytest.importorskip("torch")


def _call(spec, rng):
    if spec.kind == "structured":
        args, kwargs = spec.example(rng)
    else:
        _, x, y, extras = draw_case(spec, rng)
        args, kwargs = (x, y, *extras.values()), {}
    args = [torch.from_numpy(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in args]
    return args, {k: torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


@pytest.mark.parametrize("name", [s.name for s in losskit.specs()])
def test_traces_whole_with_fullgraph(name):
    spec = losskit.spec(name)
    args, kwargs = _call(spec, np.random.default_rng(0))
    torch._dynamo.reset()
    compiled = torch.compile(spec.function, fullgraph=True, backend="eager")
    first = args[0].clone().requires_grad_(True)
    got = compiled(first, *args[1:], **kwargs)
    got.sum().backward()
    again = args[0].clone().requires_grad_(True)
    want = spec.function(again, *args[1:], **kwargs)
    want.sum().backward()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(first.grad, again.grad, rtol=1e-10, atol=1e-12)
