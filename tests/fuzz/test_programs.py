"""Generator guarantees: seeded, JSON-serialisable, every kind reachable at every depth."""

from __future__ import annotations

import json

from fuzz import model
from fuzz.programs import (
    ALL_KINDS,
    BASIC_KINDS,
    COMBINATOR_KINDS,
    NESTED_KINDS,
    Gen,
    GenConfig,
    kind_histogram,
    sub_rng,
    walk,
)


def test_same_seed_same_programs_and_json_roundtrip() -> None:
    a = Gen(7).programs(50)
    b = Gen(7).programs(50)
    assert a == b
    assert json.loads(json.dumps(a)) == a
    assert Gen(8).programs(50) != a


def test_between_honours_both_bounds() -> None:
    g = Gen(1)
    seen = {g.between(3, 5) for _ in range(500)}
    assert seen == {3, 4, 5}


def test_every_kind_has_weight_at_every_interpreter_depth() -> None:
    g = Gen(3)
    for layer in range(g.config.max_depth + 1):
        assert set(g.kinds_for(layer)) == set(BASIC_KINDS) | set(NESTED_KINDS) | set(COMBINATOR_KINDS)
    assert set(g.kinds_for(g.config.max_depth + 1)) == set(BASIC_KINDS) | set(COMBINATOR_KINDS)


def test_prelude_covers_every_kind_and_depths_are_bounded() -> None:
    progs = Gen(11).programs(len(ALL_KINDS) + 20)
    hist = kind_histogram(progs)
    assert all(hist[k] > 0 for k in ALL_KINDS), hist
    cfg = GenConfig()
    for top in progs:
        assert len(top["commands"]) >= cfg.min_commands
        for p in walk(top):
            assert p["layer"] <= cfg.max_depth + 1
            assert p["key"].startswith(f"L{p['layer']}-")


def test_nested_kinds_generated_at_every_layer() -> None:
    progs = Gen(5).programs(400)
    layers_with: dict[str, set[int]] = {k: set() for k in ALL_KINDS}
    for top in progs:
        for p in walk(top):
            for c in p["commands"]:
                layers_with[c["kind"]].add(p["layer"])
    for k in BASIC_KINDS + COMBINATOR_KINDS:
        assert layers_with[k] >= {0, 1, 2, 3}, (k, layers_with[k])
    for k in NESTED_KINDS:
        assert layers_with[k] >= {0, 1, 2}, (k, layers_with[k])


def test_cancel_programs_start_no_children_and_endings_are_last() -> None:
    for top in Gen(9).programs(300):
        kinds = [c["kind"] for c in top["commands"]]
        for ending in ("fail", "cancel", "kill"):
            if ending in kinds:
                assert kinds.index(ending) == len(kinds) - 1
        if model.expected_status(top) in ("cancelled", "killed"):
            assert not set(kinds) & (set(NESTED_KINDS) | set(COMBINATOR_KINDS))


def test_sub_rng_is_independent_per_label() -> None:
    assert sub_rng(1, "a").random() == sub_rng(1, "a").random()
    assert sub_rng(1, "a").random() != sub_rng(1, "b").random()
