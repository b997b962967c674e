"""Await trees: what a blocked handler waits on, evaluated purely against delivered results.

A handler blocks on a single leaf (one completion id or one signal id) or on a combinator over
several. The same tree is evaluated locally (is it resolved yet?) and sent to the server in a
``suspension`` (when may it become resolved?), so both sides agree on what "waiting" means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from durable.protocol.messages import Failure, Future, Result

LeafKind = Literal["completion", "signal"]


@dataclass(frozen=True, slots=True)
class Leaf:
    kind: LeafKind
    id: int


@dataclass(frozen=True, slots=True)
class Combine:
    combinator: str
    children: tuple[AwaitTree, ...]


AwaitTree: TypeAlias = Leaf | Combine

#: a delivered result and the journal index of the entry that delivered it
Delivered: TypeAlias = tuple[int, Result]
Lookup: TypeAlias = Callable[[Leaf], Delivered | None]


def leaves(tree: AwaitTree) -> list[Leaf]:
    if isinstance(tree, Leaf):
        return [tree]
    out: list[Leaf] = []
    for c in tree.children:
        out.extend(leaves(c))
    return out


def is_resolved(tree: AwaitTree, lookup: Lookup) -> bool:
    """Whether ``tree`` can make progress with what has been delivered so far."""
    if isinstance(tree, Leaf):
        return lookup(tree) is not None
    if tree.combinator == "first_completed":
        return any(is_resolved(c, lookup) for c in tree.children)
    if tree.combinator == "all_completed":
        return all(is_resolved(c, lookup) for c in tree.children)
    done = [is_resolved(c, lookup) for c in tree.children]
    failed = [d and _failed(c, lookup) for c, d in zip(tree.children, done, strict=True)]
    if tree.combinator == "first_succeeded_or_all_failed":
        return any(d and not f for d, f in zip(done, failed, strict=True)) or all(done)
    if tree.combinator == "all_succeeded_or_first_failed":
        return all(done) or any(failed)
    raise ValueError(f"unknown combinator {tree.combinator!r}")


def _failed(tree: AwaitTree, lookup: Lookup) -> bool:
    if isinstance(tree, Leaf):
        d = lookup(tree)
        return d is not None and isinstance(d[1], Failure)
    return any(_failed(c, lookup) for c in tree.children)


def resolved_index(tree: AwaitTree, lookup: Lookup) -> int | None:
    """The journal index at which a resolved leaf got its result (the select ordering key)."""
    indices = [d[0] for leaf in leaves(tree) if (d := lookup(leaf)) is not None]
    return min(indices) if indices else None


def prune(tree: AwaitTree, lookup: Lookup) -> AwaitTree | None:
    """The part of an unresolved tree still worth waiting for (JRN-SUSP-3: a suspension names
    only leaves without a result yet); None if ``tree`` is resolved.

    A resolved child of an unresolved node can never change the node's outcome any more (for
    ``all_*`` it is a success or a completion already counted, for ``first_succeeded_*`` it is a
    failure), so it is dropped."""
    if is_resolved(tree, lookup):
        return None
    if isinstance(tree, Leaf):
        return tree
    keep = [p for c in tree.children if (p := prune(c, lookup)) is not None]
    return keep[0] if len(keep) == 1 else Combine(tree.combinator, tuple(keep))


def to_future(tree: AwaitTree) -> Future:
    """The wire form of an await tree (``suspension.awaiting``)."""
    if isinstance(tree, Leaf):
        return _leaf_future("first_completed", [tree])
    direct = [c for c in tree.children if isinstance(c, Leaf)]
    if len(direct) == len(tree.children):
        return _leaf_future(tree.combinator, direct)
    nested = tuple(to_future(c) for c in tree.children if isinstance(c, Combine))
    base = _leaf_future(tree.combinator, direct)
    return Future(base.combinator, base.completion_ids, base.signal_ids, nested)


def _leaf_future(combinator: str, ls: list[Leaf]) -> Future:
    completions: list[int] = []
    signals: list[int] = []
    for x in ls:
        (completions if x.kind == "completion" else signals).append(x.id)
    return Future(combinator, tuple(completions), tuple(signals))
