"""Where spladekit keeps its caches (models, exported encoders, engine distributions, local indexes)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$SPLADEKIT_CACHE`` if set, else ``~/.cache/spladekit``. The repo's scripts set it to ``.cache/``."""
    env = os.environ.get("SPLADEKIT_CACHE")
    return Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "spladekit"


def models_dir() -> Path:
    return cache_dir() / "models"


def engines_dir() -> Path:
    return cache_dir() / "engines"


def default_local_index() -> Path:
    """The embedded index used when no engine is given: ``$SPLADEKIT_INDEX`` or ``./.spladekit/index``."""
    env = os.environ.get("SPLADEKIT_INDEX")
    return Path(env) if env else Path(".spladekit") / "index"
