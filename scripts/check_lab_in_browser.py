"""The JupyterLab check of the issue "Exploring in JupyterLab without surprises", in a real
browser: headless Chromium, driven by Playwright, against `make lab` on this checkout (best a
fresh clone with the shipped models and data/ filled). Not a test (it needs a browser, and
minutes of CPU); what it prints is recorded in the issue's note.

For each notebook named it opens the notebook, runs Run > Run All Cells, waits until the kernel
is idle, and reports the cells with an error, the stderr (pink) boxes, the figures and their
size on screen, and a screenshot under build/lab_check/. Then, in 02, it adds training
parameters (2 ablation epochs, retrain), runs the notebook, checks that the plan line comes before
training starts and that progress shows, and interrupts the kernel. Last it checks that report/ is unchanged (git status).

    pip install playwright        # anywhere; the browser is Debian's: apt-get install chromium
    python scripts/check_lab_in_browser.py [--port 8899] [--notebooks 05_saliency,02_cnn]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "lab_check"
TOKEN = "labcheck"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TRAINING_EDIT = ["ablation_epochs = 2", "retrain = True"]  # retrain: the shipped run is for 58 epochs
PLAN_WORDS = "Kernel > Interrupt"


def start_lab(port: int) -> subprocess.Popen:
    args = f"--no-browser --port {port} --IdentityProvider.token={TOKEN}"
    log = open(OUT / "lab.log", "w")
    lab = subprocess.Popen(["make", "lab", f"LAB_ARGS={args}"], cwd=ROOT, stdout=log,
                           stderr=subprocess.STDOUT)
    for _ in range(300):  # make lab sets up the environment first on a fresh clone
        try:
            urllib.request.urlopen(f"http://localhost:{port}/api/status?token={TOKEN}", timeout=2)
            return lab
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"JupyterLab did not start: see {OUT / 'lab.log'}")


def open_notebook(page, port: int, name: str) -> None:
    # ?reset: a fresh workspace, so the notebooks opened before are not restored beside it
    page.goto(f"http://localhost:{port}/lab/tree/notebooks/{name}.ipynb?reset&token={TOKEN}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
    wait_idle(page, 120)


def kernel_status(page) -> str:
    indicator = page.query_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator")
    return indicator.get_attribute("data-status") if indicator else "unknown"


def wait_idle(page, seconds: float) -> float:
    start = time.time()
    time.sleep(2)
    while time.time() - start < seconds:
        running = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt", has_text="[*]").count()
        if running == 0 and kernel_status(page) == "idle":
            return time.time() - start
        time.sleep(1)
    raise TimeoutError(f"still running after {seconds:.0f} s")


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def outputs_report(page) -> dict:
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    errors = page.locator(f"{panel} [data-mime-type='application/vnd.jupyter.error']")
    stderr = page.locator(f"{panel} [data-mime-type='application/vnd.jupyter.stderr']")
    images = page.locator(f"{panel} .jp-OutputArea-output img")
    sizes = []
    for i in range(images.count()):
        box = images.nth(i).evaluate("e => [e.clientWidth, e.clientHeight, e.naturalWidth]")
        sizes.append(tuple(box))
    return {"errors": [errors.nth(i).inner_text()[:300] for i in range(errors.count())],
            "stderr": [stderr.nth(i).inner_text()[:200] for i in range(stderr.count())],
            "figures": sizes}


def run_all(page, name: str, seconds: float) -> dict:
    menu(page, "Run", "Run All Cells")
    took = wait_idle(page, seconds)
    found = outputs_report(page)
    found["seconds"] = round(took)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
    return found


def check_training_line(page, port: int) -> dict:
    """Adds a training parameter at the end of 02's parameters cell, runs all, and reads what the
    notebook prints before training: the plan line must come within seconds, then interrupts."""
    open_notebook(page, port, "02_cnn")
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").filter(has_text="Parameters (papermill").first
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    for line in TRAINING_EDIT:
        page.keyboard.press("Enter")
        page.keyboard.type(line)
    menu(page, "Run", "Run All Cells")
    start = time.time()
    seen = ""
    while time.time() - start < 300:
        text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output").all_inner_texts()
        seen = "\n".join(text)
        if PLAN_WORDS in seen:
            break
        time.sleep(1)
    line_after = time.time() - start
    time.sleep(20)  # a few training steps, to see the progress within the epoch
    progress = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output").all_inner_texts()
    page.screenshot(path=str(OUT / "02_cnn_training.png"))
    menu(page, "Kernel", "Interrupt Kernel")
    time.sleep(5)
    after = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output").all_inner_texts()
    page.screenshot(path=str(OUT / "02_cnn_interrupted.png"))
    plan_lines = [line for line in seen.splitlines() if PLAN_WORDS in line]
    return {"plan_line": plan_lines[:1], "plan_line_after_s": round(line_after),
            "progress_tail": "\n".join(progress)[-400:], "after_interrupt_tail": "\n".join(after)[-600:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--notebooks", default="05_saliency,explore_predictions,02_cnn")
    parser.add_argument("--seconds", type=float, default=900, help="limit per notebook")
    parser.add_argument("--no-training", action="store_true", help="skip the training check in 02")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    before = subprocess.run(["git", "status", "--porcelain", "report"], cwd=ROOT, capture_output=True, text=True).stdout
    lab = start_lab(args.port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name in args.notebooks.split(","):
                open_notebook(page, args.port, name)
                print(name, run_all(page, name, args.seconds), flush=True)
            if not args.no_training:
                print("02_cnn training edit", check_training_line(page, args.port), flush=True)
            browser.close()
    finally:
        lab.terminate()
        subprocess.run(["pkill", "-f", "--", f"--port {args.port}"], check=False)
    after = subprocess.run(["git", "status", "--porcelain", "report", "notebooks", "models"], cwd=ROOT,
                           capture_output=True, text=True).stdout
    print("git status of report/, notebooks/, models/ before:", before or "clean", "after:", after or "clean")


if __name__ == "__main__":
    sys.exit(main())
