"""Retrieval quality with ir_measures: the measure objects are both the computation and the report key.

A query that is judged but absent from the run (the backend returned nothing) scores 0 on every measure.
ir_measures 0.4 already yields each measure's default (0) for such queries; we fill them in ourselves as
well so the rule does not depend on the installed version or provider, and average over the judged queries.

>>> qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
>>> agg, per_query = compute(qrels, {"q1": {"a": 2.0, "c": 1.0}}, ["RR@10"])
>>> agg["RR@10"], per_query["q2"]["RR@10"]
(0.5, 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import ir_measures

from spladekit.errors import InputError

DEFAULT_MEASURES: tuple[str, ...] = ("nDCG@10", "RR@10", "R@100", "AP")


def parse_measures(names: Iterable[str]) -> list:
    """Measure names (ir_measures syntax, e.g. ``nDCG@10``, ``R@100``, ``AP``) -> measure objects."""
    out = []
    for name in names:
        try:
            out.append(ir_measures.parse_measure(name))
        except (ValueError, NameError, SyntaxError, TypeError) as exc:
            raise InputError(f"unknown measure {name!r}; use ir_measures names such as "
                             f"{', '.join(DEFAULT_MEASURES)}") from exc
    if not out:
        raise InputError(f"no measure given; use ir_measures names such as {', '.join(DEFAULT_MEASURES)}")
    return out


def compute(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean over judged queries, per query) for each measure; keys are the measure names as given.

    Queries in the run but not in ``qrels`` are ignored; judged queries missing from the run score 0.
    """
    parsed = parse_measures(measures)
    key = {m: name for m, name in zip(parsed, measures, strict=True)}
    per_query: dict[str, dict[str, float]] = {q: dict.fromkeys(measures, 0.0) for q in qrels}
    # pytrec_eval rejects an empty run dict for a query; leave such queries out and let them score 0
    answered = {q: {str(d): float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels and docs}
    if answered:
        judged = {q: {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items()}
        for metric in ir_measures.iter_calc(parsed, judged, answered):
            if metric.query_id in per_query:
                per_query[metric.query_id][key[metric.measure]] = float(metric.value)
    n = len(per_query)
    agg = {name: (sum(v[name] for v in per_query.values()) / n if n else 0.0) for name in measures}
    return agg, per_query
