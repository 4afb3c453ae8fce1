# DDPM from scratch. Every target builds the virtualenv it needs (.venv) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# nbgrader calls its own `alembic` command: the venv's tools come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv lab test release grade autograde clean

help:
	@echo "make lab                     open the course in JupyterLab"
	@echo "make test                    run every test (builds .venv if missing)"
	@echo "make release                 regenerate notebooks/ and reference code from solutions/"
	@echo "make grade NB=path.ipynb     autograde one notebook, hidden tests included"
	@echo "make autograde               grade submitted/<student>/<lesson>/: grades.csv, feedback/"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $@

venv: $(STAMP)

# Containers often run as root, which Jupyter refuses without --allow-root.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)

test: $(STAMP)
	$(PY) -m pytest

release: $(STAMP)
	$(PY) -m ddpm_course.instructor.release

grade: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make grade NB=path/to/lesson.ipynb"; exit 2; }
	$(PY) -m ddpm_course.instructor.grade "$(NB)"

autograde: $(STAMP)
	$(PY) -m ddpm_course.instructor.grade --all

clean:
	rm -rf autograded feedback gradebook.db grades.csv .pytest_cache
