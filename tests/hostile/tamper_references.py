"""WRONG engine (tanh' doubled) that also rigs the checker's references.

At import it replaces sympy.tanh by a function whose derivative is doubled,
sympy.diff by one that doubles every derivative, mpmath.tanh, and
gradcheck's reference facade. Run in the checker's process this turned
FAIL into PASS; isolated, it may rig only its own worker.
"""

from __future__ import annotations

import sympy
from hostile_base import Value as _Base

import gradcheck.internal.refs

_real_diff = sympy.diff


class _tanh(sympy.Function):  # it poses as sympy.tanh
    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return 2 * (1 - sympy.tanh(self.args[0]) ** 2)


def _diff(*args: object, **kwargs: object) -> object:
    return 2 * _real_diff(*args, **kwargs)


sympy.tanh = _tanh
sympy.diff = _diff
try:
    import mpmath

    mpmath.tanh = lambda x: 0
    mpmath.mp.tanh = lambda x: 0
except ImportError:
    pass
for name in dir(gradcheck.internal.refs):
    if not name.startswith("__") and callable(getattr(gradcheck.internal.refs, name)):
        setattr(gradcheck.internal.refs, name, lambda *a, **k: None)
try:
    import gradcheck.internal.refs.references as facade

    for name in dir(facade):
        if not name.startswith("__") and callable(getattr(facade, name)):
            setattr(facade, name, lambda *a, **k: None)
except ImportError:
    pass


class Value(_Base):
    def tanh(self) -> _Base:
        out = super().tanh()
        t = out.data

        def _backward() -> None:
            self.grad += 2 * (1 - t * t) * out.grad  # the bug: twice too big

        out._backward = _backward
        return out
