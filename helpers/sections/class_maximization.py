"""Further analysis, the input that maximally activates each class: summary, table, figure, sentences."""

from __future__ import annotations

from matplotlib.figure import Figure

from helpers.analysis.ascent import ClassMaximization, to_display
from helpers.core.config import CLASS_NAMES
from helpers.core.plotting import plot_grid
from helpers.core.words import pct


def class_maximization_figure(result: ClassMaximization, steps: int) -> Figure:
    """The images of class_maximization side by side (contrast-stretched), titled with the
    class, its probability and, where it differs, the class the model predicts."""
    titles = [f"{CLASS_NAMES[c]}\np = {pct(p)}"
              + ("" if k == c else f"\n\u2192 {CLASS_NAMES[k]}")
              for c, p, k in zip(result.classes, result.probabilities, result.predicted)]
    return plot_grid(to_display(result.images), titles=titles, ncols=len(result.classes),
                     cell_size=min(0.78, 5.5 / len(result.classes)),
                     suptitle=f"Main CNN: inputs that maximize each class logit ({steps} steps;\n"
                              "p = probability of that class; \u2192 the class predicted instead)")


def class_maximization_summary(result: ClassMaximization, steps: int) -> dict:
    """class_maximization in numbers (also its results.json section): how many images the model
    gives to their class, the lowest and highest probability reached and each logit's rise."""
    rise = result.logits - result.start_logits
    low, high = int(result.probabilities.argmin()), int(result.probabilities.argmax())
    return {"steps": steps, "classes": [CLASS_NAMES[c] for c in result.classes],
            "start_logits": result.start_logits, "logits": result.logits,
            "probabilities": result.probabilities,
            "predicted": [CLASS_NAMES[k] for k in result.predicted],
            "hits": int((result.predicted == result.classes).sum()),
            "lowest": {"class": CLASS_NAMES[result.classes[low]],
                       "probability": float(result.probabilities[low])},
            "highest": {"class": CLASS_NAMES[result.classes[high]],
                        "probability": float(result.probabilities[high])},
            "logit_rise_range": [float(rise.min()), float(rise.max())],
            "not_risen": int((rise <= 0).sum())}


def class_maximization_sentences(s: dict) -> str:
    """How far the class images got: hits, probabilities reached and the logits' rise."""
    opening = (f"After {s['steps']} steps, {s['hits']} of {len(s['classes'])} images are classified "
               "as the class they were optimized for; ")
    if s["not_risen"]:
        return opening + f"{s['not_risen']} logit(s) did not rise."
    low, high = s["logit_rise_range"]
    return (opening + f"the class probability reached goes from {pct(s['lowest']['probability'])} "
            f"({_reached_by(s, 'lowest')}) to {pct(s['highest']['probability'])} ({_reached_by(s, 'highest')}), "
            f"and every logit rose from the starting noise by {low:.1f} to {high:.1f}.")


def _reached_by(s: dict, end: str) -> str:
    """The class at that end of the probabilities ('happy'), or how many classes print the same
    value there ('6 classes')."""
    shown = pct(s[end]["probability"])
    same = [c for c, p in zip(s["classes"], s["probabilities"]) if pct(float(p)) == shown]
    return s[end]["class"] if len(same) <= 1 else f"{len(same)} classes"
