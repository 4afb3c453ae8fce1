# DDPM from scratch. Every target builds the virtualenv it needs (.venv) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# nbgrader's formgrader (in `make lab`) runs the `alembic` command of its environment: the venv's
# tools come first on PATH. The course's own tooling asks alembic in-process (nbgrader_api.alembic_head).
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: expected-grids help venv lab test test-fast lint release grade autograde pytest-grade progress collect student-bundle student-package \
	gradescope github-classroom bench-grading bench clean

help:
	@echo "make lab                     open the course in JupyterLab"
	@echo "make test                    lint, then run every test (builds .venv if missing)"
	@echo "make test-fast               lint, then every test but the slow nbgrader round trips"
	@echo "make lint                    ruff, as configured in pyproject.toml"
	@echo "make release                 regenerate notebooks/ and reference code from solutions/"
	@echo "make grade NB=path.ipynb     autograde one notebook, hidden tests included"
	@echo "make autograde               grade submitted/<student>/<lesson>/: grades.csv, feedback/, reports/"
	@echo "    [JOBS=n] [LESSON=name] [TIMEOUT=s] [MEMORY_MB=n]   workers, one lesson, limits per cell/kernel"
	@echo "make pytest-grade NB=path.ipynb [ARGS=...]   the same grading as pytest: a test per graded cell"
	@echo "                             (ARGS go to pytest, e.g. ARGS=--junitxml=grades.xml)"
	@echo "make progress [NB=path.ipynb]   students: every exercise of notebooks/, passed or not (visible checks)"
	@echo "make collect LESSON=name     LMS download in downloaded/<lesson>/archive/ -> submitted/"
	@echo "make student-bundle [LESSON=name]   dist/ddpm-course-<lesson>.zip: what students need, no answers"
	@echo "make student-package [LESSON=name]  dist/ddpm_course-<version>+<lesson>-py3-none-any.whl: the bundle's"
	@echo "                             package as a wheel, for a graded class's Colab cell ([tool.ddpm-course])"
	@echo "make gradescope LESSON=name  dist/gradescope-<lesson>.zip: a Gradescope autograder"
	@echo "make github-classroom LESSON=name [GRADER_REPO=owner/name]   dist/github-classroom-<lesson>/:"
	@echo "                             a GitHub Classroom template, and its private grader (-grader/)"
	@echo "make bench-grading [N=8]      notebooks graded per minute with 1 and all cores"
	@echo "make bench [ARGS=--quick]    lesson 4 training/sampling throughput here, and every check's runtime"
	@echo "DDPM_COURSE_SPRITE=png make expected-grids   maintainers: lesson 4's expected sample grids in assets/"

# nbgrader's Assignment List and Course List need an exchange this course does not use: in JupyterLab
# they only say "Error fetching courses!" and log an ExchangeError every 30 s. They are switched off in
# this venv; Create Assignment, Validate and the Formgrader stay for instructors.
NBGRADER_EXCHANGE_SERVER := nbgrader.server_extensions.assignment_list nbgrader.server_extensions.course_list
NBGRADER_EXCHANGE_LAB := @jupyter/nbgrader:assignment-list @jupyter/nbgrader:course-list

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "$(VENV) has $$($(PY) -V)," \
		"the course needs 3.11+ (nbgrader 0.9.6, matplotlib 3.11): rm -rf $(VENV), then make PYTHON=python3.11 ..."; \
		exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	$(BIN)/jupyter server extension disable --sys-prefix $(NBGRADER_EXCHANGE_SERVER) >/dev/null 2>&1
	$(BIN)/jupyter labextension disable --level=sys_prefix $(NBGRADER_EXCHANGE_LAB) >/dev/null 2>&1
	touch $@

venv: $(STAMP)

# Containers often run as root, which Jupyter refuses without --allow-root.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(STAMP)
	$(BIN)/ruff check .

# A worker per core (pytest-xdist), each given whole test modules: see tests/conftest.py.
PARALLEL := -n auto

test: lint
	$(PY) -m pytest $(PARALLEL)

test-fast: lint
	$(PY) -m pytest $(PARALLEL) -m "not slow"

release: $(STAMP)
	$(PY) -m ddpm_course.instructor.authoring.release

# Limits on the graded (untrusted) code: see nbgrader_config.py and README, "Security".
LIMITS = $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(MEMORY_MB),--memory-mb $(MEMORY_MB))

grade: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make grade NB=path/to/lesson.ipynb"; exit 2; }
	$(PY) -m ddpm_course.instructor.grading.grade "$(NB)" $(LIMITS)

autograde: $(STAMP)
	$(PY) -m ddpm_course.instructor.grading.grade --all $(if $(JOBS),--jobs $(JOBS)) $(if $(LESSON),--lesson $(LESSON)) $(LIMITS)

# One test per graded cell, graded by the same code as `make grade` (README, "Grading platforms").
pytest-grade: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make pytest-grade NB=path/to/lesson.ipynb [ARGS=...]"; exit 2; }
	$(PY) -m pytest -p ddpm_course.pytest_grading -p no:cacheprovider \
		$(if $(TIMEOUT),--cell-timeout $(TIMEOUT)) $(if $(MEMORY_MB),--memory-mb $(MEMORY_MB)) $(NB) $(ARGS)

progress: $(STAMP)
	$(PY) -m ddpm_course.progress $(NB)

collect: $(STAMP)
	@test -n "$(LESSON)" || { echo "usage: make collect LESSON=<lesson>"; exit 2; }
	$(PY) -m ddpm_course.instructor.grading.collect "$(LESSON)"

student-bundle: $(STAMP)
	$(PY) -m ddpm_course.instructor.platforms.student_bundle $(if $(LESSON),--lesson $(LESSON))

student-package: $(STAMP)
	$(PY) -m ddpm_course.instructor.platforms.student_package $(if $(LESSON),--lesson $(LESSON))

gradescope: $(STAMP)
	@test -n "$(LESSON)" || { echo "usage: make gradescope LESSON=<lesson>"; exit 2; }
	$(PY) -m ddpm_course.instructor.platforms.gradescope build --lesson "$(LESSON)"

github-classroom: $(STAMP)
	@test -n "$(LESSON)" || { echo "usage: make github-classroom LESSON=<lesson> [GRADER_REPO=owner/name]"; exit 2; }
	$(PY) -m ddpm_course.instructor.platforms.classroom --lesson "$(LESSON)" $(if $(GRADER_REPO),--grader-repo $(GRADER_REPO))

bench-grading: $(STAMP)
	$(PY) -m ddpm_course.instructor.qa.bench_grading -n $(or $(N),8) $(if $(LESSON),--lesson $(LESSON))

# Maintainers: lesson 4's expected sample grids in assets/, from the CPU and quick modes trained on a sprite
# sheet of real images (DDPM_COURSE_SPRITE=<png>; about 25 minutes on a 2-core CPU). Not part of `make test`.
expected-grids: $(STAMP)
	@test -n "$(DDPM_COURSE_SPRITE)" || { echo "usage: DDPM_COURSE_SPRITE=<sprite.png> make expected-grids"; exit 2; }
	$(PY) -m ddpm_course.instructor.authoring.expected_grids $(ARGS)

# Not part of `make test`: on a GPU it takes a few minutes (torch.compile included).
bench: $(STAMP)
	$(PY) -m ddpm_course.instructor.qa.bench $(ARGS)

clean:
	rm -rf autograded feedback reports gradebook.db grades.csv dist .pytest_cache
