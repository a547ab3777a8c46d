"""The cache of exported encoders: a model name or folder exported to ONNX once, reused after.

``onnx_dir("splade-tiny")`` exports the default model into ``$SPLADEKIT_CACHE/onnx/splade-tiny`` the first
time (a few seconds on a laptop; needs the ``export`` extra) and returns that folder every time after, until
:data:`spladekit.encoder.EXPORT_REVISION` changes (then it exports again). A folder that already holds an
export is returned as it is. The export is written to a temporary folder and renamed into place, so a crash
never leaves half an export, and says one line on the ``spladekit`` logger (the CLI shows it on stderr).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from spladekit import paths
from spladekit.encoder import CONFIG_NAME, EXPORT_REVISION
from spladekit.errors import missing_extra
from spladekit.models import DEFAULT_MODEL, resolve_model

log = logging.getLogger("spladekit")


def _cache_name(name_or_dir: str | Path) -> str:
    text = str(name_or_dir)
    if text == DEFAULT_MODEL:
        return DEFAULT_MODEL
    path = Path(text).expanduser()
    if path.is_dir():
        # A directory may be an exported encoder already, or a model; key the cache by its resolved path.
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        return f"{path.resolve().name}-{digest}"
    return text.replace("/", "--")


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`spladekit.encoder.export.export`."""
    return (Path(path) / CONFIG_NAME).is_file()


def onnx_dir(name_or_dir: str | Path = DEFAULT_MODEL) -> Path:
    """A directory holding an exported ONNX encoder for ``name_or_dir``, exporting it once into the cache."""
    path = Path(str(name_or_dir)).expanduser()
    if path.is_dir() and is_export(path):
        return path
    target = paths.cache_dir() / "onnx" / _cache_name(name_or_dir)
    if is_export(target):
        cached = json.loads((target / CONFIG_NAME).read_text(encoding="utf-8"))
        if cached.get("export_revision") == EXPORT_REVISION:
            return target
    model_dir = resolve_model(name_or_dir)
    try:
        # torch, transformers and onnx: the optional `export` extra, needed only to export.
        from spladekit.encoder.export import export
    except ImportError as exc:
        raise missing_extra(exc.name or "torch", "export") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spladekit-export-", dir=target.parent) as tmp:
        staging = Path(tmp) / "out"
        export(model_dir, staging, source_name=str(name_or_dir))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    log.info("exported %s to ONNX in %s (%.1f s, once; reused from the cache after)", name_or_dir, target,
             time.perf_counter() - started)
    return target
