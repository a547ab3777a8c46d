from __future__ import annotations

import random

from spladekit.ingest.ids import SeenIds, derive_id


def test_derived_id_is_stable_and_depends_on_title_and_text():
    a = derive_id("Wings", "stall")
    assert a == derive_id("Wings", "stall") and a.startswith("auto-") and len(a) == 5 + 32
    assert len({a, derive_id("", "Wings stall"), derive_id("Wings stall", ""), derive_id("Wings", "stall ")}) == 4


def test_seen_ids_matches_a_python_set_across_merges():
    rng = random.Random(3)
    seen, ref = SeenIds(capacity=16), set()
    for _ in range(2000):
        doc_id = f"d{rng.randrange(700)}"
        assert seen.add(doc_id) == (doc_id not in ref)
        ref.add(doc_id)
    assert len(seen) == len(ref)
    assert all(d in seen for d in ref) and "nope" not in seen
    assert seen.nbytes <= 32 * len(ref)
