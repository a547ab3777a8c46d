"""Transitional: the old home of the jit machinery, now :mod:`spladekit.jit`, and of :func:`get`, now
:func:`spladekit.local.kernels.get`. New code imports those.

``USE_NUMBA`` here reads and writes :data:`spladekit.jit.USE_NUMBA`, so that code (and tests) switching numba
off through this module still switch it off everywhere.

>>> import spladekit.jit
>>> sys.modules[__name__].USE_NUMBA == spladekit.jit.USE_NUMBA
True
"""

from __future__ import annotations

import sys
import types

from spladekit import jit
from spladekit.jit import Functions, functions
from spladekit.local.kernels import get

__all__ = ["Functions", "functions", "get"]  # and USE_NUMBA, below


class _Module(types.ModuleType):
    # A module's attributes cannot be properties, its class's can: this module's class becomes this one.

    @property
    def USE_NUMBA(self) -> bool:
        return jit.USE_NUMBA

    @USE_NUMBA.setter
    def USE_NUMBA(self, value: bool) -> None:
        jit.USE_NUMBA = value


sys.modules[__name__].__class__ = _Module
