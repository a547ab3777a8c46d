"""The kernels of :mod:`spladekit.local.kernels`, jit-compiled by numba when it is installed.

Nothing here is a second implementation: each function of ``kernels.py`` is re-bound to a namespace in which
its callees are the compiled versions (and ``prange`` is numba's), then handed to ``numba.njit``. Without
numba the same functions run as plain Python, with one warning. :func:`functions` does the same for any other
module written that way (:mod:`spladekit.local.reorder`).

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
_MODULES: dict[tuple[str, bool], Functions] = {}


class Functions:
    """The functions of one kernel module for one backend (``"numba"`` or ``"numpy"``), as attributes."""

    def __init__(self, backend: str, namespace: dict[str, Any], max_threads: int) -> None:
        self.backend = backend
        self.max_threads = max_threads
        self._ns = namespace

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


class Kernels(Functions):
    """The kernel functions of :mod:`spladekit.local.kernels` for one backend."""

    def __init__(self, backend: str, namespace: dict[str, Any], max_threads: int) -> None:
        super().__init__(backend, namespace, max_threads)
        self.search_batch = namespace[kernels.BATCH]
        self.search_batch_parallel = namespace[kernels.BATCH + "_parallel"]
        self.build_segment = namespace["build_segment"]
        self.merge_segments = namespace["merge_segments"]


def _rebind(func: types.FunctionType, namespace: dict[str, Any], name: str) -> types.FunctionType:
    clone = types.FunctionType(func.__code__, namespace, name, func.__defaults__, func.__closure__)
    clone.__qualname__ = name  # numba's on-disk cache is keyed by qualname: keep the two batch kernels apart
    clone.__doc__ = func.__doc__
    return clone


def jit_namespace(module: types.ModuleType, compiled: tuple[str, ...], parallel: tuple[str, ...] = (),
                  drivers: tuple[str, ...] = ()) -> dict[str, Any]:
    """``module``'s globals with its functions swapped for compiled ones (raises ImportError without numba).

    ``compiled`` are jit-compiled; each of ``parallel`` twice, as itself (``prange`` runs serially) and as
    ``<name>_parallel`` (``prange`` runs in parallel); ``drivers`` stay Python but call the compiled versions.
    Callees are looked up in the namespace when a caller is first compiled, so every caller sees compiled ones.
    """
    import numba

    ns = dict(vars(module))
    ns["prange"] = numba.prange
    for name in compiled + parallel:
        ns[name] = numba.njit(cache=True, nogil=True)(_rebind(getattr(module, name), ns, name))
    for name in parallel:
        wide = name + "_parallel"
        ns[wide] = numba.njit(cache=True, nogil=True, parallel=True)(_rebind(getattr(module, name), ns, wide))
    for name in drivers:
        ns[name] = _rebind(getattr(module, name), ns, name)
    return ns


def plain_namespace(module: types.ModuleType, parallel: tuple[str, ...] = ()) -> dict[str, Any]:
    """``module``'s globals as they are, with ``<name>_parallel`` the plain function for each of ``parallel``."""
    ns = dict(vars(module))
    for name in parallel:
        ns[name + "_parallel"] = getattr(module, name)
    return ns


def _compile() -> Kernels:
    import numba

    ns = jit_namespace(kernels, kernels.COMPILED, (kernels.BATCH,), kernels.DRIVERS)
    return Kernels("numba", ns, int(numba.config.NUMBA_NUM_THREADS))


def _plain() -> Kernels:
    return Kernels("numpy", plain_namespace(kernels, (kernels.BATCH,)), 1)


def functions(module: types.ModuleType, compiled: tuple[str, ...], parallel: tuple[str, ...] = (),
              drivers: tuple[str, ...] = (), use_numba: bool | None = None) -> Functions:
    """:func:`get` for another kernel module: its functions compiled (see :func:`jit_namespace`) or plain."""
    want = USE_NUMBA if use_numba is None else use_numba
    key = (module.__name__, want)
    if key not in _MODULES:
        if want:
            try:
                import numba

                ns = jit_namespace(module, compiled, parallel, drivers)
                _MODULES[key] = Functions("numba", ns, int(numba.config.NUMBA_NUM_THREADS))
            except ImportError:
                warnings.warn(
                    f"numba is not installed: {module.__name__} runs as slow plain Python (pip install numba)",
                    RuntimeWarning, stacklevel=2,
                )
                _MODULES[key] = Functions("numpy", plain_namespace(module, parallel), 1)
        else:
            _MODULES[key] = Functions("numpy", plain_namespace(module, parallel), 1)
    return _MODULES[key]


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
