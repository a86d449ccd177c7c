# Two commands: `make figures` (run every notebook, standard profile) and `make test`.
# Both create the virtual environment (.venv, pinned by requirements.txt) and lay out the data first.
#   make figures NB=01                    one notebook          make figures PROFILE=smoke   another size
#   make paper PARAMS="-p imagenet_val /path/to/ILSVRC2012"     notebook parameters (repeatable -p name value)
#   make lab                              JupyterLab on notebooks/ with the kit's kernel, "xaikit (.venv)"
#                                         (LAB_ARGS="--no-browser --port 8890" passes options to jupyter lab)
#   make env TORCH=cuda                   CUDA torch (the default only where nvidia-smi finds a GPU; else CPU torch,
#                                         about 1 GB instead of 6 GB). The flavour is part of the venv's stamp.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= standard
NB ?=
PARAMS ?=
# CPU torch unless an NVIDIA GPU is there; `make env TORCH=cuda` (or cpu) to choose.
TORCH ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo cuda || echo cpu)
STAMP := $(VENV)/.installed-$(TORCH)
LAB_ARGS ?=
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
export XAIKIT_DATA ?= $(CURDIR)/data

.PHONY: figures test data env paper lab python-version clean-venv

python-version:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "xaikit needs Python 3.11 or newer, but '$(PYTHON)' is: $$($(PYTHON) --version 2>/dev/null || echo 'not found')."; \
	  echo "Install Python 3.11+ and point make at it, e.g.  make test PYTHON=python3.11"; exit 1; }

$(STAMP): requirements.txt pyproject.toml
	@$(MAKE) --no-print-directory python-version PYTHON=$(PYTHON)
	@$(PYTHON) -m venv $(VENV) || { echo "'$(PYTHON) -m venv' failed: on Debian/Ubuntu install the venv module" \
	  "(apt install python3-venv, or python3.11-venv), then run make again."; exit 1; }
	rm -f $(VENV)/.installed $(VENV)/.installed-*
	$(PY) -m pip install --quiet --upgrade pip
ifeq ($(TORCH),cpu)
	$(PY) -m pip uninstall --quiet -y torch torchvision 2>/dev/null || true
	$(PY) -m pip install --quiet --retries 1 --timeout 15 $(TORCH_PINS) --index-url $(TORCH_CPU_INDEX) \
	  || $(PY) -m pip install --quiet $(TORCH_PINS)
	grep -vE '^(nvidia-|cuda-|triton==|torch==|torchvision==)' requirements.txt > $(VENV)/requirements-cpu.txt
	$(PY) -m pip install --quiet -r $(VENV)/requirements-cpu.txt
else ifeq ($(TORCH),cuda)
	$(PY) -m pip uninstall --quiet -y torch torchvision 2>/dev/null || true
	$(PY) -m pip install --quiet -r requirements.txt
else
	@echo "TORCH must be cpu or cuda, got '$(TORCH)'"; exit 1
endif
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name xaikit --display-name "xaikit (.venv)" >/dev/null
	touch $@

env: $(STAMP)

data: env
	$(PY) -c "from xaikit.data import seed_offline_copies; [print(l) for l in seed_offline_copies()]"

figures: data
	$(PY) -m xaikit.run --profile $(PROFILE) $(PARAMS) $(NB)

paper: data
	$(PY) -m xaikit.run --profile paper $(PARAMS) $(NB)

test: data
	$(PY) -m pytest -q --durations=15 tests

# The venv's own Jupyter, its environment's kernels first, the kit's kernel by default.
# As root (a container, Colab) Jupyter refuses to start without --allow-root.
lab: data
	JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter lab --notebook-dir=notebooks \
	  --MappingKernelManager.default_kernel_name=xaikit $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

clean-venv:
	rm -rf $(VENV)
