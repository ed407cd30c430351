# wgf — two commands do all the set-up on a fresh machine: `make figures` and `make test`.
CARGO ?= cargo
WGF := target/release/wgf
JOBS ?=

.PHONY: all build figures run test lint bench clean

all: figures

build:
	$(CARGO) build --release --locked

# Build, bring every stage up to date (cached stages are not recomputed), draw every figure.
figures: build
	$(WGF) run $(if $(JOBS),--jobs $(JOBS))
	$(WGF) figures

run: build
	$(WGF) run $(if $(JOBS),--jobs $(JOBS))

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Formatting, lints and the whole test suite.
test: lint
	$(CARGO) test --locked --all-targets
	$(CARGO) test --locked --doc

bench: build
	$(CARGO) bench --locked

clean:
	rm -rf results figures/*.png figures/*.svg figures/.wgf-figures.json
