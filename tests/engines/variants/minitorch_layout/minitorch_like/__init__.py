"""The package imports an accelerator that is not installed; Scalar never uses it."""

import numba_not_installed_xyz  # noqa: F401

from .scalar import Scalar  # noqa: F401
