"""The answer sheet on the PDF's second page: one row per homework question (the data, 1-9),
its answer in one sentence with its key number and the section that holds the evidence; then
where this run stands among the reference points of the homework (past reports, published
results, human accuracy).

Everything is read from the run's results.json (the notebooks' summaries), defensively: a
section the run did not produce gives "Not produced in this run.", a section whose numbers this
sheet cannot read (a key renamed, a smoke run's empty result) points to the section instead of
breaking the PDF::

    answer_rows(results)          # [{"question", "answer", "where"}, ...]
    answers_markdown(results)     # the sheet, a Markdown table (page references for LaTeX)
    field_markdown(results)       # the reference points beside this run's accuracies
"""

from __future__ import annotations

import re
from typing import Callable

from helpers.analysis.stats import ALPHA, CONFIDENCE, wilson_interval
from helpers.core.config import CLASS_NAMES, KEPT_START
from helpers.core.words import filter_share, join_words, layer_words, more_or_less, pct, plural, points, verb
from helpers.sections import SLUGS, number, title
from helpers.sections.confusion import class_counts

NOT_PRODUCED = "*Not produced in this run.*"
"""The answer of a question whose section is missing from results.json."""

UNREADABLE = "*This run's results lack the numbers for a one-line answer: see the section.*"
"""The answer of a question whose section is there but lacks a number this sheet reads."""


class Lacking(LookupError):
    """A number the answer needs is not in the results."""


def need(d, *path):
    """d[path[0]][path[1]]..., raising Lacking when any step is missing or None."""
    for key in path:
        try:
            d = d[key]
        except (KeyError, IndexError, TypeError):
            raise Lacking(".".join(map(str, path))) from None
        if d is None:
            raise Lacking(".".join(map(str, path)))
    return d


def verdict(change: float, p: float) -> str:
    """'no significant difference' unless the paired test is significant (p < ALPHA) and the
    change is visible at a tenth of a point; else 'a significant gain' or 'a significant loss'."""
    if p >= ALPHA or not round(100 * change, 1):
        return "no significant difference"
    return "a significant gain" if change > 0 else "a significant loss"


def test_words(change: float, p: float) -> str:
    """'+1.2 points, McNemar p = 0.03: a significant gain'."""
    return f"{100 * change:+.1f} points, McNemar p = {p:.2g}: {verdict(change, p)}"


# ----------------------------------------------------------------------------- the answers

def data_answer(r: dict) -> str:
    d = r["data"]
    train, val = need(d, "train_rows"), need(d, "val_rows")
    counts = need(d, "class_counts")
    names = CLASS_NAMES[:len(counts)]
    rare = min(range(len(names)), key=counts.__getitem__)
    common = max(range(len(names)), key=counts.__getitem__)
    total = train + val
    test = d.get("test_rows")
    tests = ("" if test is None else " and no test faces" if not test else
             f" and {test:,} {'' if d.get('test_labeled') else 'unlabeled '}test faces")
    return (f"**{total:,} labeled faces** ({train:,} training, {val:,} validation){tests}; rarest class "
            f"{names[rare]} ({counts[rare]:,}, {pct(counts[rare] / total)}), most common {names[common]} "
            f"({counts[common]:,}).")


def leaderboard_words(board: dict | None) -> str | None:
    """'public 67.2%, private 67.3%' or 'test 67.2%' from leaderboard_scores, None without one."""
    if not board:
        return None
    halves = [f"{half} {pct(board[half], 2)}" for half in ("public", "private") if board.get(half) is not None]
    return ", ".join(halves) if halves else f"test {pct(need(board, 'test'), 2)}"


def cnn_answer(r: dict) -> str:
    c = r["cnn"]
    text = f"**{pct(need(c, 'val_accuracy'))} validation accuracy**"
    if c.get("val_accuracy_no_tta") is not None and c.get("tta"):
        text += f" ({pct(c['val_accuracy_no_tta'])} without test-time averaging)"
    text += f" with {need(c, 'params'):,} parameters, trained {plural(need(c, 'epochs'), 'epoch')}"
    if c.get("best_epoch") and c["best_epoch"] != c["epochs"]:
        text += f" (checkpoint of epoch {c['best_epoch']}, chosen on these validation faces)"
    board = leaderboard_words(c.get("leaderboard"))
    test_rows = (r.get("run") or {}).get("test_rows", (r.get("data") or {}).get("test_rows"))
    if board:
        text += f"; leaderboard {board}"
    elif test_rows:
        text += "; its public/private scores are not known here (the test labels are withheld: the course leaderboard scores its submission)"
    return text + "."


def dnn_answer(r: dict) -> str:
    d = r["dnn"]
    comparison = d.get("comparison")
    dnn_val = need(d, "val_accuracy")
    text = f"**{pct(dnn_val)}** with {need(d, 'params'):,} parameters"
    if comparison:
        cnn_val = need(comparison, "cnn_val")
        text += (f" against the CNN's {pct(cnn_val)} "
                 f"({test_words(need(comparison, 'dnn_val') - cnn_val, need(comparison, 'p'))})")
    else:
        text += f" against the CNN's {pct(need(r, 'cnn', 'val_accuracy'))}"
    speed = d.get("speed")
    if speed:
        if speed.get("faster"):
            text += f"; the {speed['faster']} trains {need(speed, 'factor'):.1f}x faster per epoch"
        else:
            text += "; both train at about the same speed per epoch"
    return text + "."


def curves_answer(r: dict) -> str:
    c = r["cnn"]
    parts = [f"epoch {need(c, 'best_epoch')} of {need(c, 'epochs')} (CNN)"]
    d = r.get("dnn") or {}
    if d.get("best_epoch") is not None and d.get("epochs") is not None:
        parts.append(f"{d['best_epoch']} of {d['epochs']} (DNN)")
    text = "Validation accuracy peaks at " + " and ".join(parts)
    overfit = (d.get("comparison") or {}).get("overfit")
    if overfit and overfit.get("CNN") is not None and overfit.get("DNN") is not None:
        text += (f"; last-epoch train - validation gap **{100 * overfit['CNN']:+.1f} points (CNN)** and "
                 f"{100 * overfit['DNN']:+.1f} (DNN)")
    return text + "."


ABLATION = {"none": "(a) neither", "normalization": "(b) normalization",
            "normalization_augmentation": "(c) both"}
ABLATION_STEPS = {("none", "normalization"): "normalization alone",
                  ("normalization", "normalization_augmentation"): "adding augmentation",
                  ("none", "normalization_augmentation"): "both together"}


def ablation_answer(r: dict) -> str:
    a = r["ablation"]
    text = "; ".join(f"{label} **{pct(need(a, key, 'val_accuracy'))}**" for key, label in ABLATION.items())
    epochs = {a[key].get("epochs") for key in ABLATION if isinstance(a.get(key), dict)}
    main = (r.get("cnn") or {}).get("epochs")
    if len(epochs) == 1 and None not in epochs and main and main not in epochs:
        text += f" ({plural(epochs.pop(), 'epoch')} each; the main CNN trained {main})"
    comparisons = a.get("comparisons")
    if not comparisons:
        return text + " (the paired tests are not in this run's results)."
    by_step = {(need(c, "before"), need(c, "after")): c for c in comparisons}
    shown = lambda c: points(need(a, c["before"], "val_accuracy"), need(a, c["after"], "val_accuracy"))  # noqa: E731
    steps = [f"{words}: {verdict(need(c, 'change'), need(c, 'p'))} ({shown(c):+.1f} points, "
             f"p = {c['p']:.2g})" for key, words in list(ABLATION_STEPS.items())[:2]
             if (c := by_step.get(key)) is not None]
    if not steps:
        raise Lacking("ablation.comparisons")
    text += ": " + " and ".join(steps)
    ranking = a.get("ranking") or {}
    if ranking.get("top") and ranking.get("leader"):
        text += ("; best: " + ABLATION.get(ranking["leader"], ranking["leader"])
                 if ranking["top"] == [ranking["leader"]] else "; no variant is significantly best")
    return text + "."


def confusion_answer(r: dict) -> str:
    c = r["confusion"]
    pairs = need(c, "top_pairs")
    if not pairs:
        return "The CNN confuses no pair of classes on the validation faces."
    shown = [f"**{p['true']} taken for {p['predicted']}** ({pct(p['share'])} of {p['true']} faces)"
             if i == 0 else f"{p['true']} for {p['predicted']} ({pct(p['share'])})"
             for i, p in enumerate(pairs[:3])]
    text = "Most often confused: " + join_words(shown)
    disgust = class_counts(c, "disgust") if c.get("counts") is not None else {}
    if disgust.get("precision") is not None and disgust.get("recall") is not None:
        text += (f"; a predicted disgust is right {pct(disgust['precision'])} of the time ({disgust['right']} "
                 f"of {disgust['predicted']}), but only {pct(disgust['recall'])} of disgust faces are found "
                 f"({disgust['right']} of {disgust['support']})")
    return text + "."


REGIONS = {"eyes": "the eyes", "mouth": "the mouth", "rest": "the rest of the face"}
METHOD_NAMES = {"saliency": "saliency", "smoothgrad": "SmoothGrad", "gradcam": "Grad-CAM"}


def saliency_answer(r: dict) -> str:
    s = r["saliency"]
    focus = need(s, "focus_regions")
    method = need(s, "answer_methods", 0)
    density = need(s, "methods", method, "density")
    if focus:
        values = ", ".join(f"{region} {need(density, region, 'mean'):.2f}x" for region in focus)
        text = (f"The maps weigh **{join_words(REGIONS.get(x, x) for x in focus)}** above their area: more mass "
                f"per pixel than an even spread ({values} by {METHOD_NAMES.get(method, method)})")
        if need(s, "methods", method).get("learned"):
            from helpers.sections.saliency import origin_words  # imports Keras: only when there is one

            text += origin_words(need(s, "methods", method), focus)
        if s.get("answer_trusted") is False:
            text += "; no method passes the randomization check, so read with care"
        for m in s.get("excluded") or {}:  # a method left out of the answer: its numbers, not silence
            from helpers.sections.saliency import excluded_why

            other = need(s, "methods", m, "density")
            text += (f". {METHOD_NAMES.get(m, m)}, left out for {excluded_why(s, m)}: "
                     + ", ".join(f"{region} {need(other, region, 'mean'):.2f}x" for region in focus))
    else:
        text = f"No face region stands out: none gets clearly more than an even spread by {METHOD_NAMES.get(method, method)}"
        if s.get("answer_trusted") is False:
            text += "; no method passes the randomization check, so read with care"
    return text + "."


def shown(layer: dict, drawn: int | None = None) -> str:
    """' (all 32 filters)' or ' (a sample: filters 0-31 of its 128)', with '; 0-31 drawn' when the
    figure draws fewer than were measured; '' when the total is unknown."""
    total, filters = layer.get("total"), layer.get("filters")
    if total is None:
        return ""
    text = filter_share(filters, total)
    if drawn is not None and filters is not None and drawn < filters:
        text += f"; 0-{drawn - 1} drawn"
    return f" ({text})"


def filters_answer(r: dict) -> str:
    f = r["filters"]
    layers = need(f, "layers")
    (first_name, first), (last_name, last) = next(iter(layers.items())), list(layers.items())[-1]
    parts = []
    if first.get("agreeing") is not None:
        part = (f"in {layer_words(first_name)}{shown(first, f.get('filters_shown'))}, {first['agreeing']} of {need(first, 'filters')} patterns "
                "reproduce their own kernel")
        if first.get("brightness_kernels") is not None:
            part += f" ({first['brightness_kernels']} brightness kernels, the others edges, lines and spots)"
        kept = (f.get("kernel_change") or {}).get(first_name)
        if kept and kept.get("median") is not None:
            part += (f", kernels that training left near their random start (median cosine {kept['median']:.2f})"
                     if kept["median"] >= KEPT_START else
                     f", kernels that training turned from their random start (median cosine {kept['median']:.2f})")
            dc, dc_start = kept.get("dc_median"), kept.get("dc_median_start")
            if dc is not None and dc_start is not None and dc < dc_start / 2:
                part += f" but stripped of most of their averaging part (median DC share from {dc_start:.2f} to {dc:.2f})"
        parts.append(part)
    if last_name != first_name and last.get("oriented") is not None:
        parts.append(f"in {layer_words(last_name)}{shown(last, f.get('filters_shown'))}, {last['oriented']} of {need(last, 'filters')} patterns "
                     f"{verb(last['oriented'], 'is', 'are')} oriented (beyond white noise), "
                     f"most often {last['common_orientation']}"
                     if last.get("common_orientation") else
                     f"in {layer_words(last_name)}{shown(last, f.get('filters_shown'))}, none of the {need(last, 'filters')} patterns is oriented "
                     "(beyond white noise)")
    pieces = ["(a) Patterns: " + "; ".join(parts)] if parts else []
    maps = f.get("feature_maps") or {}
    counts = [(name, maps[name]) for name in layers if (maps.get(name) or {}).get("edge_like") is not None]
    if counts:  # question 7(b): what one face's feature maps follow, layer by layer (the words once)
        pieces.append("(b) Feature maps of one face: " + "; ".join(
            f"in {layer_words(name)}, {m['edge_like']} of {need(m, 'filters')} follow its edges and "
            f"{need(m, 'brightness_like')} its brightness" for name, m in counts))
    if not pieces:
        raise Lacking("filters.layers")
    return ". ".join(pieces) + "."


def semi_answer(r: dict) -> str:
    s = r["semi"]
    overall = need(s, "overall")
    models = need(overall, "models")
    if not models:
        return "No self-trained model in this run."
    fractions = join_words(pct(float(x), 0) for x in need(s, "fractions"))
    better, worse = need(overall, "better"), need(overall, "worse")
    largest = need(overall, "largest")
    change = (f"largest change {100 * need(largest, 'change'):+.1f} points ({CONFIDENCE:.0%} interval "
              f"{100 * need(largest, 'change_low'):+.1f} to {100 * need(largest, 'change_high'):+.1f}; "
              f"{pct(float(need(largest, 'fraction')), 0)} labeled"
              + (f", {need(largest, 'pool')} pool)" if len(s.get("pools") or []) > 1 else ")"))
    if not better and not worse:
        return (f"**No gain**: {'neither' if models == 2 else 'none'} of the {models} self-trained models "
                f"({fractions} of the labels kept) "
                f"differs significantly from its supervised baseline; {change}.")
    return (f"Of {models} self-trained models ({fractions} of the labels kept), **{better} significantly "
            f"better and {worse} significantly worse** than the supervised baseline, the others not significantly different; {change}.")


def region_answer(ws: dict) -> str:
    """'its saliency gives the mouth more mass per pixel (1.36x against 1.18x) and the eyes
    about as much (1.24x against 1.22x)': the weak model's region densities against the main
    CNN's by the first compared method, on the pixels both see, more or less when the
    face-by-face difference's interval leaves out 0."""
    method = ws["methods"][0]
    density = ws["region_density"][method]
    parts = []
    for region in ("mouth", "eyes"):
        how = more_or_less(density["change"][region])
        weak, main = (f"{density[who][region]['mean']:.2f}x" for who in ("weak", "main"))
        parts.append(f"the {region} {how}{' mass per pixel' if not parts else ''} ({weak} against {main})")
    return f"its {METHOD_NAMES.get(method, method)} gives {join_words(parts)}"


def weak_answer(r: dict) -> str:
    w = r.get("weak_saliency") or r["weak_filters"]
    text = (f"The weak model ({pct(need(w, 'val_accuracy'))} after {plural(need(w, 'epochs'), 'epoch')}, against "
            f"{pct(need(w, 'main_val_accuracy'))})")
    ws = r.get("weak_saliency") or {}
    clauses = []
    if ws.get("prediction_agreement") is not None:
        clauses.append(f"predicts the main CNN's class on {pct(ws['prediction_agreement'])} of faces")
    if ws.get("region_density") and ws.get("methods"):
        clauses.append(region_answer(ws))
    by_how: dict[str, list[str]] = {}
    passed = ((r.get("saliency") or {}).get("sanity") or {}).get("passed")  # None: not checked
    for method, top10 in (ws.get("top10_mass") or {}).items():
        if passed is not None and method not in passed:
            continue  # a method that fails the randomization check is no evidence
        if top10 and top10.get("weak") is not None and top10.get("main") is not None:
            w10, m10 = round(100 * top10["weak"], 1), round(100 * top10["main"], 1)
            how = "more" if w10 > m10 else "less" if w10 < m10 else "as much"
            by_how.setdefault(how, []).append(f"{METHOD_NAMES.get(method, method)} "
                                              f"({pct(top10['weak'])} against {pct(top10['main'])})")
    if by_how:
        than = " than the main CNN's"  # said once, after the first comparison
        parts = [f"{how} of the mass{than if i == 0 and how != 'as much' else ''} by {join_words(items)}"
                 for i, (how, items) in enumerate(by_how.items())]
        clauses.append("the top 10% of pixels of its maps hold " + " and ".join(parts))
    wf = r.get("weak_filters") or {}
    maps = {k: (wf.get(k) or {}).get("feature_maps") or {} for k in ("weak", "main")}
    if maps["weak"].get("edge_like") is not None and maps["main"].get("edge_like") is not None:
        clauses.append(f"{'it ' if clauses else ''}has {maps['weak']['edge_like']} first-layer feature maps "
                       f"that follow the face's edges against {maps['main']['edge_like']} for the main CNN")
    return text + (" " + "; ".join(clauses) if clauses else " is compared in the section") + "."


def adversarial_answer(r: dict) -> str:
    a = r["adversarial"]
    attempted, flipped = need(a, "attempted"), need(a, "flipped")
    if not attempted:
        return "No face was attacked in this run."
    budget = f"{plural(need(a, 'max_steps'), 'step')} of {plural(need(a, 'step_size'), 'gray level')}"
    if not flipped:
        return f"No attack changes the prediction within {budget} ({attempted} faces tried)."
    return (f"**{flipped} of {attempted}** correctly classified faces change class after a median of "
            f"{plural(need(a, 'median_steps_flipped'), 'step')} of {plural(a['step_size'], 'gray level')} "
            f"(mean change per pixel at most {need(a, 'largest_mean_abs_change'):.1f} gray levels, against "
            f"{need(a, 'mean_abs_difference_between_faces'):.0f} between two faces).")


def class_maximization_answer(r: dict) -> str:
    c = r["class_maximization"]
    return (f"**{need(c, 'hits')} of {len(need(c, 'classes'))}** images optimized from noise are "
            f"classified as their class after {plural(need(c, 'steps'), 'step')} (class probability "
            f"{pct(need(c, 'lowest', 'probability'))} to {pct(need(c, 'highest', 'probability'))}).")


def hist_eq_answer(r: dict) -> str:
    h = r["hist_eq"]
    eq, raw = need(h, "val_accuracy_hist_eq"), need(h, "val_accuracy_raw")
    where = h.get("trained_on") or {}
    apart = ("; the two trained on different machines and backends"
             if where.get("raw") and where.get("hist_eq") and where["raw"] != where["hist_eq"] else "")
    return (f"Histogram equalization: **{pct(eq)}** against {pct(raw)} without it (section {number('ablation')}'s variant (c)) "
            f"({test_words(eq - raw, need(h, 'mcnemar_p'))}{apart}).")


def ensemble_answer(r: dict) -> str:
    e = r["ensemble"]
    val, best = need(e, "val_accuracy"), need(e, "best_single_val_accuracy")
    text = (f"Averaging {plural(need(e, 'size'), 'CNN')}: **{pct(val)}** against {pct(best)} for the best single run "
            f"({test_words(val - best, need(e, 'mcnemar_p_vs_best'))})")
    board = leaderboard_words(e.get("leaderboard"))
    return text + (f"; leaderboard {board}." if board else ".")


QUESTIONS: list[tuple[str, str | None, tuple[str, ...], Callable[[dict], str]]] = [
    # (section slug, the question in a few words after the section's title, results.json
    # sections it reads, answer)
    ("data", None, ("data",), data_answer),
    ("cnn", "architecture, training, accuracy", ("cnn",), cnn_answer),
    ("dnn", "same parameters as the CNN", ("dnn",), dnn_answer),
    ("curves", None, ("cnn",), curves_answer),
    ("ablation", None, ("ablation",), ablation_answer),
    ("confusion", "most confused classes", ("confusion",), confusion_answer),
    ("saliency", "where the model looks", ("saliency",), saliency_answer),
    ("filters", "what the filters detect", ("filters",), filters_answer),
    ("semi", "self-training (bonus)", ("semi",), semi_answer),
    ("further", "weak model against the good one", ("weak_saliency", "weak_filters"), weak_answer),
    ("further", "adversarial images", ("adversarial",), adversarial_answer),
    ("further", "input that maximizes each class", ("class_maximization",), class_maximization_answer),
    ("further", "histogram equalization", ("hist_eq",), hist_eq_answer),
    ("further", "ensemble of CNNs", ("ensemble",), ensemble_answer),
]
"""The sheet's rows in order (the homework's questions are the numbered sections); a row's
section is missing when none of the results.json sections it reads is there."""

SECTION_START = "<the section's heading>"
"""In SUBSECTIONS: the section's own heading (its answer paragraph comes before its subsections)."""
SECTION_END = "<the section's end>"
"""In SUBSECTIONS: the end of the section's last cell (a figure or bullets can run a page past the
last heading); the merged report labels it (end_label)."""


def end_label(section_title: str) -> str:
    """The LaTeX label the merged report puts after a section's last cell."""
    return f"end-{anchor(section_title)}"

SUBSECTIONS = {
    "architecture, training, accuracy": (SECTION_START, "Accuracy"),
    "most confused classes": (SECTION_START, "Most confused classes"),
    "where the model looks": (SECTION_START, "How far the maps can be trusted"),
    "what the filters detect": (SECTION_START, "(b) Feature maps of one validation face"),
    "same parameters as the CNN": (SECTION_START, "What the comparison shows"),
    "self-training (bonus)": (SECTION_START, "Results"),
    "weak model against the good one": ("Saliency of a weak model", "Filters of a weak model"),
    "adversarial images": ("Adversarial examples", "What the attacks show"),
    "input that maximizes each class": ("The input that maximally activates each class", "What the class images show"),
    "histogram equalization": "Histogram equalization",
    "ensemble of CNNs": ("Ensemble of CNNs", SECTION_END),  # the report's last subsection
}
"""The heading (in the notebooks) of the subsection that holds a row's key number (a row sharing its
section with others, or a section whose numbers come pages after its start), or two headings: the
first and the last of the evidence (the section's start, or the answer's two parts), so that the
row's pages span the evidence, from its method to its numbers."""


SECTION_EVIDENCE = {"ablation": (SECTION_START, "How each variant scores"),
                    "data": (SECTION_START, SECTION_END)}
"""The same for a row without a topic, by its section."""


def subsection_headings() -> set[str]:
    """Every subsection heading SUBSECTIONS names (a value is one heading or a tuple of them)."""
    return {h for value in SUBSECTIONS.values() for h in ((value,) if isinstance(value, str) else value)
            if h not in (SECTION_START, SECTION_END)}


def question(slug: str, topic: str | None) -> str:
    """'5. Confusion matrix: most confused classes': the section's number and title
    (helpers.sections.ORDER), then the question in a few words."""
    n = number(slug)
    return (f"{n}. " if n else "") + title(slug) + (f": {topic}" if topic else "")


def anchor(section_title: str) -> str:
    """The LaTeX label pandoc gives the heading of a section titled `section_title` (its
    automatic identifier of "9. Further analysis" is "further-analysis": lower case, spaces as
    hyphens, other punctuation dropped, everything before the first letter removed)."""
    text = re.sub(r"[^\w\s.-]", "", section_title.lower())
    text = re.sub(r"\s+", "-", text.strip())
    text = re.sub(r"^[^a-z]+", "", text)
    return text or "section"


def where(slug: str, latex: bool = True, heading=None, anchors=None) -> str:
    """'section 5' (or 'Data', unnumbered), with its page from LaTeX's \\pageref when `latex`:
    the page of the subsection titled `heading` when given (SECTION_START: the section's own),
    or from the first of two headings to the second (a tuple: 'pp. 16-18', the pages between
    included, or 'p. 16' when both are on one page: the template's \\evidencepages; SECTION_END:
    the section's end), among `anchors` (the labels of the report's headings) when given; else
    of the section."""
    headings = [heading] if isinstance(heading, str) else list(heading or [])
    headings = [title(slug) if h == SECTION_START else h for h in headings]
    if anchors is not None:  # a run without that subsection: no dangling reference ("p. ??")
        kept = [h for h in headings if h != SECTION_END and anchor(h) in anchors]
        headings = kept + ([SECTION_END] if SECTION_END in headings and kept else [])
    n = number(slug)
    if not latex:
        return f"section {n}" if n else title(slug)
    labels = [end_label(title(slug)) if h == SECTION_END else anchor(h) for h in headings] or [anchor(title(slug))]
    if len(labels) == 2:
        pages = "\\evidencepages{%s}{%s}" % tuple(labels)
    else:
        pages = ("pp.\\ " if len(labels) > 1 else "p.\\ ") + ", ".join(f"\\pageref{{{x}}}" for x in labels)
    return (f"section\\ {n}" if n else title(slug)) + ", " + pages


def answer(results: dict, reads: tuple[str, ...], function) -> str:
    """One row's answer: NOT_PRODUCED when none of the sections it `reads` is in `results`,
    UNREADABLE when its numbers cannot be read, else the function's sentence."""
    if not any(results.get(section) for section in reads):
        return NOT_PRODUCED
    try:
        return function(results)
    except (LookupError, TypeError, ValueError, AttributeError, ZeroDivisionError):
        return UNREADABLE  # a renamed key, a smoke run's empty list: the section still has the answer


def own_answer(slug: str):
    """The answer of a section without a row in QUESTIONS: the one sentence its summary stores
    under "answer" (results.json[slug]["answer"]), so a new section needs no change here."""
    def read(results: dict) -> str:
        return str(need(results, slug, "answer"))
    return read


def questions() -> list[tuple]:
    """QUESTIONS, with a row for every section of helpers.sections.ORDER that has none there,
    placed in the order of the report."""
    known = {slug for slug, *_ in QUESTIONS}
    rows = list(QUESTIONS)
    for slug in SLUGS:
        if slug not in known:
            at = next((i for i, row in enumerate(rows) if number(row[0]) > number(slug)), len(rows))
            rows.insert(at, (slug, None, (slug,), own_answer(slug)))
    return rows


def answer_rows(results: dict, latex: bool = True, anchors=None) -> list[dict]:
    """One dict per question: question, answer, where (the section, or its subsection among
    `anchors`, the labels of the report's headings; None: every subsection is there)."""
    return [{"section": slug, "question": question(slug, topic),
             "answer": answer(results, reads, function),
             "where": where(slug, latex, SUBSECTIONS.get(topic) or SECTION_EVIDENCE.get(slug), anchors)}
            for slug, topic, reads, function in questions()]


def cell(text: str) -> str:
    """Text fit for a Markdown table cell (no pipe, no line break)."""
    return " ".join(str(text).replace("|", "/").split())


def answers_markdown(results: dict, latex: bool = True, anchors=None) -> str:
    """The answer sheet: a heading, a line on how to read it and the table of answer_rows. With
    `latex`, it starts a new page and gives each section's page (or subsection's, among
    `anchors`, the labels of the report's headings)."""
    rows = answer_rows(results, latex, anchors)
    profile = (results.get("run") or {}).get("profile")
    smoke = (" **This is a smoke run on a subset: its numbers are not the real results.**"
             if profile == "smoke" else "")
    lines = ["\\newpage", "", "# Answers at a glance", "",
             "Each homework question, its answer with the key number, and the section with the evidence. "
             "Accuracies are on the validation faces unless a leaderboard score is named; a difference is "
             f"significant when its paired test gives p < {ALPHA:g}." + smoke, "",
             "\\begingroup\\footnotesize\\renewcommand{\\arraystretch}{1.1}", "",
             "| question | answer | evidence |",
             "|-------------------|-------------------------------------------------------------------|----------|"]
    lines += [f"| {cell(r['question'])} | {cell(r['answer'])} | {cell(r['where'])} |" for r in rows]
    lines += ["", "\\endgroup"]
    if not latex:
        lines = [line for line in lines if not line.startswith("\\")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ----------------------------------------------------------------------------- the field

REFERENCES = [
    # (short name, who, accuracy, (low, high) or None, as the homework writes it, measured on)
    ("human accuracy", "Human accuracy (estimate)", 0.65, (0.60, 0.70), "65 +/- 5%", "FER2013 faces"),
    ("report A", "Past report A: CNN, 1.75M parameters, flip + hist. eq.", 0.6670, None, "66.70%",
     "public test half"),
    ("report B", "Past report B: 4 conv + 4 dense layers, ~4M parameters", 0.60, None, "~60%", "not stated"),
    ("report C", "Past report C: CNN, 1.40M parameters", 0.638, None, "63.8%", "not stated"),
    ("report D", "Past report D: CNN, 6.0M parameters (PyTorch)", None, None, "not reported", ""),
    ("report E", "Past report E: VGG-like, 3.26M parameters", 0.6721, None, "67.21% / 67.34%",
     "public / private test halves"),
    ("the 2013 challenge winner", "Kaggle 2013 challenge winner", 0.7116, None, "71.16%", "private test half"),
    ("a 10-layer VGG", "10-layer VGG", 0.727, None, "72.7%", "test"),
    ("an ensemble of 8 CNNs", "Ensemble of 8 CNNs", 0.752, None, "75.2%", "test"),
    ("a tuned VGG", "Tuned VGG variant, ten-crop test-time averaging", 0.7328, None, "73.28%",
     "public test half"),
]
"""Reference points on the FER2013 test split, as the course homework (HOMEWORK.md) lists them:
past students' reports A-E (their CNN), published results without extra data, human accuracy."""

SOURCE = ("Reference points as the course homework lists them (what past students reported and "
          "published results on the same test split, without extra data)")


def run_rows(results: dict) -> list[dict]:
    """This run's accuracies for the field table: the main CNN's and the ensemble's validation
    accuracy, and their leaderboard scores when the data came with test labels."""
    rows = []
    val_rows = (results.get("data") or {}).get("val_rows")
    on_val = f"validation split ({val_rows:,} faces)" if val_rows else "validation split"
    models = [("main CNN", results.get("cnn") or {})]
    ensemble = results.get("ensemble") or {}
    if ensemble:
        models.append((f"ensemble of {ensemble.get('size', '?')} CNNs", ensemble))
    for name, s in models:
        if isinstance(s.get("val_accuracy"), (int, float)):
            rows.append({"who": f"**This run: {name}**", "accuracy": s["val_accuracy"],
                         "written": f"**{pct(s['val_accuracy'])}**", "on": on_val})
        board = s.get("leaderboard") or {}
        halves = [h for h in ("public", "private") if board.get(h) is not None]
        if halves:
            rows.append({"who": f"**This run: {name}**", "accuracy": board[halves[0]],
                         "written": "**" + " / ".join(pct(board[h], 2) for h in halves) + "**",
                         "on": " / ".join(halves) + (" test halves" if len(halves) > 1 else " test half")})
        elif board.get("test") is not None:
            rows.append({"who": f"**This run: {name}**", "accuracy": board["test"],
                         "written": f"**{pct(board['test'], 2)}**", "on": "test (all faces)"})
    return rows


def field_rows(results: dict) -> list[dict]:
    """REFERENCES and run_rows, most accurate first (a reference without a number last)."""
    rows = [{"who": who, "accuracy": acc, "written": written, "on": on}
            for _, who, acc, _, written, on in REFERENCES] + run_rows(results)
    return sorted(rows, key=lambda row: -1 if row["accuracy"] is None else row["accuracy"], reverse=True)


def field_sentence(results: dict) -> str:
    """Where the main CNN's validation accuracy falls among the references: above, level with
    (inside its Wilson interval, or overlapping the human range) or below each."""
    cnn = results.get("cnn") or {}
    accuracy = cnn.get("val_accuracy")
    if not isinstance(accuracy, (int, float)):
        return "This run has no validation accuracy of the main CNN to place among them."
    faces = (results.get("data") or {}).get("val_rows") or (results.get("confusion") or {}).get("faces")
    if faces:
        low, high = wilson_interval(round(accuracy * faces), faces)
        own = f"{pct(accuracy)}, {CONFIDENCE:.0%} interval {pct(low)}-{pct(high)} over {faces:,} faces"
    else:
        low = high = accuracy
        own = pct(accuracy)
    above, level, below = [], [], []
    for short, _, acc, bounds, written, _ in sorted(REFERENCES, key=lambda ref: ref[2] or 0):
        if acc is None:
            continue
        lo, hi = bounds or (acc, acc)
        (above if hi < low else below if lo > high else level).append((short, written))
    def some(items: list[tuple], edge: str) -> str:  # the table lists them all
        if len(items) == 1:
            return "{} ({})".format(*items[0])
        short, written = items[-1] if edge == "highest" else items[0]
        return f"{len(items)} reference points (the {edge} of them: {short}, {written})"

    parts = [f"above {some(above, 'highest')}" if above else None,
             f"level with {join_words(f'{short} ({written})' for short, written in level)}, the intervals overlapping"
             if level else None,
             f"below {some(below, 'lowest')}" if below else None]
    text = f"On validation faces this run's main CNN ({own}) is " + "; ".join(p for p in parts if p) + "."
    if (cnn.get("leaderboard") or {}).get("public") is not None:
        text += (" Its leaderboard scores in the table are on the same test halves as the references; "
                 "the validation accuracy is on a different split.")
    else:
        text += (" The references are test accuracies and this run's are validation accuracies, a "
                 "different split of the same kind of faces, on which the kept checkpoint (and the "
                 "ensemble's subset) were also chosen, which flatters them slightly: the comparison is "
                 "indicative.")
    return text


KEEP_WITH_TABLE = "\\par\\ifdim\\dimexpr\\pagegoal-\\pagetotal<0.3\\textheight\\newpage\\fi"
"""LaTeX: a new page unless 30% of this one is left (a heading is not left alone at the foot)."""


def field_markdown(results: dict, latex: bool = True) -> str:
    """The reference points and this run's accuracies as a table, the source as its caption and
    field_sentence below; with `latex`, on a new page unless there is room for the table."""
    lines = ["```{=latex}", KEEP_WITH_TABLE, "```", ""] if latex else []
    lines += ["# Where this stands in the field", "", f"*{SOURCE}; this run's rows are in bold.*", "",
             "| | accuracy | measured on |", "|--------------------------------|----------------|-------------------------|"]
    lines += [f"| {cell(r['who'])} | {cell(r['written'])} | {cell(r['on'])} |" for r in field_rows(results)]
    lines += ["", field_sentence(results)]
    return "\n".join(lines)
