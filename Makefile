# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint wheel-check screenshots bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) main.py

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

# Build the wheel, install it (without the editable checkout) into a scratch venv that borrows
# the dependencies already in $(VENV), and run the `convscope` command from another folder.
WHEEL_VENV ?= /tmp/convscope-wheel-check
wheel-check: $(STAMP)
	rm -rf dist $(WHEEL_VENV)
	$(PY) -m pip wheel --quiet --no-deps -w dist .
	$(PYTHON) -m venv --without-pip $(WHEEL_VENV)
	$(PY) -c "import site; print(site.getsitepackages()[0])" > "$$($(WHEEL_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/deps.pth"
	$(PY) -m pip --python $(WHEEL_VENV)/bin/python install --quiet --no-deps dist/convscope-*.whl
	cd /tmp && QT_QPA_PLATFORM=offscreen $(CURDIR)/.ci/wheel_smoke $(WHEEL_VENV)/bin

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) main.py screenshots --out shots

bench: $(STAMP)
	$(PY) main.py bench

clean:
	rm -rf $(VENV) shots dist build
