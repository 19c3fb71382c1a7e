"""Numbers as the report writes them: percentages, plurals, durations, changes."""

from __future__ import annotations

import re

from helpers.core.config import ALPHA


def pct(value: float, digits: int = 1) -> str:
    """0.6734 -> '67.3%'."""
    return f"{100 * value:.{digits}f}%"


def points(before: float, after: float, digits: int = 1) -> float:
    """The change between two shares in percentage points, as a reader computes it from the
    percentages the report prints (:func:`pct` with `digits`): 0.6774 -> 0.6665 is 67.7% ->
    66.7%, -1.0 points (not the -1.09 of the unrounded shares, printed -1.1)."""
    return round(float(f"{100 * after:.{digits}f}") - float(f"{100 * before:.{digits}f}"), digits)


def pct_or_na(value: float | None) -> str:
    """A share as '67.3%', or 'n/a' when it is unknown (None)."""
    return "n/a" if value is None else pct(value)


def plural(n, word: str) -> str:
    """'1 epoch', '3 epochs', '2.5 steps' (regular plurals; floats written with :g)."""
    number = f"{n:g}" if isinstance(n, float) else f"{n}"
    return f"{number} {word}{'' if n == 1 else 's'}"


def verb(n, singular: str, plural_form: str) -> str:
    """The verb agreeing with a count n: verb(1, 'is', 'are') -> 'is', verb(3, 'has', 'have') -> 'have'."""
    return singular if n == 1 else plural_form


def fmt(value, spec: str = ".1f", none: str = "n/a") -> str:
    """format(value, spec), or `none` when value is None."""
    return none if value is None else format(value, spec)


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min'."""
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def change_words(before: float, after: float, fixed: int, broken: int, p: float) -> str:
    """The report's phrase for a change of validation accuracy and its paired test, e.g.
    'raises validation accuracy from 40.0% to 42.0% (+2.0 points; it fixes 30 and breaks 10 of
    the validation faces, exact McNemar test p = 0.0022, significant at the 5% level)'."""
    delta = points(before, after)
    verb = "raises" if delta > 0 else "lowers" if delta < 0 else "leaves"
    where = f"from {pct(before)} to {pct(after)}" if delta else f"at {pct(before)}"
    verdict = "significant" if p < ALPHA else "not significant"
    return (f"{verb} validation accuracy {where} ({delta:+.1f} points; it fixes {fixed} and breaks {broken} of the "
            f"validation faces, exact McNemar test p = {p:.2g}, {verdict} at the {ALPHA:.0%} level)")


def scale_words(ratio: float) -> str:
    return ("coarser" if ratio > 1 else "finer") if abs(ratio - 1) >= 0.05 else "about the same scale"


def capital(text: str) -> str:
    """The text with its first letter in upper case ('saliency' -> 'Saliency'; 'SmoothGrad' stays)."""
    return text[:1].upper() + text[1:]


def layer_words(layer: str) -> str:
    """Keras's name of a convolution layer in words: 'block3_conv2' -> 'block 3, convolution 2'."""
    found = re.fullmatch(r"block(\d+)_conv(\d+)", layer)
    return f"block {found[1]}, convolution {found[2]}" if found else "a convolution layer"


def filter_share(filters: int, total: int) -> str:
    """Which of a layer's `total` filters a measure covers, the first `filters` of them: 'all 32
    filters' or 'a sample: filters 0-31 of its 128' (the filters section and the answer sheet)."""
    if filters >= total:
        return f"all {total} filters"
    return f"a sample: filters 0-{filters - 1} of its {total}"


def more_or_less(interval: dict, same: str = "about as much") -> str:
    """'more' when an interval ({"low", "high"}) of a difference lies above 0, 'less' when below,
    else `same`."""
    return "more" if interval["low"] > 0 else "less" if interval["high"] < 0 else same


def join_words(items) -> str:
    """['a'] -> 'a'; ['a', 'b'] -> 'a and b'; ['a', 'b', 'c'] -> 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
