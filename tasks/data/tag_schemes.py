"""Tag schemes of NER data: find which one a data set uses, convert it to IOB2 and back.

Training and scoring always see IOB2, so the same entities score the same whatever scheme
they came in, and seqeval (which reads IOB2) never meets a tag it does not know. The schemes:

- IOB2: every entity starts with ``B-``, continues with ``I-``.
- IOB1: entities start with ``I-``; ``B-`` only starts one right after another of its type.
- IOBES: ``B-`` begin, ``I-`` inside, ``E-`` end, ``S-`` single-word entity. BILOU is the same
  with ``L-`` (last) and ``U-`` (unit).
- IO: bare types (``PER``, ``LOC``) and ``O``; a run of one type is one entity, so two
  neighbouring entities of a type become one: the only lossy conversion.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Scheme = Literal["IOB2", "IOB1", "IOBES", "BILOU", "IO"]
OUTSIDE = "O"
# Each scheme's prefixes for begin, inside, end and single; IOB1's and IOB2's have no end or single.
_LAST = {"IOBES": ("E", "S"), "BILOU": ("L", "U")}


@dataclass(frozen=True)
class BadTag(Exception):
    """A tag no scheme explains where it stands, or one whose form is another scheme's."""

    row: int  # the sentence's index in its split
    word: int  # the word's index in its sentence
    tag: str
    reason: str


def split_tag(tag: str) -> tuple[str | None, str | None]:
    """(prefix, type) of a tag: ('B', 'PER') for B-PER, (None, 'PER') for a bare PER, (None, None) for O."""
    if tag == OUTSIDE:
        return None, None
    prefix, dash, kind = tag.partition("-")
    if dash and len(prefix) == 1 and prefix in "BIESLU" and kind:
        return prefix, kind
    return None, tag


def _forms(tags: Sequence[Sequence[str]]) -> dict[str, tuple[int, int, str]]:
    """Each prefix found (``""`` for bare types), with where it first appears."""
    found: dict[str, tuple[int, int, str]] = {}
    for row, sentence in enumerate(tags):
        for word, tag in enumerate(sentence):
            if tag != OUTSIDE:
                found.setdefault(split_tag(tag)[0] or "", (row, word, tag))
    return found


def detect_scheme(tags: Sequence[Sequence[str]]) -> Scheme:
    """The scheme of a split's tags (the training split's names the data set's); `BadTag` when their
    forms mix schemes. Tags with only ``B-`` and ``I-`` are IOB1 when an entity starts with ``I-``."""
    forms = _forms(tags)
    if "" in forms and len(forms) > 1:
        other = next(prefix for prefix in forms if prefix)
        row, word, tag = forms[""]
        raise BadTag(
            row, word, tag, f"a bare type beside {other}- tags: IO tags have no prefixes, other schemes always one"
        )
    if "" in forms:
        return "IO"
    closed = [scheme for scheme, prefixes in _LAST.items() if set(prefixes) & set(forms)]
    if len(closed) > 1:
        row, word, tag = forms[next(prefix for prefix in _LAST["BILOU"] if prefix in forms)]
        raise BadTag(row, word, tag, "L-/U- (BILOU) tags beside E-/S- (IOBES) ones: one data set, one scheme")
    if closed:
        return closed[0]
    starts_inside = any(
        split_tag(tag)[0] == "I" and split_tag(previous)[1] != split_tag(tag)[1]
        for sentence in tags
        for previous, tag in zip([OUTSIDE, *sentence], sentence)
    )
    return "IOB1" if starts_inside else "IOB2"


def to_iob2(tags: Sequence[str], scheme: Scheme, row: int = 0) -> list[str]:
    """One sentence's tags in IOB2; `BadTag` for a tag that ``scheme`` does not allow where it stands
    (``E-LOC`` after ``B-PER`` in IOBES, ``S-PER`` or a bare ``PER`` in IOB2). IOB1 and IOB2 convert
    alike: an ``I-`` that starts an entity becomes ``B-``."""
    if scheme == "IO":
        return _io_to_iob2(tags, row)
    if scheme in _LAST:
        return _closed_to_iob2(tags, scheme, row)
    converted: list[str] = []
    previous: str | None = None  # the previous word's entity type
    for word, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if kind is not None and prefix not in ("B", "I"):
            raise BadTag(row, word, tag, _not_a_prefix(scheme, prefix))
        converted.append(OUTSIDE if kind is None else f"{'I' if prefix == 'I' and kind == previous else 'B'}-{kind}")
        previous = kind
    return converted


def _io_to_iob2(tags: Sequence[str], row: int) -> list[str]:
    converted: list[str] = []
    previous: str | None = None
    for word, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix is not None:
            raise BadTag(row, word, tag, "a prefixed tag in IO data, whose tags are bare types")
        converted.append(OUTSIDE if kind is None else f"{'I' if kind == previous else 'B'}-{kind}")
        previous = kind
    return converted


def _closed_to_iob2(tags: Sequence[str], scheme: Scheme, row: int) -> list[str]:
    """IOBES or BILOU, where every entity is closed by its end or single tag."""
    end, single = _LAST[scheme]
    converted: list[str] = []
    open_type: str | None = None  # the type of the entity the previous word left open
    for word, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if kind is None and open_type is None:
            converted.append(OUTSIDE)
        elif prefix in ("B", single) and open_type is None:
            converted.append(f"B-{kind}")
        elif prefix in ("I", end) and kind == open_type:
            converted.append(f"I-{kind}")
        else:
            raise BadTag(row, word, tag, _misplaced(scheme, prefix, kind, open_type))
        open_type = kind if prefix in ("B", "I") else None
    if open_type is not None:
        raise BadTag(
            row,
            len(tags) - 1,
            tags[-1],
            f"the sentence ends inside a {open_type} entity, which {scheme} closes with {end}-",
        )
    return converted


def _not_a_prefix(scheme: Scheme, prefix: str | None) -> str:
    return (
        f"a bare type in {scheme} tags, which all have a prefix"
        if prefix is None
        else f"{prefix}- is not a prefix of {scheme}"
    )


def _misplaced(scheme: Scheme, prefix: str | None, kind: str | None, open_type: str | None) -> str:
    if kind is not None and prefix not in ("B", "I", *_LAST[scheme]):
        return _not_a_prefix(scheme, prefix)
    where = f"inside a {open_type} entity" if open_type else "outside an entity"
    return f"{'O' if kind is None else f'{prefix}-{kind}'} cannot stand {where} in {scheme}"


def from_iob2(tags: Sequence[str], scheme: Scheme) -> list[str]:
    """One sentence's IOB2 tags in ``scheme``. Predicted tags need not be valid IOB2: an ``I-`` that
    starts an entity starts it, as seqeval and conlleval read it."""
    kinds = [split_tag(tag)[1] for tag in tags]
    previous_kinds = [None, *kinds[:-1]]
    begins = [
        kind is not None and (split_tag(tag)[0] == "B" or kind != previous)
        for tag, kind, previous in zip(tags, kinds, previous_kinds)
    ]
    ends = [
        kind is not None and (following is None or begins[index + 1] or kinds[index + 1] != kind)
        for index, (kind, following) in enumerate(zip(kinds, [*kinds[1:], None]))
    ]
    return [
        OUTSIDE if kind is None else _prefix(scheme, begin, end, previous == kind) + kind
        for kind, begin, end, previous in zip(kinds, begins, ends, previous_kinds)
    ]


def _prefix(scheme: Scheme, begins: bool, ends: bool, follows_its_type: bool) -> str:
    if scheme == "IO":
        return ""
    if scheme in _LAST:
        end, single = _LAST[scheme]
        return f"{(single if ends else 'B') if begins else (end if ends else 'I')}-"
    if scheme == "IOB1":  # B- only where an entity follows one of its type
        return "B-" if begins and follows_its_type else "I-"
    return "B-" if begins else "I-"


def iob2_labels(labels: Sequence[str]) -> list[str]:
    """The IOB2 labels of a label list in another scheme, in its order: ``O``, then each type's
    ``B-`` and ``I-`` where the type first appears."""
    converted: list[str] = []
    for label in labels:
        kind = split_tag(label)[1]
        converted += [
            name for name in ([OUTSIDE] if kind is None else [f"B-{kind}", f"I-{kind}"]) if name not in converted
        ]
    return converted
