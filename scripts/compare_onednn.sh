#!/usr/bin/env bash
# The same report on any CPU: build the full report with TensorFlow's oneDNN off
# (TF_ENABLE_ONEDNN_OPTS=0 stands in for another CPU's summation order), then with it on (the
# default: that build is the one left in report/), and compare what a reader sees:
#   - the PDF's text, title page aside (pdftotext), line by line;
#   - report/results.json, number by number (exact, then to 4 significant digits);
#   - `make predict` on the course test file under both settings against report/submission.csv.
# Trains nothing when the shipped runs match (it refuses to start otherwise). About two report
# builds of time.
#
#   scripts/compare_onednn.sh [DATA_DIR]      (default: data)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${1:-data}"
OUT=build/onednn
PY=.venv/bin/python
mkdir -p "$OUT"

if $PY -m helpers.pipeline.plan --profile full --data-dir "$DATA_DIR" | grep -qE "^ +[a-z0-9_]+ +(trains |resumes |shipped run for other)"; then
  echo "error: the full profile would train; this comparison is for the shipped runs" >&2
  exit 1
fi

test_file=$(ls "$DATA_DIR"/test.csv* 2>/dev/null | head -1 || true)
for setting in off on; do
  if [ "$setting" = off ]; then export TF_ENABLE_ONEDNN_OPTS=0; else unset TF_ENABLE_ONEDNN_OPTS; fi
  echo "==> oneDNN $setting: make report"
  make report DATA_DIR="$DATA_DIR" > "$OUT/report_$setting.log" 2>&1
  rm -rf "$OUT/$setting" && cp -a report "$OUT/$setting"
  pdftotext -layout "$OUT/$setting/report.pdf" "$OUT/$setting/report.txt"
  if [ -n "$test_file" ]; then
    echo "==> oneDNN $setting: make predict on $test_file"
    make predict INPUT="$test_file" OUTPUT="$OUT/predict_$setting.csv" > "$OUT/predict_$setting.log" 2>&1
  fi
done

$PY - "$OUT" "$test_file" <<'EOF'
import csv
import difflib
import json
import math
import sys
from pathlib import Path

out, test_file = Path(sys.argv[1]), sys.argv[2]


def pages(path):
    return path.read_text().split("\f")[1:]  # the title page (date, machine) aside


off, on = pages(out / "off" / "report.txt"), pages(out / "on" / "report.txt")
changed = [line for line in difflib.unified_diff("\n".join(off).splitlines(), "\n".join(on).splitlines(),
                                                 "oneDNN off", "oneDNN on", n=0, lineterm="")
           if line[:1] in "+-" and not line.startswith(("+++", "---"))]
print(f"PDF text (pages 2-{len(on) + 1}): {len(changed) // 2 if changed else 0} changed lines")
for line in changed[:40]:
    print("   ", line)


def numbers(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numbers(item, f"{path}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, float(value)


a = dict(numbers(json.loads((out / "off" / "results.json").read_text())))
b = dict(numbers(json.loads((out / "on" / "results.json").read_text())))
common = sorted(set(a) & set(b))
exact = [k for k in common if a[k] != b[k]]
rounded = [k for k in exact if not math.isclose(float(f"{a[k]:.4g}"), float(f"{b[k]:.4g}"))]
print(f"results.json: {len(common)} numbers, {len(exact)} differ at all, {len(rounded)} at 4 significant digits")
for k in rounded[:20]:
    print(f"    {k}: {a[k]!r} (off) vs {b[k]!r} (on)")

if test_file:
    def labels(path):
        with open(path, newline="") as f:
            return {row["id"]: row["label"] for row in csv.DictReader(f)}
    shipped = labels(out / "on" / "submission.csv")
    for setting in ("off", "on"):
        predicted = labels(out / f"predict_{setting}.csv")
        differ = sum(predicted.get(i) != e for i, e in shipped.items())
        print(f"make predict (oneDNN {setting}) vs report/submission.csv: {differ} of {len(shipped)} labels differ")
EOF
