"""One kernel, two speeds: functions written once in plain numpy and loops, jit-compiled by numba when it imports.

Nothing compiled here is a second implementation. A kernel module (or a group of modules, such as the package
:mod:`spladekit.local.kernels`) is written in the subset numba compiles: arrays, scalars, tuples of them, loops.
:func:`functions` re-binds the module's functions to one namespace in which their callees are the compiled
versions (and ``prange`` is numba's), then hands them to ``numba.njit``. Without numba, or with
:data:`USE_NUMBA` off, the same functions run as they are, as plain Python (slowly, with the same results bit
for bit: each kernel's tests assert it).

Base layer: imports only the standard library and numba (lazily), so that any layer may compile its kernels.

>>> import types
>>> toy = types.ModuleType("toy")
>>> exec("def double(x):\\n    return 2 * x\\n\\ndef quadruple(x):\\n    return double(double(x))\\n", vars(toy))
>>> plain = functions(toy, ("double", "quadruple"), use_numba=False)
>>> plain.backend, plain.quadruple(5), plain.set_threads(8)
('numpy', 20, 1)
"""

from __future__ import annotations

import hashlib
import inspect
import os
import types
import warnings
from collections.abc import Sequence
from typing import Any

#: Set to False (or the environment variable ``SPLADEKIT_NO_NUMBA=1``) to force the plain Python kernels.
USE_NUMBA = os.environ.get("SPLADEKIT_NO_NUMBA", "") not in ("1", "true", "yes")

_MODULES: dict[tuple[tuple[str, ...], bool], Functions] = {}

Modules = types.ModuleType | Sequence[types.ModuleType]


class Functions:
    """The functions of one kernel module (or group) for one backend (``"numba"`` or ``"numpy"``), as attributes."""

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
        """Threads the parallel kernels will use (clipped to what numba allows); returns the number."""
        threads = max(1, min(int(threads), self.max_threads))
        if self.backend == "numba":
            import numba

            numba.set_num_threads(threads)
        return threads


def _group(modules: Modules) -> tuple[types.ModuleType, ...]:
    return (modules,) if isinstance(modules, types.ModuleType) else tuple(modules)


def _names(code: types.CodeType) -> set[str]:
    """Names a function's code looks up (globals and attributes alike; nested code objects too)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _merged(modules: tuple[types.ModuleType, ...], strict: bool = True) -> dict[str, Any]:
    """The globals of the modules as one namespace.

    A name that two modules bind to different objects is an error if a function of theirs looks it up (compiled
    callers would all call one of them), and left out otherwise (each module's own ``COMPILED``, say). With
    ``strict=False`` the first module's binding is kept: plain functions look names up in their own modules.
    """
    if len(modules) == 1:
        return dict(vars(modules[0]))
    ns: dict[str, Any] = {}
    clashes: set[str] = set()
    used: set[str] = set()
    for module in modules:
        for name, value in vars(module).items():
            if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
                used |= _names(value.__code__)
            if name.startswith("__"):
                continue  # each module's own __name__, __file__, ...
            if name in ns and ns[name] is not value:
                clashes.add(name)
            else:
                ns[name] = value
    if strict:
        if clashes & used:
            raise ValueError(f"{', '.join(sorted(clashes & used))}: bound to different objects in the modules of "
                             f"one kernel group ({', '.join(m.__name__ for m in modules)}); rename one, or import "
                             "it from the other")
        for name in clashes:
            del ns[name]
    ns["__builtins__"] = vars(modules[0])["__builtins__"]
    ns["__name__"] = _group_name(modules)
    return ns


def _group_name(modules: tuple[types.ModuleType, ...]) -> str:
    """The package the modules share (``spladekit.local.kernels``), or the first module's name."""
    if len(modules) == 1:
        return modules[0].__name__
    common: list[str] = []
    for parts in zip(*(m.__name__.split(".") for m in modules), strict=False):
        if len(set(parts)) > 1:
            break
        common.append(parts[0])
    return ".".join(common) or modules[0].__name__


def _lookup(modules: tuple[types.ModuleType, ...], name: str) -> types.FunctionType:
    for module in modules:
        func = vars(module).get(name)
        if isinstance(func, types.FunctionType):
            return func
    raise AttributeError(f"no function {name!r} in {', '.join(m.__name__ for m in modules)}")


def _fingerprint(modules: tuple[types.ModuleType, ...]) -> str:
    # numba's on-disk cache checks only the source file of the function it compiled, but a caller's machine code
    # holds its callees (inlined, and their global constants frozen): a group spread over several files is
    # compiled as a whole, under a name that changes when any of its files changes.
    digest = hashlib.sha256()
    for module in modules:
        try:
            digest.update(inspect.getsource(module).encode("utf-8"))
        except (OSError, TypeError):  # no source to read: numba could not cache it either
            digest.update(module.__name__.encode("utf-8"))
    return digest.hexdigest()[:10]


def _rebind(func: types.FunctionType, namespace: dict[str, Any], name: str, qualname: str) -> types.FunctionType:
    clone = types.FunctionType(func.__code__, namespace, name, func.__defaults__, func.__closure__)
    clone.__qualname__ = qualname  # numba's on-disk cache is keyed by qualname: keep the parallel variants apart
    clone.__doc__ = func.__doc__
    return clone


def jit_namespace(modules: Modules, compiled: Sequence[str], parallel: Sequence[str] = (),
                  drivers: Sequence[str] = ()) -> dict[str, Any]:
    """The modules' globals with their functions swapped for compiled ones (raises ImportError without numba).

    ``compiled`` are jit-compiled; each of ``parallel`` twice, as itself (``prange`` runs serially) and as
    ``<name>_parallel`` (``prange`` runs in parallel); ``drivers`` stay Python but call the compiled versions.
    Callees are looked up in the namespace when a caller is first compiled (numba compiles lazily), so every
    caller sees compiled ones, whatever the order of the names. Several modules share one namespace: a function
    of one calls those of the others by the names it imported them under.
    """
    import numba

    group = _group(modules)
    ns = _merged(group)
    ns["prange"] = numba.prange
    suffix = "" if len(group) == 1 else "_" + _fingerprint(group)
    for name in (*compiled, *parallel):
        clone = _rebind(_lookup(group, name), ns, name, name + suffix)
        ns[name] = numba.njit(cache=True, nogil=True)(clone)
    for name in parallel:
        wide = name + "_parallel"
        clone = _rebind(_lookup(group, name), ns, wide, wide + suffix)
        ns[wide] = numba.njit(cache=True, nogil=True, parallel=True)(clone)
    for name in drivers:
        ns[name] = _rebind(_lookup(group, name), ns, name, name)
    return ns


def plain_namespace(modules: Modules, parallel: Sequence[str] = ()) -> dict[str, Any]:
    """The modules' globals as they are, with ``<name>_parallel`` the plain function for each of ``parallel``.

    The functions keep their own modules' globals: patching a module attribute reaches the plain kernels.
    """
    group = _group(modules)
    ns = _merged(group, strict=False)
    for name in parallel:
        ns[name + "_parallel"] = _lookup(group, name)
    return ns


def functions(modules: Modules, compiled: Sequence[str], parallel: Sequence[str] = (), drivers: Sequence[str] = (),
              use_numba: bool | None = None) -> Functions:
    """The functions of a kernel module, or of a group of modules: compiled (see :func:`jit_namespace`) or plain.

    ``use_numba=None`` follows :data:`USE_NUMBA`. Built once per module (group) and backend; without numba the
    plain functions come with one ``RuntimeWarning``.
    """
    group = _group(modules)
    want = USE_NUMBA if use_numba is None else use_numba
    key = (tuple(m.__name__ for m in group), want)
    if key not in _MODULES:
        if want:
            try:
                import numba

                ns = jit_namespace(group, compiled, parallel, drivers)
                _MODULES[key] = Functions("numba", ns, int(numba.config.NUMBA_NUM_THREADS))
            except ImportError:
                name = _group_name(group)
                warnings.warn(f"numba is not installed: {name} runs as slow plain Python (pip install numba)",
                              RuntimeWarning, stacklevel=2)
                _MODULES[key] = Functions("numpy", plain_namespace(group, parallel), 1)
        else:
            _MODULES[key] = Functions("numpy", plain_namespace(group, parallel), 1)
    return _MODULES[key]
