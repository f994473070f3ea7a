# stdiobridge: every target installs what it needs, idempotently, on a fresh machine.
#   make test      lint, type-check, build the reference children, run the whole suite
#   make demo      the origin scenario: a Racket program behind a Lambda handler
#   make bench     side-by-side benchmarks (ratios, medians; pinned and unpinned); BENCH=SECTION for one
#   make children  the Go and Racket reference children in build/children/

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHILDREN_DIR := build/children
CODECS := lines jsonl lenprefix msgpack
GO_CHILDREN := $(CODECS:%=$(CHILDREN_DIR)/go-%)
RACKET_CHILDREN := $(CODECS:%=$(CHILDREN_DIR)/racket-%)
GO_SOURCES := $(shell find protocols/go -name '*.go' -o -name 'go.mod' -o -name 'go.sum' 2>/dev/null)
RACKET_SOURCES := $(wildcard protocols/racket/*.rkt)
VECTORS := $(wildcard protocols/vectors/*.json)

.PHONY: all test lint typecheck pytest children go-test racket-test bench demo bundle racket clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

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

$(CHILDREN_DIR)/go-%: $(GO_SOURCES)
	@mkdir -p $(CHILDREN_DIR)
	cd protocols/go && go build -o ../../$@ ./cmd/echo-$*

$(CHILDREN_DIR)/racket-%: $(RACKET_SOURCES) | racket
	@mkdir -p $(CHILDREN_DIR)
	raco make protocols/racket/*.rkt
	raco exe -o $@ protocols/racket/echo-$*.rkt

children: racket $(GO_CHILDREN) $(RACKET_CHILDREN)

go-test: $(GO_SOURCES) $(VECTORS)
	cd protocols/go && go vet ./... && go test ./...

racket-test: racket
	raco make protocols/racket/*.rkt
	raco test protocols/racket

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
