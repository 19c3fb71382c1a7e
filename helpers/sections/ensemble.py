"""The "further" section, ensembles: averaging the stored class probabilities of trained runs, every
subset of the members, their agreement, and what notebook 09 shows of them. Nothing here loads
a model: members are finished runs and their saved predictions."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from helpers.analysis.ensembles import average_probabilities, unanimous
from helpers.analysis.evaluation import accuracy
from helpers.core.words import join_words, pct


def load_members(models_dir, names: Sequence[str], val_rows: int) -> list:
    """The finished runs `names` in models_dir, for an ensemble of their stored predictions
    (helpers.experiments.registry.load_run: one error naming what trains a missing run)."""
    from helpers.experiments.registry import load_run

    return [load_run(models_dir, name, val_rows=val_rows) for name in names]


VARIANT_WORDS = {"none": "no normalization or augmentation", "normalization": "normalization only",
                 "normalization_augmentation": "normalization and augmentation"}


def variant_legend(names: Sequence[str]) -> str:
    """What the ablation variants among run `names` are ('' if none): 'Runs (a) and (c) are
    section 4's variants: (a) no normalization or augmentation; (c) normalization and
    augmentation.' (A paragraph that opened with "(a)" would be a list item to pandoc.)"""
    from helpers.sections import number
    from helpers.sections.ablation import ABLATION_LABELS

    found = [v for v in ABLATION_LABELS if f"ablation_{v}" in names]
    if not found:
        return ""
    letters = [ABLATION_LABELS[v].split()[0] for v in found]
    text = "; ".join(f"{letter} {VARIANT_WORDS[v]}" for letter, v in zip(letters, found))
    return (f"{'Runs' if len(letters) > 1 else 'Run'} {' and '.join(letters)} "
            f"{'are' if len(letters) > 1 else 'is'} section {number('ablation')}'s "
            f"variant{'s' if len(letters) > 1 else ''}: {text}.")


def run_labels(runs: Sequence) -> dict[str, str]:
    """How the report names each finished run of an ensemble: "main CNN, 116 epochs", "(a), 58
    epochs" (ablation runs, ablation.ABLATION_LABELS' letter: variant_legend says what they
    are), else its name."""
    from helpers.core.config import MAIN_RUN
    from helpers.core.words import plural
    from helpers.sections.ablation import ABLATION_LABELS

    def label(name: str) -> str:
        if name == MAIN_RUN:
            return "main CNN"
        variant = name.removeprefix("ablation_")
        if variant in ABLATION_LABELS:
            return ABLATION_LABELS[variant].split()[0]
        return "histogram-equalized CNN" if name == "hist_eq" else name

    return {run.name: f"{label(run.name)}, {plural(run.metrics.get('epochs_run', 0), 'epoch')}"
            for run in runs}


def left_out_runs(models_dir, candidates: Sequence[str]) -> list:
    """The finished CNN runs trained on every label (registry.every_label_cnns) in models_dir
    that are not candidates."""
    from helpers.core.config import resolve
    from helpers.experiments.registry import every_label_cnns
    from helpers.modeling.store import load_finished

    found = [load_finished(resolve(models_dir) / name) for name in every_label_cnns() if name not in candidates]
    return [run for run in found if run is not None]


def left_out_sentence(runs: Sequence, labels: dict[str, str]) -> str:
    """Why the report's other CNNs trained on every label are not candidates ('' if none):
    a run shipped without weights cannot predict new faces, so make predict's ensemble could not
    run it."""
    from helpers.modeling.store import has_weights

    def named(group):
        words = []
        for i, run in enumerate(group):
            name, _, epochs = labels.get(run.name, run.name).partition(", ")
            name = f"the {name}" if name[0].isalpha() else f"variant {name}"
            words.append(f"{name} ({epochs + ', ' if epochs else ''}"
                         f"{'validation ' if i == 0 else ''}{pct(run.metrics['val_accuracy'])})")
        return join_words(words)

    without = [run for run in runs if not has_weights(run.run_dir)]
    chosen = [run for run in runs if has_weights(run.run_dir)]
    parts = []
    if without:
        parts.append(f"Not candidates: {named(without)}: only {'its' if len(without) == 1 else 'their'} "
                     "predictions are kept with the report, not the weights, and the ensemble must also run on "
                     "new faces (`make predict MODEL=ensemble`).")
    if chosen:
        parts.append(f"Left out by the profile's list of candidates: {named(chosen)}.")
    return " ".join(parts)


def labeled(names, labels: dict[str, str] | None) -> str:
    """Runs joined by " + " (a subset_accuracies row's members), each by its label."""
    names = names.split(" + ") if isinstance(names, str) else list(names)
    return " + ".join((labels or {}).get(name, name) for name in names)


def member_test_predictions(members: Sequence, test_digest: str) -> tuple[list | None, list[str]]:
    """The members' stored test predictions when every member made them for these test images
    (its metrics' test_digest is `test_digest`), else None; and the members whose stored
    predictions are of other test images (a run shipped without weights cannot predict new
    ones, so the ensemble then writes no submission rather than a misaligned one)."""
    stale = [run.name for run in members
             if run.metrics.get("test_digest") != test_digest or run.test_proba is None]
    return (None if stale else [run.test_proba for run in members]), stale


def ensemble_summary(names: Sequence[str], probas: Sequence, y, single: tuple | None = None) -> dict:
    """The "further" section's ensemble on the validation faces: the members' accuracies, the
    best one, the average's accuracy and a paired comparison with the best single run (`single`:
    its (name, probabilities), of all the runs compared; default the best member), and how
    accurate the average is where all members agree and where they do not."""
    from helpers.analysis.stats import paired_comparison

    member_acc = [accuracy(p, y) for p in probas]
    best = int(np.argmax(member_acc))
    single_name, single_proba = single if single is not None else (names[best], probas[best])
    averaged = average_probabilities(probas)
    hit = averaged.argmax(1) == np.asarray(y)
    agree = unanimous(probas)
    return {
        "names": list(names), "member_acc": member_acc, "best": best,
        "single": single_name, "single_acc": accuracy(single_proba, y),
        "accuracy": accuracy(averaged, y), "paired": paired_comparison(single_proba, averaged, y),
        "agree": float(agree.mean()),
        "acc_agree": float(hit[agree].mean()) if agree.any() else None,
        "acc_disagree": float(hit[~agree].mean()) if (~agree).any() else None,
    }


def ensemble_sentences(s: dict, top_subset: tuple[str, float], subset_count: int, test_faces: int = 0,
                       submission: str | None = None, leaderboard: dict | None = None,
                       agreement: float | None = None, stale: Sequence[str] = (),
                       labels: dict[str, str] | None = None) -> str:
    """The report's bullets for ensemble_summary; `top_subset` is the best subset's (members,
    accuracy) of the `subset_count` compared, the rest describes the ensemble submission when there are test faces (`stale`:
    the members whose test predictions are of other test images, so there is none; `labels`:
    run_labels, how runs are named)."""
    from helpers.core.words import change_words, pct, pct_or_na, plural

    chosen = (f" As the best of {plural(subset_count, 'subset')} on these same validation faces, its "
              "score is slightly optimistic." if round(s["accuracy"], 6) >= round(top_subset[1], 6) else
              f" The best of {plural(subset_count, 'subset')} on validation is "
              f"{labeled(top_subset[0], labels)} ({pct(top_subset[1])}); the ensemble averages the runs "
              f"the settings name ({labeled(s['names'], labels)}).")
    lines = [
        f"- Compared with the best single run ({labeled([s['single']], labels)}), the average of "
        f"{plural(len(s['names']), 'CNN')} {change_words(s['single_acc'], s['accuracy'], *s['paired'])}; "
        f"the members' mean is {pct(float(np.mean(s['member_acc'])))}." + chosen,
    ]
    if len(s["names"]) > 1:
        lines.append(f"- All members agree on {pct(s['agree'])} of the validation faces; there the "
                     f"ensemble is {pct_or_na(s['acc_agree'])} accurate, and "
                     f"{pct_or_na(s['acc_disagree'])} on the faces where they disagree.")
    if not test_faces:
        lines.append("- The data has no test images, so this run writes no ensemble submission.")
        return "\n".join(lines)
    if stale or submission is None:
        lines.append(f"- No ensemble submission: the stored test predictions of {', '.join(stale)} are "
                     f"of other test images than these {test_faces:,}, and those runs were shipped "
                     "without the weights that would predict them (retrain them with RETRAIN=1).")
        return "\n".join(lines)
    scored = (f" (test accuracy {pct(leaderboard['test'])}: public half "
              f"{pct_or_na(leaderboard['public'])}, private half {pct_or_na(leaderboard['private'])})"
              if leaderboard else "; the test labels are withheld, so the leaderboard scores it")
    same = (f"; they agree with the main CNN's `submission.csv` on {pct(agreement)} of the faces."
            if agreement is not None else ".")
    lines.append(f"- The ensemble's predictions for all {test_faces:,} test faces are in "
                 f"`{submission}` (beside this PDF){scored}{same}")
    return "\n".join(lines)


def subsets_table(subsets, members: Sequence[str], labels: dict[str, str] | None = None):
    """subset_accuracies for the report, best first: the runs averaged (by `labels`, run_labels),
    the validation accuracy, its distance in points to the best single run, and which subset
    the submission averages."""
    from helpers.core.words import pct, points

    best_single = subsets.loc[subsets["size"] == 1, "accuracy"].max()
    return subsets.assign(
        members=subsets["members"].map(lambda names: labeled(names, labels)),
        accuracy=subsets["accuracy"].map(pct),
        vs=subsets["accuracy"].map(lambda v: f"{points(best_single, v):+.1f} pts"),
        submitted=subsets["members"].map(lambda joined: "yes" if same_runs(joined, members) else "").to_numpy(),
    ).rename(columns={"members": "runs averaged", "accuracy": "validation accuracy",
                      "vs": "vs best single run"})[
        ["runs averaged", "validation accuracy", "vs best single run", "submitted"]]


def same_runs(joined: str, members: Sequence[str]) -> bool:
    """Whether a subset_accuracies row's members ("a + b") are these runs, in any order."""
    return frozenset(joined.split(" + ")) == frozenset(members)


def best_subset(subsets) -> list[str]:
    """The runs of subset_accuracies' best subset (the fewest runs among equals)."""
    return subsets.iloc[0]["members"].split(" + ")


def check_members(members: Sequence[str], candidates: Sequence[str]) -> None:
    """ValueError unless every ensemble member is one of the candidates whose subsets are shown."""
    missing = [m for m in members if m not in candidates]
    if missing:
        raise ValueError(f"ensemble_members {missing} are not in ensemble_candidates {list(candidates)}: "
                         "add them there, so that the report shows every subset it was chosen from")


def ensemble_record(s: dict, subsets, leaderboard: dict | None, submission: str | None) -> dict:
    """results.json's "ensemble" section from ensemble_summary, subset_accuracies and the
    submission's file name and scores (None when there is none or they are withheld)."""
    return {"val_accuracy": s["accuracy"], "size": len(s["names"]),
            "best_member_val_accuracy": s["member_acc"][s["best"]],
            "best_single_run": s["single"], "best_single_val_accuracy": s["single_acc"],
            "mean_member_val_accuracy": float(np.mean(s["member_acc"])),
            "members": [{"run": n, "val_accuracy": a} for n, a in zip(s["names"], s["member_acc"])],
            "subsets": subsets.to_dict(orient="records"), "members_agree": s["agree"],
            "mcnemar_p_vs_best": s["paired"].p, "leaderboard": leaderboard, "submission": submission}
