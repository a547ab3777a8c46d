"""The layers hold (import-linter's contract in pyproject.toml), imports inside functions are only for the
optional heavy extras (each with its reason below), and the code is ruff-clean. docs/architecture.md draws the
layers; a failure here names the import that breaks them."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "plugin" / "spladekit"

#: What may be imported inside a function (outside cli/, the thin skin that imports its verb's library module
#: when the verb runs), and why. Everything else is imported at the top of its module, where the layer contract
#: sees it.
LAZY_IMPORTS = {
    "torch": "the export/train extra; seconds to import, and the ONNX runtime never needs it",
    "transformers": "the export/train extra (imports torch)",
    "sentence_transformers": "the train extra (imports torch)",
    "datasets": "the train extra",
    "matplotlib": "a dev dependency, only for eval's optional per-query plot",
    "pyarrow": "a dev dependency, only for Parquet input",
    "huggingface_hub": "the export extra, only for Hugging Face model ids",
    "numba": "imported when the kernels are compiled (SPLADEKIT_NO_NUMBA=1 runs without it; ~0.5 s)",
    "spladekit.encoder.export": "imports torch, transformers and onnx (the export extra)",
    "spladekit.ingest.distributed": "imports ray (the ray extra), for ingest --ray",
    "spladekit.encoder.torch_backend": "imports torch and transformers (the export extra), for backend='torch'",
    "onnxruntime": "spladekit doctor reports a broken or missing core package instead of failing to start",
    "trustme": "the engines extra, only to make the certificates of a secured test node (engine start --secure)",
    "cryptography": "comes with trustme: a secured test node's keys as PKCS#8 and its certificates' names",
}
#: Module-level ``__getattr__`` functions import lazily on purpose: ``import spladekit`` stays light.
LAZY_GETATTR = True


def _function_local_imports() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if LAZY_GETATTR and node.name == "__getattr__" and node in tree.body:
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and sub.level == 0:
                    found.append((str(rel), sub.lineno, sub.module or ""))
                elif isinstance(sub, ast.Import):
                    found.extend((str(rel), sub.lineno, alias.name) for alias in sub.names)
    return found


def _allowed(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in LAZY_IMPORTS)


def test_imports_inside_functions_are_optional_heavy_extras_only():
    offenders = [f"{path}:{line} imports {module}" for path, line, module in _function_local_imports()
                 if not _allowed(module)]
    assert offenders == [], ("import these at the top of the module (or add the extra, with its reason, to "
                             "LAZY_IMPORTS): " + "; ".join(offenders))


def test_every_lazy_import_reason_is_still_used():
    used = {module for _, _, module in _function_local_imports()}
    unused = [name for name in LAZY_IMPORTS if not any(m == name or m.startswith(name + ".") for m in used)]
    assert unused == [], f"LAZY_IMPORTS lists extras nothing imports lazily any more: {unused}"


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.is_file() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (it is in the dev extra: pip install -e '.[dev]')", pytrace=False)
    return found


def test_layers_hold():
    out = subprocess.run([_tool("lint-imports"), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
                         cwd=REPO / "plugin", capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout


def test_ruff_is_clean():
    out = subprocess.run([_tool("ruff"), "check", "plugin", "tests", "benchmarks"], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:]
