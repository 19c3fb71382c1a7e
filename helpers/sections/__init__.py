"""The report's sections, one module each (summary, tables, figures and sentences of what its
notebook shows). Their order, and so their numbers, is written down here only::

    number("saliency")   # 6: the PDF's "6. Saliency maps"
    title("saliency")    # "Saliency maps"

A notebook opens a section with a level-1 heading that is the section's title (``# Saliency
maps``); the PDF numbers it from this order. Sub-analyses of "further" (weak model, adversarial
images, class maximization, histogram equalization, ensemble) have modules of their own.
"""

from __future__ import annotations

ORDER = [
    ("data", "Data"),
    ("cnn", "CNN"),
    ("dnn", "DNN"),
    ("curves", "Training curves"),
    ("ablation", "Normalization and augmentation"),
    ("confusion", "Confusion matrix"),
    ("saliency", "Saliency maps"),
    ("filters", "Filter visualization"),
    ("semi", "Semi-supervised learning"),
    ("further", "Further analysis"),
]
"""(slug, title) in the order of the PDF; a section's number is its place (Data is 0, unnumbered)."""

SLUGS = [slug for slug, _ in ORDER]


def number(slug: str) -> int:
    """The section's number in the PDF."""
    if slug not in SLUGS:
        raise ValueError(f"unknown section {slug!r}: expected one of {', '.join(SLUGS)}")
    return SLUGS.index(slug)


def title(slug: str) -> str:
    return ORDER[number(slug)][1]


def numbered_titles() -> dict[int, str]:
    """{number: title} of every section, in order."""
    return {i: name for i, (_, name) in enumerate(ORDER)}
