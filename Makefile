# wgf — two commands do all the set-up on a fresh machine: `make figures` and `make test`.
CARGO ?= cargo
WGF := target/release/wgf
JOBS ?=
# `make figures EXECUTOR=slurm` computes the points as Slurm job arrays; figures are always drawn here.
EXECUTOR ?=
RUN_FLAGS = $(if $(JOBS),--jobs $(JOBS)) $(if $(EXECUTOR),--executor $(EXECUTOR))

.PHONY: all build figures run test test-slurm lint bench clean

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

clean:
	rm -rf results figures/*.png figures/*.svg figures/.wgf-figures.json
