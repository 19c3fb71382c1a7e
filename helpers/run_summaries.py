"""What the report says about trained runs: the settings table, where and how long a run
trained, its accuracy and curves, the normalization/augmentation ablation, the CNN against the
DNN (questions 1 to 4) and histogram equalization (question 9). Each summary is a plain dict
(also the run's results.json section) and each sentence helper turns one into Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.config import CLASS_NAMES
from helpers.evaluation import accuracy
from helpers.notebook import pct, plural
from helpers.stats import change_words, paired_comparison, per_class_recall

ABLATION_LABELS = {"none": "(a) neither", "normalization": "(b) normalization",
                   "normalization_augmentation": "(c) normalization + augmentation"}


def training_table(run_config: dict, inputs) -> pd.DataFrame:
    """Every setting that defined a run (its config.json), as a two-column table; `inputs` is
    the experiments.Inputs it was trained on."""
    training, augmentation = run_config["training"], run_config.get("augmentation")
    normalization = run_config.get("normalization")
    rows = [
        ("training / validation images", f"{len(inputs.y_train):,} / {len(inputs.y_val):,} "
         f"(stratified {inputs.data_settings['val_fraction']:.0%} split, seed {inputs.data_settings['seed']})"),
        ("preprocessing", "histogram equalization" if inputs.data_settings["hist_eq"] else "none (raw pixels)"),
        ("normalization", f"standardize with training mean {normalization['mean']:.1f}, std {normalization['std']:.1f}"
         if normalization else "none (inputs 0..255)"),
        ("augmentation", ", ".join(f"{k} {v}" for k, v in augmentation.items() if v) if augmentation else "none"),
        ("optimizer", f"{training.get('optimizer', 'sgd')}" + (" (Nesterov momentum 0.9)" if training.get("optimizer", "sgd") == "sgd" else "")),
        ("learning rate", f"{training['learning_rate']:g}, {training.get('schedule', 'cosine')} schedule, "
         f"{training.get('warmup_epochs', 0)} warm-up epochs"),
        ("weight decay", f"{training.get('weight_decay', 0):g}"),
        ("label smoothing", f"{training.get('label_smoothing', 0):g}"),
        ("epochs / batch size", f"{training['epochs']} / {training['batch_size']}"),
        ("early stopping", f"patience {training['early_stopping_patience']}" if training.get("early_stopping_patience") else "no"),
        ("checkpoints", "best-on-validation weights kept; a complete checkpoint after every epoch (an interrupted run resumes where it stopped)"),
        ("test-time augmentation", tta_words(training)),
        ("precision", training.get("precision", "float32")
         + (" (float32 weights, bfloat16 arithmetic)" if training.get("precision") == "mixed_bfloat16" else "")),
        ("seed", str(training.get("seed", 42))),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def tta_words(training: dict) -> str:
    """How a run's predictions average over test-time augmentation, in words."""
    crops, flip = training.get("tta_crops"), training.get("tta_flip")
    if crops and flip:
        return "average over the centre and four corner crops and their mirror images (ten-crop)"
    if crops:
        return "average over the centre and four corner crops"
    return "average with the mirrored face" if flip else "none"


def trained_where(metrics: dict) -> str:
    """'12 epochs on the CPU (2 cores) with the tensorflow backend, 41.0 s per epoch, finished
    2026-11-26 17:02:53 UTC' from a run's metrics."""
    runtime = metrics["runtime"]
    device = runtime["accelerator"] if runtime["accelerator"] != "none" else f"the CPU ({runtime['cpu_count']} cores)"
    return (f"{metrics['epochs_run']} epochs on {device} with the {runtime['backend']} backend, "
            f"{metrics['seconds_per_epoch']:.1f} s per epoch, finished {metrics['finished']}")


def same_hardware(a: dict, b: dict) -> bool:
    """Whether two runs' metrics were measured on the same processor, accelerator and backend
    (only then are their seconds per epoch comparable)."""
    ra, rb = a.get("runtime", {}), b.get("runtime", {})
    return all(ra.get(k) == rb.get(k) for k in ("processor", "accelerator", "backend"))


def cnn_dnn_summary(cnn: dict, dnn: dict) -> dict:
    """Question 2's comparison of the CNN and the DNN from their runs' metrics."""
    gap = lambda m: m["final_train_accuracy"] - m["final_val_accuracy"]  # noqa: E731
    return {
        "cnn_val": cnn["val_accuracy"], "dnn_val": dnn["val_accuracy"],
        "gap_points": 100 * (cnn["val_accuracy"] - dnn["val_accuracy"]),
        "cnn_seconds": cnn["seconds_per_epoch"], "dnn_seconds": dnn["seconds_per_epoch"],
        "speed": (dnn["seconds_per_epoch"] / cnn["seconds_per_epoch"]
                  if same_hardware(cnn, dnn) else None),
        "cnn_where": trained_where(cnn), "dnn_where": trained_where(dnn),
        "overfit": {"CNN": gap(cnn), "DNN": gap(dnn)},
    }


def cnn_dnn_sentences(s: dict) -> str:
    """The report's bullets for cnn_dnn_summary: accuracy, cost per epoch, overfitting."""
    gap = round(s["gap_points"], 1)
    accurate = (f"{abs(gap):.1f} points {'more' if gap > 0 else 'less'} accurate" if gap
                else "as accurate")
    lines = [
        f"- With the same number of parameters the CNN is **{accurate}** ({pct(s['cnn_val'])} "
        f"against {pct(s['dnn_val'])}). Convolutions share each "
        "filter's weights over every position of the face and look at local neighbourhoods, so the "
        "CNN spends its parameters on features that hold anywhere in the image, while each DNN "
        "weight is tied to one pixel position."]
    if s["speed"] is not None:
        lines.append(
            f"- An epoch of the DNN takes {s['dnn_seconds']:.1f} s against {s['cnn_seconds']:.1f} s for "
            f"the CNN ({s['speed']:.2f}x): a dense layer costs one multiply per parameter per image, "
            "while every convolution weight is reused at each of thousands of positions.")
    else:
        lines.append(
            f"- Their epoch times are not comparable: the CNN was trained for {s['cnn_where']}, the "
            f"DNN for {s['dnn_where']}. On one machine a dense layer costs one multiply per "
            "parameter per image, while every convolution weight is reused at each of thousands of "
            "positions (`make plan` measures both on yours).")
    lines.append(
        f"- Overfitting: at the last epoch the training accuracy exceeds validation by "
        f"{100 * s['overfit']['DNN']:+.1f} points for the DNN and {100 * s['overfit']['CNN']:+.1f} "
        "for the CNN (training accuracy is measured on augmented images with dropout active).")
    return "\n".join(lines)


def run_card(metrics: dict) -> dict:
    """One column of the report's side-by-side table of two runs."""
    runtime = metrics["runtime"]
    return {"parameters": f"{metrics['params']['total']:,}",
            "validation accuracy": f"{100 * metrics['val_accuracy']:.2f}%",
            "final train accuracy": f"{100 * metrics['final_train_accuracy']:.2f}%",
            "train - validation gap":
                f"{100 * (metrics['final_train_accuracy'] - metrics['final_val_accuracy']):+.1f} pts",
            "best epoch": metrics["best_epoch"],
            "seconds per epoch": f"{metrics['seconds_per_epoch']:.1f}",
            "trained on": (runtime["accelerator"] if runtime.get("accelerator", "none") != "none"
                           else f"{runtime.get('processor', 'CPU')}, {runtime.get('cpu_count')} cores")
                          + f" ({runtime['backend']})"}


def _flatten_features(model) -> str:
    """The flatten layer's output size ("2304"), or "" for a model without one."""
    names = [layer.name for layer in model.layers]
    return str(model.get_layer("flatten").output.shape[-1]) if "flatten" in names else ""


def cnn_summary(run, cnn: dict, leaderboard: dict | None) -> dict:
    """Question 1's numbers from the main CNN's run (results.json's "cnn" section): parameters,
    accuracies, time, the architecture settings `cnn` and the leaderboard scores, if known."""
    m = run.metrics
    return {"params": m["params"]["total"], "trainable_params": m["params"]["trainable"],
            "val_accuracy": m["val_accuracy"], "val_accuracy_no_tta": m["val_accuracy_no_tta"],
            "final_train_accuracy": m["final_train_accuracy"],
            "tta": tta_words(run.config["training"]) if m.get("tta_flip") or m.get("tta_crops") else None,
            "seconds_per_epoch": m["seconds_per_epoch"], "epochs": m["epochs_run"],
            "best_epoch": m["best_epoch"], "leaderboard": leaderboard, "runtime": m["runtime"],
            "train_seconds_total": m["train_seconds_total"], "trained_where": trained_where(m),
            "reused": bool(run.reused), "architecture": cnn,
            "flatten_features": _flatten_features(run.architecture)}


def architecture_sentences(s: dict) -> str:
    """The CNN's size and stages in words."""
    cnn = s["architecture"]
    return (f"**{s['params']:,} parameters** in total ({s['trainable_params']:,} trainable; the rest "
            f"are batch-normalization statistics). {len(cnn['filters'])} convolution stages of "
            f"{cnn['convs_per_block']} conv layers with {', '.join(map(str, cnn['filters']))} filters "
            f"halve the 48x48 face down to {s['flatten_features']} features before the dense layer(s) "
            f"of {', '.join(map(str, cnn['dense_units']))} units.")


def training_sentence(s: dict) -> str:
    """The loss, where the run trained and which checkpoint it kept."""
    return ("Loss: cross-entropy on one-hot labels. The model was trained for "
            f"{s['trained_where']}; the checkpoint kept is the one with the best validation accuracy "
            f"(epoch {s['best_epoch']})." + (" This run reused a saved model." if s["reused"] else ""))


def accuracy_table(s: dict) -> pd.DataFrame:
    """Validation accuracy with and without test-time augmentation, the last epoch's training
    accuracy and, when the data has test labels, the test accuracy and its halves."""
    rows = [("validation accuracy" + (f" (test-time augmentation: {s['tta']})" if s["tta"] else ""),
             pct(s["val_accuracy"], 2)),
            ("validation accuracy, single pass", pct(s["val_accuracy_no_tta"], 2)),
            ("training accuracy, last epoch (augmented batches)", pct(s["final_train_accuracy"], 2))]
    board = s["leaderboard"]
    if board:
        rows.append(("test, all faces", pct(board["test"], 2)))
        rows += [(f"test, {half} half", pct(board[half], 2)) for half in ("public", "private")
                 if board[half] is not None]
    return pd.DataFrame(rows, columns=["measure", "accuracy"])


def curve_summary(history: pd.DataFrame) -> dict:
    """Where a run's validation accuracy peaked and how its last epoch ended (history.csv)."""
    last = history.iloc[-1]
    return {"epochs": len(history), "peak_val_accuracy": float(history.val_accuracy.max()),
            "peak_epoch": int(history.loc[history.val_accuracy.idxmax(), "epoch"]),
            "last_accuracy": float(last.accuracy), "last_val_accuracy": float(last.val_accuracy),
            "last_val_loss": float(last.val_loss), "min_val_loss": float(history.val_loss.min())}


def curve_sentences(s: dict) -> str:
    """The peak, the last epoch's train-validation gap and the validation loss."""
    return (f"Validation accuracy peaks at {pct(s['peak_val_accuracy'])} in epoch {s['peak_epoch']} of "
            f"{s['epochs']}. At the last epoch the model is {pct(s['last_accuracy'])} accurate on its "
            f"(augmented) training batches and {pct(s['last_val_accuracy'])} on validation, a gap of "
            f"{100 * (s['last_accuracy'] - s['last_val_accuracy']):+.1f} points; validation loss ends "
            f"at {s['last_val_loss']:.3f} against {s['min_val_loss']:.3f} at its lowest.")


def ablation_summary(runs: dict) -> dict:
    """Question 4's runs ({variant: run}, variants as in ABLATION_LABELS) in numbers, its
    results.json section."""
    return {name: {"val_accuracy": r.metrics["val_accuracy"], "best_epoch": r.metrics["best_epoch"],
                   "final_train_accuracy": r.metrics["final_train_accuracy"],
                   "gap": r.metrics["final_train_accuracy"] - r.metrics["final_val_accuracy"],
                   "epochs": r.metrics["epochs_run"], "seconds_per_epoch": r.metrics["seconds_per_epoch"]}
            for name, r in runs.items()}


def ablation_table(s: dict) -> pd.DataFrame:
    """One row per variant: validation accuracy, best epoch, final train accuracy and gap."""
    return pd.DataFrame([{"variant": ABLATION_LABELS[name], "validation accuracy": v["val_accuracy"],
                          "best epoch": v["best_epoch"], "final train accuracy": v["final_train_accuracy"],
                          "train - validation gap": v["gap"]} for name, v in s.items()])


def ablation_settings(augmentation: dict, epochs: int) -> str:
    """The augmentation and epochs the ablation runs share."""
    return f"Augmentation: {', '.join(f'{k} {v}' for k, v in augmentation.items() if v)}; {epochs} epochs each."


def _change(s: dict, a: str, b: str) -> str:
    before, after = s[a]["val_accuracy"], s[b]["val_accuracy"]
    delta = round(100 * (after - before), 1)
    if not delta:
        return f"leaves validation accuracy where it was ({pct(before)} -> {pct(after)})"
    return (f"{'raises' if delta > 0 else 'lowers'} validation accuracy by {abs(delta):.1f} points "
            f"({pct(before)} -> {pct(after)})")


def ablation_sentences(s: dict) -> str:
    """What normalization, then augmentation, change, and the best variant."""
    best = max(s, key=lambda name: s[name]["val_accuracy"])
    return "\n".join([
        f"- Normalization alone {_change(s, 'none', 'normalization')}. Batch normalization after the "
        "first convolution already rescales activations, which is why input normalization matters "
        "less here than in a plain network.",
        f"- Adding augmentation {_change(s, 'normalization', 'normalization_augmentation')}; it shrinks "
        "the gap between training and validation accuracy from "
        f"{100 * s['normalization']['gap']:+.1f} to {100 * s['normalization_augmentation']['gap']:+.1f} "
        "points, i.e. it fights overfitting.",
        f"- Best variant: {ABLATION_LABELS[best]}."])


def dnn_summary(run, cnn_metrics: dict, depth: int) -> dict:
    """Question 2's DNN in numbers (results.json's "dnn" section), sized against the CNN."""
    m, cnn_params = run.metrics, cnn_metrics["params"]["total"]
    return {"params": m["params"]["total"], "width": run.config["width"], "depth": depth,
            "val_accuracy": m["val_accuracy"], "seconds_per_epoch": m["seconds_per_epoch"],
            "epochs": m["epochs_run"], "best_epoch": m["best_epoch"], "cnn_params": cnn_params,
            "params_vs_cnn": (m["params"]["total"] - cnn_params) / cnn_params,
            "runtime": m["runtime"], "train_seconds_total": m["train_seconds_total"],
            "trained_where": trained_where(m)}


def dnn_sentence(s: dict) -> str:
    """The DNN's layers and size against the CNN's, and where it trained."""
    return (f"{s['depth']} hidden layers of **{s['width']:,} units** give the DNN {s['params']:,} "
            f"parameters, {100 * s['params_vs_cnn']:+.2f}% from the CNN's {s['cnn_params']:,}. It was "
            f"trained for {s['trained_where']}.")


def dnn_curve_sentence(dnn: dict, cnn: dict) -> str:
    """The DNN's peak and both models' final validation loss, from their curve_summary."""
    return (f"The DNN's validation accuracy peaks at {pct(dnn['peak_val_accuracy'])} (epoch "
            f"{dnn['peak_epoch']}); its validation loss ends at {dnn['last_val_loss']:.3f} against the "
            f"CNN's {cnn['last_val_loss']:.3f}.")


def hist_eq_summary(raw, eq, y_val, seed: int) -> dict:
    """Question 9's histogram equalization: the main CNN (`raw`) against the same CNN trained on
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
            "seed": seed, "fixed": fixed, "broken": broken, "mcnemar_p": p,
            "per_class_hist_eq": per_class_recall(eq.val_proba, y_val),
            "per_class_raw": per_class_recall(raw.val_proba, y_val)}


def hist_eq_table(s: dict) -> pd.DataFrame:
    """The two runs side by side: validation accuracy with and without TTA, best epoch, final
    train accuracy."""
    return pd.DataFrame([{"preprocessing": name, "run": s[f"run_{key}"],
                          "validation (with TTA)": pct(s[f"val_accuracy_{key}"]),
                          "single pass": pct(s[f"val_accuracy_{key}_no_tta"]),
                          "best epoch": s["best_epoch"][key],
                          "final train accuracy": pct(s["final_train_accuracy"][key])}
                         for name, key in (("raw pixels", "raw"), ("histogram equalization", "hist_eq"))])


def recall_figure(s: dict) -> Figure:
    """Each class's validation recall for raw and equalized input, as grouped bars."""
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    frame = pd.DataFrame({"raw pixels": s["per_class_raw"],
                          "histogram equalization": s["per_class_hist_eq"]}, index=CLASS_NAMES)
    frame.plot.bar(ax=ax, rot=0, color=["tab:gray", "tab:green"])
    ax.set(title="Per-class validation accuracy (recall), raw vs equalized input", xlabel="true class",
           ylabel="share of the class recognized", ylim=(0, 1))
    fig.tight_layout()
    return fig


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
        f"seed {s['seed']}.",
        "- Per class, equalization " + (" and ".join(words) if words else "changes no class's recall") + "."])
