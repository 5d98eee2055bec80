"""A correct tensor engine laid out as a package (a test fixture).

`core.Nodes` holds an ndarray; there is no `*` or `-` operator: arithmetic
is `ops.mul(a, b)`, reductions and activations are functions of
`ops` and `ops.functional`, `sum(t, dims, keep)` only over given axes.
"""

from nodespkg import functional, ops
from nodespkg.core import Nodes

__all__ = ["Nodes", "functional", "ops"]
