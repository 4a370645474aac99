"""Vocabulary of the data model: node types and relations (DESIGN section 2)."""

from __future__ import annotations

from typing import Final

NODE_TYPES: Final = ("user", "item", "streamer")

Relation = tuple[str, str, str]
"""A relation is ``(src_type, name, dst_type)``."""

RELATIONS: Final[dict[str, Relation]] = {
    "buy": ("user", "buy", "item"),
    "follow": ("user", "follow", "streamer"),
    "sell": ("streamer", "sell", "item"),
    "gift": ("user", "gift", "streamer"),
    "swing": ("streamer", "swing", "streamer"),
    "social": ("user", "social", "user"),
}

SCHEMA_VERSION: Final = 1

SOCIAL_KINDS: Final[dict[str, int]] = {"like": 0, "comment": 1, "repost": 2, "trust": 3, "contact": 4}
"""Codes of the int8 ``kind`` column of ``social`` (user -> user) edges (DESIGN section 3).

like / comment / repost: one user reacting to another's post (DM-GNN); trust: a declared trust statement
(Epinions, Ciao); contact: a declared contact / friendship (Delicious)."""

CONSUMPTION_KINDS: Final[dict[str, int]] = {"browse": 0, "collect": 1, "cart": 2, "pay": 3, "review": 4}
"""Codes of the int8 ``kind`` column of ``events/consumption.parquet`` (user, item, ts, kind, amount).

browse: the user viewed the item (Tianchi behaviour type 1 "click"); collect: added it to favourites
(Tianchi 2 "collect"); cart: put it in the basket (Tianchi 3 "cart"); pay: bought it (Tianchi 4 "buy");
review: rated / reviewed it (Ciao ratings, which imply a consumption but carry no purchase time)."""

# Edge table columns and their on-disk dtypes.
EDGE_COLUMNS: Final = {"src": "int32", "dst": "int32", "ts": "int64", "weight": "float32", "kind": "int8"}
REQUIRED_EDGE_COLUMNS: Final = ("src", "dst", "ts")


def relation(name_or_triple: str | Relation) -> Relation:
    """Resolve ``"buy"`` or ``("user", "buy", "item")`` to the triple; named error otherwise."""
    if isinstance(name_or_triple, tuple):
        if len(name_or_triple) != 3:
            raise ValueError(f"A relation must be (src_type, name, dst_type). Got {name_or_triple!r} instead.")
        return name_or_triple
    try:
        return RELATIONS[name_or_triple]
    except KeyError:
        known = ", ".join(sorted(RELATIONS))
        raise ValueError(f"Unknown relation {name_or_triple!r}; expected one of: {known}.") from None


def edge_file_stem(rel: Relation) -> str:
    """``("user", "buy", "item")`` -> ``"user__buy__item"`` (the edge file name without suffix)."""
    return "__".join(rel)


def parse_edge_file_stem(stem: str) -> Relation:
    parts = stem.split("__")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"Edge file name must be '<src>__<rel>__<dst>'. Got {stem!r} instead.")
    return (parts[0], parts[1], parts[2])
