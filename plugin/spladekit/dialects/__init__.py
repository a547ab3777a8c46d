"""Engine dialects: one module per engine, each defining ``SPEC``, an :class:`EngineSpec`.

Adding an engine is one module here (plus its tests): the registry finds every module of this package that
defines ``SPEC``. Nothing outside this package says ``if engine == ...``.

>>> names()
('elasticsearch', 'opensearch')
>>> get("opensearch").sparse_type, get("elasticsearch").sparse_type
('rank_features', 'sparse_vector')
>>> get("solr")
Traceback (most recent call last):
...
ValueError: unknown engine 'solr'; valid engines: elasticsearch, opensearch
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from spladekit.dialects.base import EngineSpec

__all__ = ["EngineSpec", "get", "names", "specs"]


@functools.cache
def specs() -> dict[str, EngineSpec]:
    """Every engine's spec by name, in name order."""
    found: dict[str, EngineSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SPEC", None)
        if isinstance(spec, EngineSpec):
            found[spec.name] = spec
    return found


def names() -> tuple[str, ...]:
    """The engines spladekit speaks, e.g. for ``click.Choice``."""
    return tuple(specs())


def get(engine: str | EngineSpec) -> EngineSpec:
    """The spec of ``engine`` (a name, or a spec passed through)."""
    if isinstance(engine, EngineSpec):
        return engine
    try:
        return specs()[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; valid engines: {', '.join(names())}") from None
