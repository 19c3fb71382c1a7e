"""The "dnn" section, the DNN: its summary and sentences, and the comparison with the CNN
(accuracy on the same validation faces, training speed measured on the machine that builds
the report, overfitting), every setting read from the runs' own configs."""

from __future__ import annotations


from helpers.analysis.stats import ALPHA, paired_comparison
from helpers.analysis.timing import multiply_adds, training_speed
from helpers.core.words import duration, join_words, pct, points
from helpers.modeling.store import runtime_info
from helpers.sections.cnn import device_words, trained_where
from helpers.sections.curves import augmentation_words, dropout_words, loss_words

SAME_SPEED = 0.05
"""Speeds within this share of each other are called the same (timing noise)."""

SHARED_SETTINGS = {"training": "training settings", "augmentation": "augmentation",
                   "normalization": "normalization"}
"""The parts of the runs' configs the DNN should share with the CNN, and their names in prose."""


def _gap(metrics: dict) -> float:
    return metrics["final_train_accuracy"] - metrics["final_val_accuracy"]


def cnn_dnn_summary(cnn_run, dnn_run, y_val) -> dict:
    """The "dnn" section's comparison of the CNN and the DNN from their runs: validation accuracy
    and the paired test on the same faces, and the last epoch's train-validation gap with the
    dropout and augmentation each was trained with (from its config)."""
    cnn, dnn = cnn_run.metrics, dnn_run.metrics
    paired = paired_comparison(dnn_run.val_proba, cnn_run.val_proba, y_val)
    return {
        "cnn_val": cnn["val_accuracy"], "dnn_val": dnn["val_accuracy"],
        "gap_points": points(dnn["val_accuracy"], cnn["val_accuracy"]),
        "cnn_only_right": paired.fixed, "dnn_only_right": paired.broken, "p": paired.p,
        "overfit": {"CNN": _gap(cnn), "DNN": _gap(dnn)},
        "dropout": {"CNN": dropout_words(cnn_run.config), "DNN": dropout_words(dnn_run.config)},
        "one_view": {"CNN": cnn.get("val_accuracy_no_tta"), "DNN": dnn.get("val_accuracy_no_tta")},
        "dnn_dropout": float(dnn_run.config.get("dropout") or 0.0),
        "augmentation": {"CNN": augmentation_words(cnn_run.config.get("augmentation")),
                         "DNN": augmentation_words(dnn_run.config.get("augmentation"))},
    }


def _accuracy_line(s: dict) -> str:
    gap = round(s["gap_points"], 1)
    test = (f"on the same validation faces the CNN alone is right on {s['cnn_only_right']:,} and the "
            f"DNN alone on {s['dnn_only_right']:,}, exact McNemar p = {s['p']:.2g}")
    if s["p"] >= ALPHA or not gap:
        return (f"- With the same number of parameters the CNN and the DNN **do not differ significantly** "
                f"({pct(s['cnn_val'])} against {pct(s['dnn_val'])}; {test})." + _averaging_words(s))
    line = (f"- With the same number of parameters the CNN is **{abs(gap):.1f} points "
            f"{'more' if gap > 0 else 'less'} accurate** ({pct(s['cnn_val'])} against {pct(s['dnn_val'])}; "
            f"{test}, significant at the {ALPHA:.0%} level).")
    if gap > 0:
        line += (" Convolutions share each filter's weights over every position of the face and "
                 "look at local neighborhoods, so the CNN spends its parameters on features that "
                 "hold anywhere in the image, while each DNN weight is tied to one pixel position.")
    return line + _averaging_words(s)


def _averaging_words(s: dict) -> str:
    """How much test-time averaging adds to each model's kept checkpoint (from the printed
    one-view and averaged accuracies), and why a DNN gains more from averaging shifted crops."""
    one_view = s.get("one_view") or {}
    if any(one_view.get(m) is None for m in ("CNN", "DNN")):
        return ""
    gains = {m: points(one_view[m], s[f"{m.lower()}_val"]) for m in ("CNN", "DNN")}
    text = (f" Test-time averaging adds {gains['DNN']:+.1f} points to the DNN ({pct(one_view['DNN'])} "
            f"on one view) and {gains['CNN']:+.1f} to the CNN ({pct(one_view['CNN'])})")
    if gains["DNN"] > gains["CNN"]:
        text += (": a face shifted by a few pixels meets other DNN weights, while the CNN's "
                 "filters slide with it, so averaging over shifted crops corrects more of the "
                 "DNN's mistakes.")
    else:
        text += "."
    return text


def _overfitting_line(s: dict) -> str:
    cnn, dnn = 100 * s["overfit"]["CNN"], 100 * s["overfit"]["DNN"]
    more = ("the DNN" if round(dnn, 1) > round(cnn, 1) else "the CNN" if round(cnn, 1) > round(dnn, 1)
            else None)
    line = (f"- Overfitting: at the last epoch training accuracy exceeds validation accuracy by "
            f"{dnn:+.1f} points for the DNN and {cnn:+.1f} for the CNN"
            + (f": by this measure {more} overfits more. " if more else ", the same gap. "))
    dropped = [m for m in ("DNN", "CNN") if s["dropout"][m] != "no dropout" and (m == "CNN" or s["dnn_dropout"])]
    if dropped:
        has = "; ".join(f"{m}: {s['dropout'][m]}" for m in dropped)
        line += (f"Dropout is active while training accuracy is measured ({has}), so "
                 f"{'both gaps understate' if len(dropped) == 2 else f'the {dropped[0]} gap understates'} "
                 "how closely the model fits its training faces")
    undropped = [m for m in ("DNN", "CNN") if m not in dropped]
    if undropped:
        line += (("; the " if dropped else "The ") + " and the ".join(undropped)
                 + (" has" if len(undropped) == 1 else " have") + " no dropout"
                 + (", so its gap is its own overfitting"
                    if undropped == ["DNN"] else ""))
    line += "."
    augmentation = s["augmentation"]
    if augmentation["CNN"] == augmentation["DNN"]:
        line += " Both training accuracies are measured on equally augmented batches."
    else:
        line += (f" Their training batches are augmented differently (CNN: {augmentation['CNN']}; "
                 f"DNN: {augmentation['DNN']}).")
    return line


def cnn_dnn_sentences(s: dict, speed: dict | None = None) -> str:
    """The report's bullets for cnn_dnn_summary: accuracy, speed per epoch (speed_summary,
    measured on this machine), overfitting."""
    lines = [_accuracy_line(s)]
    if speed is not None:
        lines.append("- " + speed_sentence(speed))
    lines.append(_overfitting_line(s))
    return "\n".join(lines)


def measure_speed(runs: dict, train_rows: int, **timing) -> dict:
    """Time each run's network on this machine ({label: run}, e.g. {"CNN": ..., "DNN": ...};
    helpers.analysis.timing.training_speed with `timing`) and sum it up (speed_summary)."""
    measured = {label: training_speed(run.config, **timing) for label, run in runs.items()}
    arithmetic = {label: multiply_adds(run.architecture) for label, run in runs.items()}
    return speed_summary(measured, arithmetic, train_rows, runtime_info())


def speed_summary(measured: dict, arithmetic: dict, train_rows: int, runtime: dict) -> dict:
    """The training speed of each model ({label: training_speed's result}) with its
    multiply-adds per face, as seconds per epoch of `train_rows` faces, measured on the
    machine `runtime` describes (helpers.modeling.store.runtime_info)."""
    if len(measured) != 2 or set(measured) != set(arithmetic):
        raise ValueError(f"need two timed models with their arithmetic, got {sorted(measured)} "
                         f"and {sorted(arithmetic)}")
    models = {label: {**m, "seconds_per_epoch": train_rows / m["images_per_second"],
                      "multiply_adds": int(arithmetic[label])} for label, m in measured.items()}
    slow, fast = sorted(models, key=lambda label: models[label]["images_per_second"])
    # the ratio of the printed times, so that a reader who divides them gets the printed factor
    factor = (_printed_seconds(models[slow]["seconds_per_epoch"])
              / _printed_seconds(models[fast]["seconds_per_epoch"]))
    return {"models": models, "train_rows": int(train_rows), "device": device_words(runtime),
            "backend": runtime["backend"],
            "faster": fast if factor - 1 >= SAME_SPEED else None, "slower": slow, "factor": factor}


def _printed_seconds(seconds: float) -> float:
    """`seconds` rounded as _seconds prints it (to 2 decimals below 10 s, 1 below 10 min)."""
    if seconds < 10:
        return round(seconds, 2)
    return round(seconds, 1) if seconds < 600 else seconds


def _seconds(seconds: float) -> str:
    """'135.6 s' below 10 min, '4.27 s' below 10 s (the factor is the ratio of these printed
    times), else helpers.core.words.duration."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s" if seconds < 600 else duration(seconds)


def _millions(count: int) -> float:
    """A count in millions to 3 significant digits, as speed_sentence prints it."""
    return float(f"{count / 1e6:.3g}")


def speed_sentence(s: dict) -> str:
    """Which model trains faster per epoch and by what factor, measured where and how."""
    models = s["models"]
    first = next(iter(models.values()))
    how = (f"**Speed** ({first['batches']} timed training batches of each model after "
           f"{first['warmup_batches']} warm-up ones, in each run's batch size and precision, on "
           f"{s['device']}, {s['backend']}): ")
    times = " against ".join(f"{_seconds(m['seconds_per_epoch'])} for the {label}"
                             for label, m in models.items())
    epoch = f"one epoch of the {s['train_rows']:,} training faces takes {times}"
    if s["faster"] is None:
        verdict = f"**The two train at about the same speed** ({epoch})."
    else:
        verdict = (f"**The {s['faster']} is {s['factor']:.1f}x faster per epoch** "
                   f"({epoch}).")
    slow = s["slower"]
    fast = next(label for label in models if label != slow)
    slow_adds, fast_adds = (_millions(models[label]["multiply_adds"]) for label in (slow, fast))
    ratio = slow_adds / fast_adds if fast_adds else float("inf")
    why = (f" Per face, the {slow}'s forward pass costs {slow_adds:,g} million "
           f"multiply-adds against {fast_adds:,g} million for the {fast} "
           f"({ratio:.1f}x)")
    if "CNN" in models and "DNN" in models:
        why += (": with about the same number of weights, a dense weight is used once per face, "
                "a convolution weight at every position of its feature map.")
    else:
        why += "."
    return how + verdict + why


def _setting_words(part: str, config: dict) -> str:
    value = config.get(part)
    if part == "augmentation":
        return augmentation_words(value)
    if part == "normalization":
        return f"mean {value['mean']:.1f}, std {value['std']:.1f}" if value else "none"
    return str(value)


def shared_settings(cnn_config: dict, dnn_config: dict) -> dict:
    """Which of SHARED_SETTINGS the two runs' configs share, and, for those they do not, what
    differs (training settings key by key)."""
    same, different = [], {}
    for part in SHARED_SETTINGS:
        a, b = cnn_config.get(part), dnn_config.get(part)
        if a == b:
            same.append(part)
        elif part == "training" and isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    different[key] = {"CNN": a.get(key), "DNN": b.get(key)}
        else:
            different[part] = {"CNN": _setting_words(part, cnn_config),
                               "DNN": _setting_words(part, dnn_config)}
    return {"same": same, "different": different}


def dnn_summary(run, cnn_run) -> dict:
    """The "dnn" section's DNN in numbers (results.json's "dnn" section), sized against the CNN
    and with the settings it shares with the CNN's run, read from both configs."""
    m, cnn_params, config = run.metrics, cnn_run.metrics["params"]["total"], run.config
    return {"params": m["params"]["total"], "width": config["width"], "depth": config["depth"],
            "dropout": float(config.get("dropout") or 0.0), "dropout_words": dropout_words(config),
            "augmentation": augmentation_words(config.get("augmentation")),
            "val_accuracy": m["val_accuracy"], "seconds_per_epoch": m["seconds_per_epoch"],
            "epochs": m["epochs_run"], "best_epoch": m["best_epoch"], "cnn_params": cnn_params,
            "batch_size": (config.get("training") or {}).get("batch_size"),
            "params_vs_cnn": (m["params"]["total"] - cnn_params) / cnn_params,
            "runtime": m["runtime"], "train_seconds_total": m["train_seconds_total"],
            "trained_where": trained_where(m),
            "shared_with_cnn": shared_settings(cnn_run.config, config)}


def dnn_sentence(s: dict) -> str:
    """The DNN's layers and size against the CNN's, what it shares with the CNN, and where it
    trained."""
    shared = s["shared_with_cnn"]
    text = (f"{s['depth']} hidden layers of **{s['width']:,} units** (dense, batch normalization, ReLU; "
            f"{s['dropout_words']}) give the DNN {s['params']:,} parameters, ")
    text += ("as many as the CNN. " if not round(100 * s["params_vs_cnn"], 2) else
             f"{100 * abs(s['params_vs_cnn']):.2f}% {'more' if s['params_vs_cnn'] > 0 else 'fewer'} "
             f"than the CNN's {s['cnn_params']:,}. ")
    if shared["same"]:
        detail = {"augmentation": s["augmentation"],
                  "training": f"batch size {s['batch_size']}" if s.get("batch_size") else None}
        same = [SHARED_SETTINGS[part] + (f" ({detail[part]})" if detail.get(part) else "")
                for part in shared["same"]]
        text += "It trains with the CNN's " + join_words(same) + ". "
    if shared["different"]:
        text += "It differs from the CNN in " + "; ".join(
            f"{key} ({v['DNN']} against the CNN's {v['CNN']})" for key, v in shared["different"].items()) + ". "
    return text + f"It was trained for {s['trained_where']}."


def dnn_curve_sentence(dnn: dict, cnn: dict) -> str:
    """The DNN's curves as the CNN's sentence says them (peak, last epoch's gap), then both
    models' final validation loss, from their curve_summary."""
    return (f"**DNN.** Validation accuracy peaks at {pct(dnn['peak_val_accuracy'])} in epoch "
            f"{dnn['peak_epoch']} of {dnn['epochs']}. At the last epoch it is "
            f"{pct(dnn['last_accuracy'])} accurate on its training batches and "
            f"{pct(dnn['last_val_accuracy'])} on validation, a gap of "
            f"{points(dnn['last_val_accuracy'], dnn['last_accuracy']):+.1f} points; its "
            f"{loss_words(dnn)}; the CNN's ends at {cnn['last_val_loss']:.3f}.")
