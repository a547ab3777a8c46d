"""The evaluation report: quality and cost side by side, as JSON and as a printed table.

Cost columns: ``q_terms`` mean non-zero terms per query vector (SPLADE only), ``d_terms`` mean non-zero terms
per document vector, ``bytes/doc`` the index's size on disk divided by its documents (local: the saved
folder; engine: the index's primary store size), ``p50_ms`` median search latency per query, one query at a
time, with the query already encoded (SPLADE) or as text (BM25); query encoding is reported apart as
``encode_p50_ms``.

>>> r = EvalReport("toy", n_docs=2, n_queries=1, measures=["nDCG@10"])
>>> r.systems.append(SystemResult("bm25", {"nDCG@10": 0.5}, {"q1": {"nDCG@10": 0.5}}, {"latency_p50_ms": 1.25}))
>>> print(r.table())
toy: 2 docs, 1 queries evaluated
system  nDCG@10  q_terms  d_terms  bytes/doc  p50_ms
------  -------  -------  -------  ---------  ------
bm25     0.5000        -        -          -    1.25
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

COST_COLUMNS = (
    ("q_terms", "mean_query_terms", "{:.1f}"),
    ("d_terms", "mean_doc_terms", "{:.1f}"),
    ("bytes/doc", "index_bytes_per_doc", "{:.0f}"),
    ("p50_ms", "latency_p50_ms", "{:.2f}"),
)


@dataclass
class SystemResult:
    """One system (backend x retrieval method): mean metrics, per-query metrics, cost, its run file."""

    name: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    cost: dict[str, float | None] = field(default_factory=dict)
    run_file: str | None = None
    info: dict = field(default_factory=dict)


@dataclass
class EvalReport:
    """What :func:`spladekit.evaluation.evaluate` returns; ``report[name]`` is one system's mean metrics."""

    dataset: str
    n_docs: int
    n_queries: int
    measures: list[str]
    systems: list[SystemResult] = field(default_factory=list)
    exclusions: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> dict[str, float]:
        return self.system(name).metrics

    def system(self, name: str) -> SystemResult:
        for s in self.systems:
            if s.name == name:
                return s
        raise KeyError(f"no system {name!r} in this report; systems: {', '.join(s.name for s in self.systems)}")

    def to_dict(self, per_query: bool = True) -> dict:
        d = asdict(self)
        if not per_query:
            for s in d["systems"]:
                s.pop("per_query")
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> EvalReport:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        d["systems"] = [SystemResult(**s) for s in d["systems"]]
        return cls(**d)

    def table(self) -> str:
        """A plain-text table: one row per system, measures then cost columns."""
        header = ["system", *self.measures, *(c[0] for c in COST_COLUMNS)]
        rows = []
        for s in self.systems:
            row = [s.name, *(f"{s.metrics[m]:.4f}" for m in self.measures)]
            for _, key, fmt in COST_COLUMNS:
                v = s.cost.get(key)
                row.append(fmt.format(v) if v is not None else "-")
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                 strict=True)))

        title = f"{self.dataset}: {self.n_docs} docs, {self.n_queries} queries evaluated"
        excluded = {k: v for k, v in self.exclusions.items() if k != "examples" and v}
        if excluded:
            title += " (excluded: " + ", ".join(f"{k}={v}" for k, v in excluded.items()) + ")"
        out = [title, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
        return "\n".join(x.rstrip() for x in out)

    def markdown(self) -> str:
        """The same table as Markdown (what docs/evaluation.md shows)."""
        header = ["system", *self.measures, *(c[0] for c in COST_COLUMNS)]
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for s in self.systems:
            cells = [s.name, *(f"{s.metrics[m]:.4f}" for m in self.measures)]
            for _, key, fmt in COST_COLUMNS:
                v = s.cost.get(key)
                cells.append(fmt.format(v) if v is not None else "-")
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out)
