"""Client-side fusion (RRF, weighted sum of min-max normalised scores, the hybrid of two hit lists) and eval's
timed run loop."""

from __future__ import annotations

import pytest

from spladekit.evaluation.runs import SystemRun, timed_run
from spladekit.fusion import RRF_K, fuse, ranked, rrf, weighted_sum
from spladekit.hits import Hit

A = {"q1": {"x": 9.0, "y": 4.0, "z": 1.0}, "q2": {"x": 2.0}}
B = {"q1": {"z": 30.0, "w": 20.0, "y": 10.0}, "q3": {"w": 1.0}}


def _rank_of(run, qid, did):
    return [d for d, _ in ranked(run[qid])].index(did) + 1


def test_rrf_follows_the_formula():
    fused = rrf([A, B])
    assert set(fused) == {"q1", "q2", "q3"}
    for did in ("x", "y", "z", "w"):
        expected = sum(1.0 / (RRF_K + _rank_of(r, "q1", did)) for r in (A, B) if did in r["q1"])
        assert fused["q1"][did] == pytest.approx(expected, rel=1e-15)
    # y (2nd and 3rd) beats x (1st in one run only)
    assert ranked(fused["q1"])[0][0] in ("y", "z")
    assert fused["q2"] == {"x": 1.0 / (RRF_K + 1)}
    assert rrf([A, B], k=0)["q3"] == {"w": 1.0}


def test_rrf_is_rank_based_not_score_based():
    scaled = {q: {d: s * 1000 for d, s in h.items()} for q, h in A.items()}
    assert rrf([A, B]) == rrf([scaled, B])


def test_weighted_sum_normalises_per_query():
    fused = weighted_sum([A, B], [0.7, 0.3])
    # A/q1: x=1, y=(4-1)/8, z=0; B/q1: z=1, w=0.5, y=0
    assert fused["q1"]["x"] == pytest.approx(0.7)
    assert fused["q1"]["y"] == pytest.approx(0.7 * 3 / 8)
    assert fused["q1"]["z"] == pytest.approx(0.3)
    assert fused["q1"]["w"] == pytest.approx(0.15)
    assert fused["q2"] == {"x": 0.7}  # a single hit (max == min) normalises to 1
    assert list(fused["q1"]) == [d for d, _ in ranked(fused["q1"])]


def test_weighted_sum_invariant_to_affine_score_changes():
    shifted = {q: {d: 3 * s + 100 for d, s in h.items()} for q, h in B.items()}
    a, b = weighted_sum([A, B], [0.5, 0.5]), weighted_sum([A, shifted], [0.5, 0.5])
    for q in a:
        assert a[q] == pytest.approx(b[q])


def test_fusion_depth_and_arguments():
    assert len(rrf([A, B], depth=2)["q1"]) == 2
    assert len(weighted_sum([A, B], [1, 1], depth=1)["q1"]) == 1
    with pytest.raises(ValueError, match="one weight per run"):
        weighted_sum([A, B], [1.0])
    with pytest.raises(ValueError, match="k must be"):
        rrf([A], k=-1)


def test_fuse_hit_lists_is_the_run_fusion_with_components():
    splade = [Hit("x", 9.0, 1), Hit("y", 4.0, 2), Hit("z", 1.0, 3)]
    bm25 = [Hit("z", 30.0, 1), Hit("w", 20.0, 2), Hit("y", 10.0, 3)]
    hits = fuse(splade, bm25, k=3, fusion="rrf")
    assert [(h.id, h.score) for h in hits] == list(rrf([A, B], depth=3)["q1"].items())
    assert hits[0].components["splade_rank"] in (2, 3) and hits[0].components["bm25_rank"] in (1, 3)
    weighted = fuse(splade, bm25, k=4, fusion="weighted", alpha=0.7)
    want = weighted_sum([A, B], [0.7, 1.0 - 0.7])["q1"]
    assert [(h.id, h.score) for h in weighted] == list(want.items())
    assert [h.rank for h in weighted] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="valid: rrf, weighted"):
        fuse(splade, bm25, k=3, fusion="max")
    with pytest.raises(ValueError, match="alpha"):
        fuse(splade, bm25, k=3, fusion="weighted", alpha=1.5)


def test_timed_run_keeps_every_query_and_a_latency_each():
    answers = {"q1": [Hit("b", 2.0, 1), Hit("a", 1.0, 2)], "q2": []}

    out = timed_run("fake", ["q1", "q2"], answers.__getitem__)
    assert isinstance(out, SystemRun)
    assert out.run == {"q1": {"b": 2.0, "a": 1.0}, "q2": {}}
    assert len(out.latencies_ms) == 2 and out.latency_p50_ms() is not None
    assert out.mean_query_terms() is None
