"""Further analysis, histogram equalization: summary, table, figure and sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.analysis.evaluation import accuracy
from helpers.analysis.stats import paired_comparison, per_class_recall
from helpers.core.config import CLASS_NAMES
from helpers.core.plotting import set_fonts
from helpers.core.words import change_words, pct, plural


def hist_eq_summary(raw, eq, y_val, seed: int) -> dict:
    """The "further" section's histogram equalization: a CNN on raw pixels (`raw`) against the same CNN trained on
    equalized faces (`eq`), each scored with its own test-time augmentation on the validation
    labels `y_val`, with the paired test and each class's recall (results.json's "hist_eq")."""
    raw_acc, eq_acc = accuracy(raw.val_proba, y_val), accuracy(eq.val_proba, y_val)
    fixed, broken, p = paired_comparison(raw.val_proba, eq.val_proba, y_val)
    return {"val_accuracy_hist_eq": eq_acc, "val_accuracy_raw": raw_acc, "difference": eq_acc - raw_acc,
            "val_accuracy_hist_eq_no_tta": eq.metrics["val_accuracy_no_tta"],
            "val_accuracy_raw_no_tta": raw.metrics["val_accuracy_no_tta"],
            "best_epoch": {"raw": raw.metrics["best_epoch"], "hist_eq": eq.metrics["best_epoch"]},
            "final_train_accuracy": {"raw": raw.metrics["final_train_accuracy"],
                                     "hist_eq": eq.metrics["final_train_accuracy"]},
            "run_hist_eq": eq.name, "run_raw": raw.name, "epochs": eq.metrics["epochs_run"],
            "trained_on": {key: _where(run.metrics) for key, run in (("raw", raw), ("hist_eq", eq))},
            "seed": seed, "fixed": fixed, "broken": broken, "mcnemar_p": p,
            "per_class_hist_eq": per_class_recall(eq.val_proba, y_val),
            "per_class_raw": per_class_recall(raw.val_proba, y_val)}


def _where(metrics: dict) -> str | None:
    """'AMD EPYC ..., 2 cores, tensorflow': where a run trained (None when its metrics lack it)."""
    from helpers.sections.cnn import device_words

    runtime = metrics.get("runtime")
    return f"{device_words(runtime)}, {runtime['backend']}" if runtime else None


def hist_eq_table(s: dict) -> pd.DataFrame:
    """The two runs side by side (named by their preprocessing, not their folders): validation
    accuracy with and without TTA, best epoch, final train accuracy."""
    return pd.DataFrame([{"preprocessing": name,
                          "validation (test-time averaging)": pct(s[f"val_accuracy_{key}"]),
                          "one view": pct(s[f"val_accuracy_{key}_no_tta"]),
                          "best epoch": s["best_epoch"][key],
                          "final train accuracy": pct(s["final_train_accuracy"][key])}
                         for name, key in (("without equalization (variant (c))", "raw"),
                                           ("histogram equalization", "hist_eq"))])


def recall_figure(s: dict) -> Figure:
    """Each class's validation recall without and with equalization, as grouped bars."""
    fig = Figure(figsize=(5.6, 1.5), layout="constrained")
    ax = fig.subplots()
    frame = pd.DataFrame({"without equalization (variant (c))": s["per_class_raw"],
                          "histogram equalization": s["per_class_hist_eq"]}, index=CLASS_NAMES)
    frame.plot.bar(ax=ax, rot=0, color=["tab:gray", "tab:green"])
    ax.set(title="Per-class validation accuracy (recall), without and with equalization", xlabel="true class",
           ylabel="recall", ylim=(0, 1))
    set_fonts(ax)
    ax.get_legend().remove()  # under the axes instead, clear of the bars
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncol=2,
               frameon=False)
    return fig


def _machines(s: dict) -> str:
    """'' when both runs trained on one kind of machine, else where each did: another backend
    and its floating-point order make a small difference less telling."""
    where = s.get("trained_on") or {}
    if not all(where.get(k) for k in ("raw", "hist_eq")) or where["raw"] == where["hist_eq"]:
        return ""
    return (f", but on different machines (equalized: {where['hist_eq']}; without equalization: {where['raw']}), "
            "so part of a small difference may be the two set-ups' numerical noise")


def hist_eq_sentences(s: dict) -> str:
    """The change of accuracy with its paired test, and the classes equalization helps and
    hurts most."""
    change = change_words(s["val_accuracy_raw"], s["val_accuracy_hist_eq"], s["fixed"], s["broken"],
                          s["mcnemar_p"])
    delta = dict(zip(CLASS_NAMES, np.subtract(s["per_class_hist_eq"], s["per_class_raw"])))
    up, down = max(delta, key=delta.get), min(delta, key=delta.get)
    words = ([f"raises the recall of {up} most ({100 * delta[up]:+.1f} points)"] if delta[up] > 0 else []) \
        + ([f"lowers that of {down} most ({100 * delta[down]:+.1f} points)"] if delta[down] < 0 else [])
    return "\n".join([
        f"- Histogram equalization {change}, both trained for {plural(s['epochs'], 'epoch')} with "
        f"seed {s['seed']}{_machines(s)}.",
        "- Per class, equalization " + (" and ".join(words) if words else "changes no class's recall") + "."])
