# stdiobridge: every target installs what it needs, idempotently, on a fresh machine.
#   make test      lint, type-check, build the reference children, run the whole suite
#   make demo      the origin scenario: a Racket program behind a Lambda handler
#   make bench     side-by-side benchmarks (ratios, medians; pinned and unpinned); BENCH=SECTION for one
#   make children  the Go, Racket and Rust reference children in build/children/
#   make dev       only the development environment: .venv with the package (editable) and its dev extras
#                  (`make venv` is the same); nothing is built or tested

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHILDREN_DIR := build/children
CODECS := lines jsonl lenprefix msgpack
GO_CHILDREN := $(CODECS:%=$(CHILDREN_DIR)/go-%) $(CHILDREN_DIR)/go-concurrent $(CHILDREN_DIR)/go-typed
RACKET_CHILDREN := $(CODECS:%=$(CHILDREN_DIR)/racket-%) $(CHILDREN_DIR)/racket-typed
RUST_CHILDREN := $(CHILDREN_DIR)/rust-jsonl $(CHILDREN_DIR)/rust-msgpack
GO_SOURCES := $(shell find protocols/go -name '*.go' -not -name '*_test.go' -o -name 'go.mod' -o -name 'go.sum' 2>/dev/null)
RACKET_SOURCES := $(filter-out protocols/racket/test-%,$(wildcard protocols/racket/*.rkt))
RUST_SOURCES := $(wildcard protocols/rust/src/bin/*.rs) protocols/rust/Cargo.toml protocols/rust/Cargo.lock
# A fully static Rust build (the musl target) when that target is installed, else the host's.
RUST_MUSL := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: \(.*\)-gnu$$/\1-musl/p')
RUST_TARGET := $(if $(filter $(RUST_MUSL),$(shell rustup target list --installed 2>/dev/null)),$(RUST_MUSL))
RUST_OUT := protocols/rust/target/$(if $(RUST_TARGET),$(RUST_TARGET)/)release
VECTORS := $(wildcard protocols/vectors/*.json)

.PHONY: all dev venv test lint typecheck pytest children go-test racket-test bench demo bundle racket clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

dev venv: $(STAMP)
	@echo "development environment ready: $(VENV) (e.g. $(BIN)/pytest tests/test_cli.py, $(BIN)/stdiobridge codecs)"

# The package with its dev extras, plus two real plugins: the test plugin and the LSP example.
$(STAMP): pyproject.toml tests/sample_plugin/pyproject.toml examples/custom-codec/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e tests/sample_plugin -e examples/custom-codec
	touch $@

# Racket comes from the system packages (Debian: racket 8.7); installed when we are root.
racket:
	@command -v raco >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing racket from the system packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq racket >/dev/null; \
	  else \
	    echo "Racket is missing: install it with 'sudo apt-get install racket' (or from racket-lang.org), then re-run make." >&2; \
	    exit 1; \
	  fi; }

# Static Go binaries (CGO_ENABLED=0), as a child author ships them.
$(CHILDREN_DIR)/go-typed: $(GO_SOURCES)
	@mkdir -p $(CHILDREN_DIR)
	cd protocols/go && CGO_ENABLED=0 go build -o ../../$@ ./cmd/typed-jsonl

$(CHILDREN_DIR)/go-%: $(GO_SOURCES)
	@mkdir -p $(CHILDREN_DIR)
	cd protocols/go && CGO_ENABLED=0 go build -o ../../$@ ./cmd/echo-$*

$(CHILDREN_DIR)/racket-typed: $(RACKET_SOURCES) | racket
	@mkdir -p $(CHILDREN_DIR)
	raco make -v protocols/racket/typed-jsonl.rkt
	raco exe -o $@ protocols/racket/typed-jsonl.rkt

$(CHILDREN_DIR)/racket-%: $(RACKET_SOURCES) | racket
	@mkdir -p $(CHILDREN_DIR)
	raco make -v protocols/racket/echo-$*.rkt
	raco exe -o $@ protocols/racket/echo-$*.rkt

# cargo fetches the locked crates from crates.io on the first build.
$(CHILDREN_DIR)/rust-%: $(RUST_SOURCES)
	@command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust (https://rustup.rs), then re-run make." >&2; exit 1; }
	@mkdir -p $(CHILDREN_DIR)
	cd protocols/rust && cargo build --release --locked --bin echo-$* $(if $(RUST_TARGET),--target $(RUST_TARGET))
	cp $(RUST_OUT)/echo-$* $@

children: racket $(GO_CHILDREN) $(RACKET_CHILDREN) $(RUST_CHILDREN)

go-test: $(GO_SOURCES) $(VECTORS)
	cd protocols/go && go vet ./... && go test ./...

# The Racket tests run the echo modules and the built executables.
racket-test: racket $(RACKET_CHILDREN)
	raco make protocols/racket/*.rkt
	STDIOBRIDGE_CHILDREN_DIR=$(CURDIR)/$(CHILDREN_DIR) raco test protocols/racket

lint: $(STAMP)
	$(BIN)/ruff check stdiobridge tests benchmarks examples tools
	$(BIN)/ruff format --check stdiobridge tests benchmarks examples tools

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict examples/custom-codec

pytest: $(STAMP) children
	$(BIN)/pytest
	$(BIN)/pytest -q examples/custom-codec/tests

test: lint typecheck go-test racket-test pytest

# A benchmark reports, it never fails the build: a child that cannot be built is reported (one line) by the
# section that needs it. The benchmarks use only Go children (go-concurrent: cmd/echo-concurrent, via go-%).
# One section: make bench BENCH=bridge; BENCH="--quick bridge" only checks the code runs.
bench: $(STAMP)
	-$(MAKE) --no-print-directory -k $(GO_CHILDREN) $(CHILDREN_DIR)/go-concurrent
	$(BIN)/python -m benchmarks $(BENCH)

# The origin scenario: a Racket program behind the Lambda handler, under AWS's emulator.
demo: $(STAMP) children
	$(BIN)/python examples/lambda-racket/demo.py

# A deployable Lambda bundle of the Racket example (examples/lambda-racket/bundle.zip).
bundle: $(STAMP) children
	$(MAKE) -C examples/lambda-racket bundle

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
