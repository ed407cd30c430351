# wgf — two commands do all the set-up on a fresh machine: `make figures` and `make test`.
CARGO ?= cargo
WGF := target/release/wgf
JOBS ?=
# `make figures EXECUTOR=slurm` computes the points as Slurm job arrays; figures are always drawn here.
EXECUTOR ?=
RUN_FLAGS = $(if $(JOBS),--jobs $(JOBS)) $(if $(EXECUTOR),--executor $(EXECUTOR))

.PHONY: all build figures run test test-slurm lint bench clean notebooks notebook-tools schema-check

all: figures

build:
	$(CARGO) build --release --locked

# Build, bring every stage up to date (cached stages are not recomputed), draw every figure.
figures: build
	$(WGF) run $(RUN_FLAGS)
	$(WGF) figures

run: build
	$(WGF) run $(RUN_FLAGS)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Formatting, lints and the whole test suite, the Slurm executor's checks included.
test: lint
	$(CARGO) test --locked --all-targets
	$(CARGO) test --locked --doc
	$(MAKE) test-slurm

# The Slurm executor against a real single-node Slurm (installed from Debian's packages if missing, needs root).
test-slurm:
	bash tests/slurm/run.sh

PEER_VENV := benches/peers/.venv

# The numpy + scipy peer of the reference benchmark, in a venv of its own (pinned versions).
$(PEER_VENV)/bin/python:
	python3 -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet numpy==2.2.6 scipy==1.15.3

# Benchmarks (medians and ratios printed as tables): Dykstra iteration, reference prox run vs its numpy peer.
# WGF_BENCH_SWEEP=1 also times the whole E4 sweep.
bench: $(PEER_VENV)/bin/python
	$(CARGO) bench --locked

# --- Notebooks (notebooks/README.md): Rust Jupyter notebooks over the cached tables, executed headless. ----------
# Everything is installed inside the project: evcxr_jupyter under .tools/, Jupyter's runner and pyarrow in .venv/
# (pinned), the Rust kernel registered in .venv/share/jupyter, evcxr's compilation cache under .tools/cache.
EVCXR_VERSION := 0.22.0
NB_TOOLS := .tools
NB_VENV := .venv
EVCXR := $(NB_TOOLS)/bin/evcxr_jupyter
NB_PY_PINS := jupyter_client==8.10.0 nbclient==0.11.0 nbformat==5.11.1 nbconvert==7.17.2 jupyter_core==5.9.1 \
	pyarrow==26.0.1
NB_ENV := JUPYTER_PATH=$(CURDIR)/$(NB_VENV)/share/jupyter EVCXR_CONFIG_DIR=$(CURDIR)/notebooks/evcxr \
	XDG_CACHE_HOME=$(CURDIR)/$(NB_TOOLS)/cache EVCXR_TMPDIR=$(CURDIR)/$(NB_TOOLS)/evcxr-build

$(EVCXR):
	$(CARGO) install evcxr_jupyter --locked --version $(EVCXR_VERSION) --root $(NB_TOOLS)

$(NB_VENV)/.notebooks-installed:
	python3 -m venv $(NB_VENV)
	$(NB_VENV)/bin/pip install --quiet $(NB_PY_PINS)
	touch $@

$(NB_VENV)/share/jupyter/kernels/rust/kernel.json: $(EVCXR) $(NB_VENV)/.notebooks-installed
	JUPYTER_PATH=$(CURDIR)/$(NB_VENV)/share/jupyter $(EVCXR) --install

notebook-tools: $(NB_VENV)/share/jupyter/kernels/rust/kernel.json

# Bring the tables up to date (a no-op when cached), then execute every notebook into notebooks/executed/.
# Fails naming the notebook, cell and error. CI passes WGF=target/debug/wgf (built by `make test`).
notebooks: notebook-tools $(if $(filter target/release/wgf,$(WGF)),build)
	$(WGF) run $(RUN_FLAGS)
	mkdir -p $(NB_TOOLS)/cache $(NB_TOOLS)/evcxr-build
	$(NB_ENV) $(NB_VENV)/bin/python notebooks/run.py $(NOTEBOOKS)

# Every cached Parquet table read with pyarrow against `$(WGF) schema --json` (needs the tables and the binary;
# CI passes WGF=target/debug/wgf).
schema-check: $(NB_VENV)/.notebooks-installed
	WGF=$(WGF) $(NB_VENV)/bin/python tests/parquet_schema.py

clean:
	rm -rf results figures/*.png figures/*.svg figures/.wgf-figures.json
