# edgecat: the two commands that matter are `make dev` and `make test`.
# Both set up whatever is missing (scripts/setup.sh) and are quick when
# nothing changed.

PORT ?= 8787
TOOLS ?= $(HOME)/.cache/edgecat/tools
export EDGECAT_TOOLS := $(TOOLS)
export WRANGLER_SEND_METRICS := false
export WRANGLER_LOG_PATH := $(CURDIR)/target/wrangler-logs
export CARGO_TERM_COLOR ?= never

WORKER_OUT := worker/build/index.js
WORKER_SRC := $(shell find src worker/src -type f) $(wildcard models/*.onnx) \
	models/manifest.json Cargo.toml Cargo.lock worker/Cargo.toml build.rs

.PHONY: setup build dev test test-native test-http test-browser models clean

setup:
	@bash scripts/setup.sh

build: setup $(WORKER_OUT)

# worker-build would fetch wasm-bindgen, wasm-opt and esbuild from the web;
# these variables point it at the ones setup.sh installed.
$(WORKER_OUT): $(WORKER_SRC)
	cd worker && WASM_BINDGEN_BIN=$(TOOLS)/bin/wasm-bindgen \
		WASM_OPT_BIN=$(CURDIR)/node_modules/.bin/wasm-opt \
		ESBUILD_BIN=$(CURDIR)/node_modules/.bin/esbuild \
		$(TOOLS)/bin/worker-build --release
	@touch $@

dev: build
	npx wrangler dev --ip 127.0.0.1 --port $(PORT) --show-interactive-dev-session=false

test: build test-native test-http test-browser

test-native:
	cargo test --release

test-http:
	node tests/run-http.mjs tests/http

# The page in headless Chromium (Debian's package, installed on first use).
test-browser:
	@bash scripts/setup.sh --browser
	node tests/run-http.mjs tests/browser

clean:
	rm -rf worker/build target

# Re-create the int8 models from ../shared (about an hour on 2 cores).
models:
	bash models/train/run.sh
