#!/usr/bin/env bash
# Train on a lent GPU machine with KERAS_BACKEND=jax for at most SECONDS, then put each run
# (finished, or its newest checkpoint) under $OUT as RUN.tar.gz:
#   bash scripts/gpu_train.sh SECONDS plan PROFILE RUN...   runs of a profile (helpers.pipeline.plan --train)
#   bash scripts/gpu_train.sh SECONDS budget ENTRY...       entries of scripts/benchmark_budget.py
#
# Here first:   python scripts/gpu_bundle.py pack-data        (writes .gpu/train.npz.xz)
#               the keras, namex and optree wheels in .whl/ (the machine has JAX, not Keras)
# There:        the command above, in the repository root (carry .gpu and .whl)
# Here after:   python scripts/gpu_bundle.py unpack-runs FOLDER_OF_THE_FILES [MODELS_DIR]
set -uo pipefail
seconds=$1 mode=$2
shift 2
py=${PYTHON:-python3}
out=${OUT:?OUT must name the folder whose files come back}
if ! "$py" -c "import keras" 2>/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$py" scripts/gpu_bundle.py unpack-data .gpu/train.npz.xz build/gpu-data || exit 1
case $mode in
    plan)
        profile=$1
        shift
        models=$("$py" -c "from helpers.core.config import load_profile; print(load_profile('$profile')['models_dir'])")
        command=("$py" -m helpers.pipeline.plan --profile "$profile" --data-dir build/gpu-data --train "$@") ;;
    budget)
        models=build/budget/models
        command=("$py" scripts/benchmark_budget.py --data-dir build/gpu-data
                 --seconds "$((seconds - 30))" --only "$(IFS=,; echo "$*")") ;;
    *) echo "mode must be plan or budget, not $mode" >&2; exit 2 ;;
esac
# SIGINT stops training as Ctrl-C would: the epochs finished so far are kept.
timeout --signal=INT --kill-after=30 "$seconds" "${command[@]}" 2>&1 | tee "$out/$mode.log"
"$py" scripts/gpu_bundle.py pack-runs "$models" "$out" "$@"
