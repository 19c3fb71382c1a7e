# FER2013 report. `make help` lists the targets.
PROFILE  ?= full
DATA_DIR ?= data
RETRAIN  ?= 0
PYTHON   ?= python3

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages nbconvert's PDF export and the architecture diagrams need.
SYSTEM_PACKAGES := pandoc texlive-xetex texlive-fonts-recommended texlive-plain-generic lmodern graphviz poppler-utils
SYSTEM_COMMANDS := pandoc xelatex dot pdftotext

.DEFAULT_GOAL := help
.PHONY: help env system-deps report plan train ship pdf test lab strip check-data predict clean

help: ## Show this list of targets
	@echo "Usage: make TARGET [PROFILE=full|smoke] [DATA_DIR=data] [RETRAIN=1]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

env: $(STAMP) system-deps ## Create the Python environment (.venv) and install system packages if missing

system-deps: ## Install pandoc, XeLaTeX, graphviz, poppler (Debian/Ubuntu) when missing
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "Missing:$$missing -> installing $(SYSTEM_PACKAGES)"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	else echo "error: need root to install$$missing; ask an admin for: apt-get install $(SYSTEM_PACKAGES)" >&2; exit 1; fi; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null

report: env ## Run all notebooks and build the PDF (report/report.pdf for PROFILE=full)
	$(PY) -m helpers.pipeline --profile $(PROFILE) --data-dir "$(DATA_DIR)" $(if $(filter 1,$(RETRAIN)),--retrain)

plan: env ## Print the training plan of PROFILE: runs reused, resumed or trained, with a time estimate
	$(PY) -m helpers.pipeline.plan --profile $(PROFILE) --data-dir $(DATA_DIR)

train: env ## Train PROFILE's runs (RUNS="cnn hist_eq ..." or all; RETRAIN=1 from scratch) without the report; resumable
	$(PY) -m helpers.pipeline.plan --profile $(PROFILE) --data-dir $(DATA_DIR) $(if $(filter 1,$(RETRAIN)),--retrain) --train $(RUNS)

ship: env ## Prepare PROFILE's finished runs for git: float16 weights, models/manifest.json
	$(PY) -m helpers.pipeline.ship --profile $(PROFILE)

pdf: env ## Rebuild only the PDF from the last executed notebooks of PROFILE
	$(PY) -m helpers.pipeline --profile $(PROFILE) --data-dir "$(DATA_DIR)" --pdf-only

test: env ## Run the test suite (unit tests, notebook checks, a smoke run of the whole pipeline)
	$(PY) -m pytest

lab: env ## Open JupyterLab at the project folder, notebooks/ first (LAB_ARGS="--no-browser --port 8888" on a remote machine)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

strip: $(STAMP) ## Remove the outputs and execution counts of the notebooks you ran and saved (make test requires it)
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

check-data: env ## Validate DATA_DIR and print a summary of the data
	$(PY) -m helpers.data $(DATA_DIR)

predict: $(STAMP) ## Predict faces: INPUT=photo.jpg|folder|test.csv [OUTPUT=predictions.csv] [MODEL=cnn|ensemble|RUN]
	@test -n "$(INPUT)" || { echo "error: give INPUT=photo.jpg, a folder of images or a test file (make predict INPUT=data/test.csv)" >&2; exit 2; }
	$(PY) -m helpers.predict "$(INPUT)" $(if $(OUTPUT),--output "$(OUTPUT)") $(if $(MODEL),--model "$(MODEL)") $(if $(EXPLAIN),--explain "$(EXPLAIN)")

clean: ## Remove build/ (executed notebooks, smoke runs, data cache); keeps models/ and report/
	rm -rf build
