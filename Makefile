# CHIMERA Console. `make run` starts the console; `make test` runs every test.
# Both install what is missing first (system libraries for Qt, .venv/, the project).
.PHONY: run test lint fmt bench bootstrap-run bootstrap-test serve screenshots bundle

VENV := .venv/bin
export QT_QPA_PLATFORM ?= offscreen

bootstrap-run:
	@scripts/bootstrap.sh run
bootstrap-test:
	@scripts/bootstrap.sh test

run: bootstrap-run
	env -u QT_QPA_PLATFORM $(VENV)/chimera-console

serve: bootstrap-test
	$(VENV)/chimera serve

# The engine's tests run in a process where importing Qt fails (tests/headless.py
# blocks it); the GUI and integration tests run offscreen.
test: bootstrap-test
	$(VENV)/python tests/headless.py -q chimera_engine tests
	$(VENV)/python -m pytest -q tests/app tests/*/gui tests/integration

lint: bootstrap-test
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy
	$(VENV)/lint-imports
	$(VENV)/python scripts/import_cycles.py

fmt:
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

bench: bootstrap-test
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(VENV)/python $$script || exit 1; done

screenshots: bootstrap-test
	$(VENV)/python scripts/screenshots.py
	$(VENV)/python scripts/screenshots_themes.py
	$(VENV)/python scripts/screenshots_attempts.py

# The desktop bundle (PyInstaller one-dir, dist/chimera-console/), then its self-test.
# A separate target: it takes a minute or two and is not part of `make test`.
bundle: bootstrap-test
	$(VENV)/pip install -q -e '.[bundle]'
	packaging/build.sh
