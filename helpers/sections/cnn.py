"""The "cnn" section, the CNN: architecture figure, settings and accuracy tables, sentences."""

from __future__ import annotations

import re
import textwrap
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers.core.config import smoothed_targets
from helpers.core.words import pct, plural, points
from helpers.modeling.recipe import recipe_setting

STAGE_NAMES = {"image": "Input", "aug": "Augmentation", "normalize": "Normalization",
               "flatten": "Flatten", "logits": "Classifier", "probabilities": "Softmax"}


def stages(model) -> list[dict]:
    """Group a model's layers into stages by name prefix (block1_conv1 -> block1), with the
    stage's layer types, output shape and parameter count."""
    groups: list[dict] = []
    for layer in model.layers:
        key = re.split(r"_", layer.name, maxsplit=1)[0]
        if not groups or groups[-1]["key"] != key:
            groups.append({"key": key, "layers": [], "params": 0})
        group = groups[-1]
        group["layers"].append(layer)
        group["params"] += int(layer.count_params())
        shape = getattr(layer.output, "shape", None)
        group["shape"] = "x".join(str(d) for d in shape[1:]) if shape is not None else ""
    for group in groups:
        group["label"] = _stage_label(group)
    return groups


def _stage_label(group) -> str:
    """A stage's box text, in short lines (at most about 15 characters: six boxes fit the
    printed page's width at 8 points)."""
    key, layers = group["key"], group["layers"]
    name = STAGE_NAMES.get(key, key.replace("block", "block ").replace("dense", "dense ").capitalize())
    convs = [l for l in layers if type(l).__name__ == "Conv2D"]
    dense = [l for l in layers if type(l).__name__ == "Dense"]
    lines = [name]
    if convs:
        c = convs[0]
        lines += [f"{len(convs)} x conv {c.kernel_size[0]}x{c.kernel_size[1]}", f"{c.filters} filters",
                  "+ BN + ReLU"]
    elif dense and key != "logits":
        lines += [f"{dense[0].units} units", "+ BN + ReLU"]
    elif key == "crop":
        lines += ["random in training", "center at test"]
    elif key == "aug":
        lines += textwrap.wrap(", ".join(type(l).__name__.removeprefix("Random").lower()
                                         for l in layers), 15)
    if any(type(l).__name__ == "MaxPooling2D" for l in layers):
        lines.append("max-pool 2x2")
    drop = [l for l in layers if type(l).__name__ == "Dropout"]
    if drop:
        lines.append(f"dropout {drop[0].rate:g}")
    if not (dense and key != "logits" and group["shape"] == str(dense[0].units)):  # "256 units" says it
        lines.append(f"-> {group['shape']}")
    if group["params"]:
        lines.append(f"{group['params']:,} params")
    return "\n".join(lines)


def _stage_name(group) -> str:
    return group["label"].split("\n")[0]


def _layer_words(group) -> str:
    """A stage's layers as the table says them: its box text less its name, shape and params."""
    _, *rest = group["label"].split("\n")
    return ", ".join(line.removeprefix("+ ") for line in rest
                     if not line.startswith("-> ") and not line.endswith(" params"))


def stage_table(model, merge=()) -> pd.DataFrame:
    """The layer/parameter table, one row per box of the architecture figure drawn with the
    same `merge`: its layers (a merged box's other stages among them), its output shape and its
    parameters (trainable and batch-normalization statistics alike), with the total in the
    last row."""
    rows = []
    for group in merged_stages(model, merge):
        first, *rest = group["parts"]
        # a merged row is named by its first stage, its other stages are its layers (a long
        # name would take the width the layers column needs on one line)
        parts = [_layer_words(first)] + [": ".join(w for w in (_stage_name(p).lower(), _layer_words(p)) if w)
                                         for p in rest]
        rows.append({"stage": group["names"][0], "layers": "; ".join(w for w in parts if w),
                     "output": group["shape"], "parameters": f"{group['params']:,}"})
    rows.append({"stage": "total", "layers": "", "output": "",
                 "parameters": f"{sum(g['params'] for g in stages(model)):,}"})
    return pd.DataFrame(rows)


PREPROCESSING = ("image", "crop", "aug", "normalize")
"""The stages before the first weight (input, crop, augmentation, normalization): the CNN and
the DNN share them; the report's diagrams draw them as one box (COMPACT)."""
HEAD = ("logits", "probabilities")
"""The classifier and its softmax, one box in the report's diagrams (COMPACT)."""
MAX_FIGURE_WIDTH = 6.3
"""Inches: within plotting.PRINT_WIDTH with the saved image's padding, so 8-point text prints
at 8 points."""


COMPACT = (PREPROCESSING, HEAD)
"""The merge of the report's diagrams and tables: one box and one row for each of the two."""


def merged_stages(model, merge=()) -> list[dict]:
    """`stages`, with each tuple of stage keys in `merge` as one group: its stages (`parts`),
    their names (`names`, the first with its own output shape when the group changes it; `name`,
    them in one list), the last one's output shape and their parameters together, and its box text."""
    groups = []
    for group in stages(model):
        together = next((keys for keys in merge if group["key"] in keys), None)
        if together and groups and groups[-1]["together"] == together:
            last = groups[-1]
            last["parts"].append(group)
            last["params"] += group["params"]
            last["shape"] = group["shape"]
        else:
            groups.append({**group, "together": together, "parts": [group]})
    for group in groups:
        names = [_stage_name(p) for p in group["parts"]]
        if len(names) > 1 and group["parts"][0]["shape"] != group["shape"]:
            names[0] += f" {group['parts'][0]['shape']}"  # "Input 48x48x1, crop, ..."
        group["names"] = names
        group["name"] = ", ".join([names[0]] + [n.lower() for n in names[1:]])
        if len(names) > 1:
            lines = textwrap.wrap(group["name"], 15) + [f"-> {group['shape']}"]
            if group["params"]:
                lines.append(f"{group['params']:,} params")
            group["label"] = "\n".join(lines)
    return groups


def architecture_figure(model, per_row: int = 6, title: str | None = None, merge=()) -> Figure:
    """The model as a chain of boxes, one per stage (or per tuple of stage keys in `merge`),
    wrapped into rows of `per_row`, an arrow from each box to the next. Drawn at its print size
    (at most MAX_FIGURE_WIDTH wide) with 8-point box text."""
    groups = merged_stages(model, merge)
    rows = [groups[i:i + per_row] for i in range(0, len(groups), per_row)]
    # each row as tall as its tallest box (8-point lines) and the gap the wrapping arrow crosses
    heights = [0.135 * max(g["label"].count("\n") + 1 for g in row) + 0.22 for row in rows]
    tops = np.concatenate([[0], np.cumsum(heights)])
    fig = Figure(figsize=(min(MAX_FIGURE_WIDTH, 1.12 * per_row), tops[-1] + 0.3))
    ax = fig.subplots()
    ax.set_xlim(0, per_row)
    ax.set_ylim(tops[-1], 0)
    ax.axis("off")
    boxes = []
    for i, group in enumerate(groups):
        row, col = divmod(i, per_row)
        boxes.append(ax.text(col + 0.5, tops[row] + heights[row] / 2 - 0.05, group["label"],
                             ha="center", va="center", fontsize=8, linespacing=1.15,
                             bbox=dict(boxstyle="round,pad=0.3", fc="#e8f0fb", ec="#4a78b5")))
    _space_evenly(fig, ax, boxes, per_row)
    # Arrows from box to box, in the boxes' own coordinates (0..1 across the text), shortened
    # by the boxes' padding: along a row edge to edge; from a row's last box down into the gap
    # between the rows, along it and down to the next row's first (a diagonal would cross boxes).
    for i, (before, after) in enumerate(zip(boxes, boxes[1:])):
        if (i + 1) % per_row:
            ax.annotate("", xy=(0, 0.5), xycoords=after, xytext=(1, 0.5), textcoords=before,
                        arrowprops=dict(arrowstyle="->", shrinkA=4, shrinkB=4, color="black"))
            continue
        row = (i + 1) // per_row
        gap = tops[row] - 0.06  # below the row above's boxes, above the next row's
        start, end = before.get_position()[0], after.get_position()[0]
        ax.plot([start, start, end], [_box_bottom(fig, ax, before), gap, gap],
                color="gray", linewidth=1)
        ax.annotate("", xy=(0.5, 1), xycoords=after, xytext=(end, gap), textcoords="data",
                    arrowprops=dict(arrowstyle="->", shrinkA=0, shrinkB=4, color="gray"))
    total = model.count_params()
    fig.suptitle(title or f"{model.name}: {total:,} parameters", fontsize=10)
    fig.tight_layout(pad=0.2)
    return fig


def _box_bottom(fig, ax, box) -> float:
    """The data y of a text box's frame's bottom edge (after _space_evenly, which gives the
    figure its Agg canvas)."""
    renderer = fig.canvas.get_renderer()
    box.update_bbox_position_size(renderer)
    bottom = box.get_bbox_patch().get_window_extent(renderer).y0
    return float(ax.transData.inverted().transform([[0, bottom]])[0, 1])


def _space_evenly(fig, ax, boxes, per_row: int) -> None:
    """Moves each row's boxes so that the gaps between them are equal (boxes differ in width, so
    equal columns would leave some arrows almost no room); a short last row keeps the full
    rows' gap."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    to_data = ax.transData.inverted()
    widths = []
    for box in boxes:
        box.update_bbox_position_size(renderer)
        extent = box.get_bbox_patch().get_window_extent(renderer)
        (x0, _), (x1, _) = to_data.transform([[extent.x0, 0], [extent.x1, 0]])
        widths.append(x1 - x0)
    rows = [range(i, min(i + per_row, len(boxes))) for i in range(0, len(boxes), per_row)]
    full_gaps = [(per_row - sum(widths[i] for i in row)) / len(row) for row in rows if len(row) == per_row]
    for row in rows:
        gap = (per_row - sum(widths[i] for i in row)) / len(row)
        if len(row) < per_row and full_gaps:
            gap = min(gap, min(full_gaps))
        x = gap / 2
        for i in row:
            boxes[i].set_x(x + widths[i] / 2)
            x += widths[i] + gap


def optimizer_words(training: dict) -> str:
    """'SGD (Nesterov momentum 0.9)', from the run's own settings."""
    name = training.get("optimizer", "sgd")
    if name != "sgd":
        return {"adam": "Adam", "adamw": "AdamW"}.get(name, name)
    kind = "Nesterov momentum" if recipe_setting(training, "nesterov") else "momentum"
    return f"SGD ({kind} {recipe_setting(training, 'momentum'):g})"


def training_table(run_config: dict, inputs) -> pd.DataFrame:
    """Every setting that defined a run (its config.json), as a two-column table; `inputs` is
    the experiments.Inputs it was trained on."""
    from helpers.sections.curves import augmentation_words

    training, augmentation = run_config["training"], run_config.get("augmentation")
    normalization = run_config.get("normalization")
    rows = [
        ("training / validation images", f"{len(inputs.y_train):,} / {len(inputs.y_val):,} "
         f"(stratified {inputs.data_settings['val_fraction']:.0%} split, seed {inputs.data_settings['seed']})"),
        ("histogram equalization", "yes (every face)" if inputs.data_settings["hist_eq"] else "no"),
        ("normalization", f"standardize with training mean {normalization['mean']:.1f}, std {normalization['std']:.1f}"
         if normalization else "none (inputs 0..255)"),
        ("augmentation", augmentation_words(augmentation)),
        ("optimizer", optimizer_words(training)),
        ("learning rate", f"{training['learning_rate']:g}, {training.get('schedule', 'cosine')} schedule, "
         f"{plural(training.get('warmup_epochs', 0), 'warm-up epoch')}"),
        ("weight decay", f"{training.get('weight_decay', 0):g}"),
        ("label smoothing", f"{training.get('label_smoothing', 0):g}"),
        ("epochs / batch size", f"{training['epochs']} / {training['batch_size']}"),
        ("callbacks (in the training loop)",
         "keep the weights of the best validation epoch; save a checkpoint every epoch (to resume); early "
         + (f"stopping after {plural(training['early_stopping_patience'], 'epoch')} without gain"
            if training.get("early_stopping_patience") else "stopping: none")),
        ("test-time averaging", tta_words(training)),
        ("precision", "mixed while training: bfloat16 arithmetic, float32 weights; scored in float32 arithmetic "
         "on the weights saved rounded to float16"
         if training.get("precision") == "mixed_bfloat16" else training.get("precision", "float32")),
        ("seed", str(training.get("seed", 42))),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def tta_words(training: dict) -> str:
    """How a run's predictions average over test-time augmentation, in words."""
    crops, flip = training.get("tta_crops"), training.get("tta_flip")
    if crops and flip:
        return "average over the center and four corner crops and their mirror images (ten-crop)"
    if crops:
        return "average over the center and four corner crops"
    return "average with the mirrored face" if flip else "none"


def trained_where(metrics: dict) -> str:
    """'12 epochs on the CPU (2 cores) with the tensorflow backend' from a run's metrics (its
    speed is the DNN section's timing, measured for both models on one machine)."""
    runtime = metrics["runtime"]
    device = runtime["accelerator"] if runtime["accelerator"] != "none" else f"the CPU ({runtime['cpu_count']} cores)"
    return f"{metrics['epochs_run']} epochs on {device} with the {runtime['backend']} backend"


def device_words(runtime: dict) -> str:
    """'AMD EPYC (AVX-512-BF16), 2 cores' or 'NVIDIA H200', from a runtime record
    (helpers.modeling.store.runtime_info, a run's metrics["runtime"])."""
    return (runtime["accelerator"] if runtime.get("accelerator", "none") != "none"
            else f"{runtime.get('processor', 'CPU')}, {runtime.get('cpu_count')} cores")


def run_card(metrics: dict) -> dict:
    """One column of the report's side-by-side table of two runs: the kept checkpoint's
    validation accuracy with test-time augmentation and on one view (when recorded), then the
    last epoch's train and validation accuracy (single view) and their gap, so that the gap is
    the difference of the two rows above it. (Speed is compared by a timing on one machine: the
    DNN section's speed sentence.)"""
    card = {"parameters": f"{metrics['params']['total']:,}",
            "validation accuracy (kept checkpoint, test-time averaging)": pct(metrics["val_accuracy"])}
    if metrics.get("val_accuracy_no_tta") is not None:
        card["validation accuracy (kept checkpoint, single view)"] = pct(metrics["val_accuracy_no_tta"])
    return {**card,
            "best epoch": metrics["best_epoch"],
            "last epoch: train accuracy": pct(metrics["final_train_accuracy"]),
            "last epoch: validation accuracy (single view)": pct(metrics["final_val_accuracy"]),
            "last epoch: train - validation gap":
                f"{points(metrics['final_val_accuracy'], metrics['final_train_accuracy']):+.1f} pts"}


def _flatten_features(model) -> str:
    """The flatten layer's output size ("2304"), or "" for a model without one."""
    names = [layer.name for layer in model.layers]
    return str(model.get_layer("flatten").output.shape[-1]) if "flatten" in names else ""


def cnn_summary(run, cnn: dict, leaderboard: dict | None) -> dict:
    """The "cnn" section's numbers from the main CNN's run (results.json's "cnn" section): parameters,
    accuracies, time, the architecture settings `cnn` and the leaderboard scores, if known."""
    m = run.metrics
    return {"params": m["params"]["total"], "trainable_params": m["params"]["trainable"],
            "val_accuracy": m["val_accuracy"], "val_accuracy_no_tta": m["val_accuracy_no_tta"],
            "final_train_accuracy": m["final_train_accuracy"],
            "final_val_accuracy": m.get("final_val_accuracy"),
            "tta": tta_words(run.config["training"]) if m.get("tta_flip") or m.get("tta_crops") else None,
            "seconds_per_epoch": m["seconds_per_epoch"], "epochs": m["epochs_run"],
            "best_epoch": m["best_epoch"], "leaderboard": leaderboard, "runtime": m["runtime"],
            "train_seconds_total": m["train_seconds_total"], "trained_where": trained_where(m),
            "reused": bool(run.reused), "architecture": cnn,
            "label_smoothing": float(run.config["training"].get("label_smoothing") or 0.0),
            "flatten_features": _flatten_features(run.architecture)}


def architecture_sentences(s: dict) -> str:
    """The CNN's size and stages in words."""
    cnn = s["architecture"]
    return (f"**{s['params']:,} parameters** in total ({s['trainable_params']:,} trainable; the rest "
            f"are batch-normalization statistics). {len(cnn['filters'])} convolution stages of "
            f"{plural(cnn['convs_per_block'], 'conv layer')} with {', '.join(map(str, cnn['filters']))} filters "
            f"halve the image (rounding down), stage by stage, down to {s['flatten_features']} features before "
            f"{plural(len(cnn['dense_units']), 'dense layer')} of {', '.join(map(str, cnn['dense_units']))} units.")


def selection_words(s: dict) -> str:
    """The checkpoint was picked on the split that scores it: how optimistic that can be, against
    the last epoch's single-view score ('' when the best epoch is the last or it is unknown)."""
    if s.get("final_val_accuracy") is None or s["best_epoch"] == s["epochs"]:
        return ""
    return (f" The same validation faces chose it, so its score is slightly optimistic: the last "
            f"epoch ({s['epochs']}) scores {pct(s['final_val_accuracy'])} on one view, against "
            f"{pct(s['val_accuracy_no_tta'])} for the kept weights.")


def training_sentence(s: dict) -> str:
    """The loss, where the run trained and which checkpoint it kept."""
    smoothing = s.get("label_smoothing") or 0.0
    true, other = smoothed_targets(smoothing)
    loss = (f"cross-entropy with label smoothing {smoothing:g} (the true class's target is "
            f"{true:.3f}, every other class's {other:.3f})" if smoothing else "cross-entropy on one-hot labels")
    return (f"Loss: {loss}. The model was trained for "
            f"{s['trained_where']}. The weights kept are those of the epoch that scored best on the "
            f"validation faces while it trained (epoch {s['best_epoch']}, one view each epoch; the "
            "scores below are measured again on the saved weights, so they can differ slightly from "
            "that epoch's)." + selection_words(s)
            + (" It was trained before this report was built and reloaded from its saved weights."
               if s["reused"] else ""))


def accuracy_table(s: dict) -> pd.DataFrame:
    """Validation accuracy with and without test-time augmentation, the last epoch's training
    accuracy and, when the data has test labels, the test accuracy and its halves."""
    rows = [("validation accuracy" + (f" (test-time averaging: {s['tta']})" if s["tta"] else ""),
             pct(s["val_accuracy"])),
            ("validation accuracy, single pass", pct(s["val_accuracy_no_tta"])),
            ("training accuracy, last epoch (augmented batches)", pct(s["final_train_accuracy"]))]
    board = s["leaderboard"]
    if board:
        rows.append(("test, all faces", pct(board["test"], 2)))
        rows += [(f"test, {half} half", pct(board[half], 2)) for half in ("public", "private")
                 if board[half] is not None]
    return pd.DataFrame(rows, columns=["measure", "accuracy"])


def submission_sentence(path, faces: int | None, scored: bool) -> str:
    """Where the test predictions went (`faces` of them; None: the data has no test images) and
    whether `scored` against test labels that came with the data or left to the leaderboard."""
    if faces is None:
        return "The data has no test images, so this run writes no leaderboard submission."
    where = ("scored above against the labels that came with the data" if scored else
             "the test labels are withheld, so its public/private accuracy is scored by the course "
             "leaderboard and is not known to this run")
    return f"Predictions for all {faces:,} test faces are in `{PurePosixPath(path).name}` (beside this PDF); {where}."
