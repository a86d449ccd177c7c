# Two commands: `make figures` (run every notebook, standard profile) and `make test`.
# Both create the virtual environment (.venv, pinned by requirements.txt) and seed the data first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= standard
NB ?=
export XAIKIT_DATA ?= $(CURDIR)/data

.PHONY: figures test data env paper clean-venv

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

env: $(VENV)/.installed

data: env
	$(PY) -c "from xaikit.data import seed_offline_copies; [print(l) for l in seed_offline_copies()]"

figures: data
	$(PY) -m xaikit.run --profile $(PROFILE) $(NB)

paper: data
	$(PY) -m xaikit.run --profile paper $(NB)

test: data
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
