"""The "ablation" section, normalization and augmentation: summary, tables and sentences.

Each of the three variants is scored on the same validation faces: its accuracy with a Wilson
95% interval, and an exact McNemar test between every two variants (their stored val_proba).
A difference whose p-value is at least ALPHA is not significant, and a variant is called the best
only when it is significantly ahead of both others. The train-validation gap is the last
epoch's, from each run's history.
"""

from __future__ import annotations

import pandas as pd

from helpers.analysis.stats import ALPHA, CONFIDENCE, accuracy_with_interval, leaders, paired_comparison
from helpers.core.config import IMAGE_SIZE
from helpers.core.words import pct, plural, points, verb
from helpers.modeling.recipe import without_defaults
from helpers.sections.cnn import tta_words
from helpers.sections.curves import augmentation_words

ABLATION_LABELS = {"none": "(a) neither", "normalization": "(b) normalization",
                   "normalization_augmentation": "(c) normalization + augmentation"}

COMPARISONS = [
    # (title, before, after)
    ("Normalization alone", "none", "normalization"),
    ("Adding augmentation", "normalization", "normalization_augmentation"),
    ("Both together", "none", "normalization_augmentation"),
]

SWITCHES = ("normalization", "augmentation")
"""The config entries the variants differ in; everything else in their configs should match."""


def short_label(variant: str) -> str:
    """'(b)' for 'normalization'."""
    return ABLATION_LABELS[variant].split(" ", 1)[0]


def _variant_summary(run, y_val) -> dict:
    history, metrics = run.history, run.metrics
    last = history.iloc[-1]
    accuracy, low, high = accuracy_with_interval(run.val_proba, y_val)
    return {"val_accuracy": accuracy, "val_low": low, "val_high": high,
            "best_epoch": metrics["best_epoch"], "epochs": int(len(history)),
            "last_train_accuracy": float(last.accuracy), "last_val_accuracy": float(last.val_accuracy),
            "kept_val_accuracy": float(history.val_accuracy.max()),  # the kept epoch's, while training
            "gap": float(last.accuracy - last.val_accuracy),
            "normalization": run.config.get("normalization"),
            "augmentation": run.config.get("augmentation"),
            "tta": tta_words({"tta_flip": metrics.get("tta_flip"), "tta_crops": metrics.get("tta_crops")}),
            "one_view_accuracy": metrics.get("val_accuracy_no_tta"),
            "precision": (run.config.get("training") or {}).get("precision", "float32"),
            "params": (metrics.get("params") or {}).get("total"),
            "seconds_per_epoch": metrics["seconds_per_epoch"]}


def _comparison(runs: dict, variants: dict, y_val, before: str, after: str) -> dict:
    paired = paired_comparison(runs[before].val_proba, runs[after].val_proba, y_val)
    return {"before": before, "after": after,
            "change": variants[after]["val_accuracy"] - variants[before]["val_accuracy"],
            "fixed": paired.fixed, "broken": paired.broken, "p": paired.p,
            "significant": paired.p < ALPHA}


def _differences(runs: dict) -> list[str]:
    """The config entries other than SWITCHES in which the variants' runs differ."""
    # a recipe setting a run's config lacks had its default then (runs trained before it existed)
    configs = [{k: without_defaults(v) if k == "training" else v for k, v in run.config.items()
                if k not in SWITCHES} for run in runs.values()]
    keys = sorted(set().union(*configs))
    out = []
    for k in keys:
        values = [c.get(k) for c in configs]
        if all(v == values[0] for v in values[1:]):
            continue
        if all(isinstance(v, dict) for v in values):  # name the settings inside, e.g. "training: epochs"
            inner = sorted(set().union(*values))
            out += [f"{k}: {i}" for i in inner if any(v.get(i) != values[0].get(i) for v in values[1:])]
        else:
            out.append(k)
    return out


def ablation_summary(runs: dict, y_val) -> dict:
    """The "ablation" section in numbers (its results.json section) from the three runs
    ({variant: run}, variants as in ABLATION_LABELS) and the validation labels their val_proba
    score: per variant its accuracy, interval, last-epoch gap and settings; "comparisons", the
    paired tests; "ranking", helpers.analysis.stats.leaders; "differences", config entries
    other than the two switches in which the runs differ (none expected)."""
    if set(runs) != set(ABLATION_LABELS):
        raise ValueError(f"expected the variants {', '.join(ABLATION_LABELS)}, got {', '.join(runs)}")
    variants = {name: _variant_summary(runs[name], y_val) for name in ABLATION_LABELS}
    ranking = leaders({name: runs[name].val_proba for name in ABLATION_LABELS}, y_val)
    return {**variants,
            "comparisons": [_comparison(runs, variants, y_val, before, after)
                            for _, before, after in COMPARISONS],
            "ranking": ranking, "differences": _differences(runs), "val_rows": int(len(y_val)),
            "confidence": CONFIDENCE, "alpha": ALPHA}


def variants(s: dict) -> dict:
    """The per-variant entries of an ablation_summary, in ABLATION_LABELS order."""
    return {name: s[name] for name in ABLATION_LABELS}


def _normalization_words(normalization: dict | None) -> str:
    if not normalization:
        return "none (raw pixels 0..255)"
    return f"subtract mean {normalization['mean']:.1f}, divide by std {normalization['std']:.1f}"


def ablation_settings_table(s: dict) -> pd.DataFrame:
    """What each variant's run was trained with, from its config."""
    return pd.DataFrame([{"variant": ABLATION_LABELS[name],
                          "input normalization": _normalization_words(v["normalization"]),
                          "training augmentation": augmentation_words(v["augmentation"]),
                          "test-time averaging": v["tta"], "epochs": v["epochs"]}
                         for name, v in variants(s).items()])


def ablation_settings_sentence(s: dict) -> str:
    """What the three runs share, checked on their configs."""
    epochs = sorted({v["epochs"] for v in variants(s).values()})
    if s["differences"]:
        return ("Besides normalization and augmentation, the runs' configs also differ in "
                f"{', '.join(s['differences'])}, so the comparison below is not of these two switches alone.")
    trained = f"{plural(epochs[0], 'epoch')} each" if len(epochs) == 1 else f"{', '.join(map(str, epochs))} epochs"
    text = ("Apart from these two switches and what follows from them (below) the runs' configs are "
            "identical (layers, optimizer "
            f"and schedule, seed, training data), and they trained for {trained}.")
    if len({v["tta"] for v in variants(s).values()}) > 1:
        text += (" Their test-time averaging differs only as a consequence of the augmentation: "
                 "crops are averaged only by a model that was trained on crops.")
        v = variants(s)
        whole = [n for n, x in v.items() if not (x["augmentation"] or {}).get("crop")]
        if whole:
            text += (f" Without crops, {' and '.join(map(short_label, whole))} {'see' if len(whole) > 1 else 'sees'} "
                     f"the whole {IMAGE_SIZE}x{IMAGE_SIZE} face")
            cropped = [n for n in v if n not in whole]
            counts = {n: v[n].get("params") for n in v}
            if cropped and None not in counts.values() and counts[whole[0]] != counts[cropped[0]]:
                text += (f", so {'their' if len(whole) > 1 else 'its'} dense layer gets more inputs: {counts[whole[0]]:,} parameters against "
                         f"{counts[cropped[0]]:,} for {short_label(cropped[0])}")
            text += "."
        text += " " + one_view_sentence(s)
    return text


def one_view_sentence(s: dict) -> str:
    """The variants scored on one view each (no test-time averaging), so that (c)'s lead over
    (a) is seen without the crops only (c) averages; '' when a run lacks that score."""
    v = variants(s)
    if any(x.get("one_view_accuracy") is None for x in v.values()):
        return ""
    first, last = v["none"], v["normalization_augmentation"]
    scores = ", ".join(f"{short_label(n)} {pct(x['one_view_accuracy'])}" for n, x in v.items())
    one = points(first["one_view_accuracy"], last["one_view_accuracy"])
    averaged = points(first["val_accuracy"], last["val_accuracy"])
    verdict = ("so the crops' averaging is not what makes it" if one >= averaged - 0.5 else
               f"so {'part' if one > 0 else 'all'} of it comes from the crops' averaging")
    below = [(n, x) for n, x in v.items() if points(x["last_val_accuracy"], x["one_view_accuracy"]) < 0
             and x["best_epoch"] != x["epochs"] and x.get("precision") == "mixed_bfloat16"]
    precision = ""
    if below:  # a kept checkpoint below the last epoch it beat while training: the two arithmetics
        n, x = below[0]
        kept = x.get("kept_val_accuracy", x["last_val_accuracy"])
        than = ("as high as its last epoch" if pct(kept) == pct(x["last_val_accuracy"])
                else f"above its last epoch's {pct(x['last_val_accuracy'])}")
        precision = (f" {short_label(n)}'s kept checkpoint (epoch {x['best_epoch']}) scored {pct(kept)} while "
                     f"training, in bfloat16 arithmetic, {than}; scored again here in float32 it gets "
                     f"{pct(x['one_view_accuracy'])}.")
    return (f"Their kept checkpoints scored on one view (no averaging) get {scores}: the lead of (c) over "
            f"(a) is {one:+.1f} points on one view against {averaged:+.1f} with each one's averaging, "
            f"{verdict}." + precision)


def ablation_test_sentence(s: dict) -> str:
    """How the variants are scored and compared, with the summary's own level and threshold."""
    return (f"Each variant is scored on the same {s['val_rows']:,} validation faces, with a "
            f"{s['confidence']:.0%} Wilson interval around its accuracy. Every two variants are "
            "compared face by face with an exact McNemar test (on the faces exactly one of them gets "
            f"right); a difference with p >= {s['alpha']:g} is not significant, and a variant is named the "
            "best only when it is significantly ahead of both others.")


def ablation_table(s: dict) -> pd.DataFrame:
    """One row per variant, in %: validation accuracy with its interval, best epoch, the last
    epoch's training and validation accuracy and their gap."""
    level = f"{s['confidence']:.0%}"
    return pd.DataFrame([{
        "variant": ABLATION_LABELS[name],
        "validation (test-time averaging)": pct(v["val_accuracy"]),
        f"{level} interval": f"{100 * v['val_low']:.1f}-{pct(v['val_high'])}",
        "best epoch": v["best_epoch"],
        "last epoch: train": pct(v["last_train_accuracy"]),
        "last epoch: validation (one view)": pct(v["last_val_accuracy"]),
        "train - validation gap": f"{points(v['last_val_accuracy'], v['last_train_accuracy']):+.1f} pts",
    } for name, v in variants(s).items()])


def _verdict(c: dict) -> str:
    if not c["significant"] or not round(100 * c["change"], 1):
        return "not significant"
    return "significant gain" if c["change"] > 0 else "significant loss"


def comparison_table(s: dict) -> pd.DataFrame:
    """One row per pair of variants: the change, the faces only one gets right, the exact
    McNemar p-value (a float: show it with floatfmt ".2g") and the verdict (not significant
    when p >= alpha)."""
    return pd.DataFrame([{
        "comparison": f"{title}: {short_label(c['before'])} -> {short_label(c['after'])}",
        "change": f"{points(s[c['before']]['val_accuracy'], s[c['after']]['val_accuracy']):+.1f} pts",
        "right only after": c["fixed"], "right only before": c["broken"],
        "exact McNemar p": c["p"], "verdict": _verdict(c),
    } for (title, _, _), c in zip(COMPARISONS, s["comparisons"])])


def _comparison_line(s: dict, title: str, c: dict) -> str:
    before, after = s[c["before"]], s[c["after"]]
    verdict = _verdict(c)
    return (f"- {title} ({short_label(c['before'])} -> {short_label(c['after'])}): "
            f"{pct(before['val_accuracy'])} -> {pct(after['val_accuracy'])} "
            f"({points(before['val_accuracy'], after['val_accuracy']):+.1f} points; {c['fixed']} faces right only after, {c['broken']} "
            f"only before, exact McNemar p = {c['p']:.2g}): **{'no significant difference' if verdict == 'not significant' else 'a ' + verdict}**.")


def _gap_words(before: dict, after: dict) -> str:
    # as a reader computes them from the two printed accuracies
    a = points(before["last_val_accuracy"], before["last_train_accuracy"])
    b = points(after["last_val_accuracy"], after["last_train_accuracy"])
    if a == b:
        return f"The last epoch's train-validation gap stays at {a:+.1f} points."
    less = b < a
    return (f"The last epoch's train-validation gap goes from {a:+.1f} to {b:+.1f} points: "
            f"{'less' if less else 'more'} overfitting by this measure (with augmentation, training "
            "accuracy is measured on augmented faces).")


def _best_line(s: dict) -> str:
    ranking, level = s["ranking"], f"{s['alpha']:.0%}"
    leader = ranking["leader"]
    others = [name for name in ABLATION_LABELS if name != leader]
    p_words = lambda names: "McNemar p = " + " and ".join(f"{ranking['p'][n]:.2g}" for n in names)  # noqa: E731
    if ranking["top"] == [leader]:
        return (f"- **Best variant: {ABLATION_LABELS[leader]}** ({pct(s[leader]['val_accuracy'])}), "
                f"significantly ahead of {' and '.join(short_label(n) for n in others)} "
                f"({p_words(others)}).")
    tied = [n for n in ranking["top"] if n != leader]
    line = (f"- **No variant is significantly best**: {ABLATION_LABELS[leader]} is highest "
            f"({pct(s[leader]['val_accuracy'])}), but {' and '.join(short_label(n) for n in tied)} "
            f"{verb(len(tied), 'is', 'are')} not significantly behind it ({p_words(tied)}, at least {s['alpha']:g}) "
            f"on these {s['val_rows']:,} validation faces.")
    if ranking["behind"]:
        behind = ranking["behind"]
        line += (f" {' and '.join(short_label(n) for n in behind)} "
                 f"{verb(len(behind), 'is', 'are')} significantly behind it at the {level} level "
                 f"({p_words(behind)}).")
    return line


def ablation_sentences(s: dict) -> str:
    """What normalization, then augmentation, then both change, each not significant unless its
    McNemar test is significant; the gap augmentation leaves; the best variant, if any."""
    lines = []
    for (title, _, _), c in zip(COMPARISONS, s["comparisons"]):
        line = _comparison_line(s, title, c)
        if c["before"] == "none" and c["after"] == "normalization" and _verdict(c) == "not significant":
            line += (" Batch normalization follows every convolution of this CNN and re-standardizes "
                     "its activations whatever the input's scale, a likely reason why normalizing the "
                     "input changes little.")
        if c["after"] == "normalization_augmentation" and c["before"] == "normalization":
            line += " " + _gap_words(s[c["before"]], s[c["after"]])
        lines.append(line)
    lines.append(_best_line(s))
    return "\n".join(lines)
