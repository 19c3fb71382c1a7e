"""The "dnn" section, the DNN: its summary and sentences, and the comparison with the CNN."""

from __future__ import annotations

from helpers.core.words import pct
from helpers.sections.cnn import same_hardware, trained_where


def cnn_dnn_summary(cnn: dict, dnn: dict) -> dict:
    """The "dnn" section's comparison of the CNN and the DNN from their runs' metrics."""
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


def dnn_summary(run, cnn_metrics: dict, depth: int) -> dict:
    """The "dnn" section's DNN in numbers (results.json's "dnn" section), sized against the CNN."""
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
