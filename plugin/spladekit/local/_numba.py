"""The kernels of :mod:`spladekit.local.kernels`, jit-compiled by numba when it is installed.

Nothing here is a second implementation: each function of ``kernels.py`` is re-bound to a namespace in which
its callees are the compiled versions (and ``prange`` is numba's), then handed to ``numba.njit``. Without
numba the same functions run as plain Python, with one warning.

>>> get().backend in ("numba", "numpy")
True
"""

from __future__ import annotations

import os
import types
import warnings
from typing import Any

from spladekit.local import kernels

#: Set to False (or the environment variable ``SPLADEKIT_NO_NUMBA=1``) to force the plain numpy kernels.
USE_NUMBA = os.environ.get("SPLADEKIT_NO_NUMBA", "") not in ("1", "true", "yes")

_CACHE: dict[bool, Kernels] = {}


class Kernels:
    """The kernel functions of one backend: ``backend`` is ``"numba"`` or ``"numpy"``."""

    def __init__(self, backend: str, namespace: dict[str, Any], max_threads: int) -> None:
        self.backend = backend
        self.max_threads = max_threads
        self._ns = namespace
        self.search_batch = namespace[kernels.BATCH]
        self.search_batch_parallel = namespace[kernels.BATCH + "_parallel"]
        self.build_segment = namespace["build_segment"]
        self.merge_segments = namespace["merge_segments"]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._ns[name]
        except KeyError:
            raise AttributeError(name) from None

    def set_threads(self, threads: int) -> int:
        """Threads the parallel batch kernel will use (clipped to what numba allows); returns the number."""
        threads = max(1, min(int(threads), self.max_threads))
        if self.backend == "numba":
            import numba

            numba.set_num_threads(threads)
        return threads


def _rebind(func: types.FunctionType, namespace: dict[str, Any], name: str) -> types.FunctionType:
    clone = types.FunctionType(func.__code__, namespace, name, func.__defaults__, func.__closure__)
    clone.__qualname__ = name  # numba's on-disk cache is keyed by qualname: keep the two batch kernels apart
    clone.__doc__ = func.__doc__
    return clone


def _compile() -> Kernels:
    import numba

    ns = dict(vars(kernels))
    ns["prange"] = numba.prange
    for name in kernels.COMPILED:
        ns[name] = numba.njit(cache=True, nogil=True)(_rebind(getattr(kernels, name), ns, name))
    batch = getattr(kernels, kernels.BATCH)
    ns[kernels.BATCH] = numba.njit(cache=True, nogil=True)(_rebind(batch, ns, kernels.BATCH))
    parallel = kernels.BATCH + "_parallel"
    ns[parallel] = numba.njit(cache=True, nogil=True, parallel=True)(_rebind(batch, ns, parallel))
    for name in kernels.DRIVERS:
        ns[name] = _rebind(getattr(kernels, name), ns, name)
    return Kernels("numba", ns, int(numba.config.NUMBA_NUM_THREADS))


def _plain() -> Kernels:
    ns = dict(vars(kernels))
    ns[kernels.BATCH + "_parallel"] = kernels.search_batch
    return Kernels("numpy", ns, 1)


def get(use_numba: bool | None = None) -> Kernels:
    """The kernels to use: compiled when numba imports (and :data:`USE_NUMBA` allows), else plain numpy."""
    want = USE_NUMBA if use_numba is None else use_numba
    if want not in _CACHE:
        if want:
            try:
                _CACHE[want] = _compile()
            except ImportError:
                warnings.warn(
                    "numba is not installed: the local index runs its slow pure-numpy kernels "
                    "(pip install numba)", RuntimeWarning, stacklevel=2,
                )
                _CACHE[want] = _plain()
        else:
            _CACHE[want] = _plain()
    return _CACHE[want]
