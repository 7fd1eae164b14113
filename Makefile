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
WORKER_SRC := $(shell find src worker/src -type f) $(wildcard models/*.nnef.tar models/*.onnx) \
	models/manifest.json Cargo.toml Cargo.lock worker/Cargo.toml build.rs .cargo/config.toml

# The browser build of the core (on-device mode: www/device.js), served with
# the page by wrangler's assets from www/pkg/ (git-ignored). It links the
# vision pipeline alone, so src/http/ is not among its sources.
WEB_OUT := www/pkg/edgecat_web.js
WEB_SRC := $(shell find src web/src -type f -not -path 'src/http/*') $(wildcard models/*.nnef.tar) \
	models/manifest.json Cargo.toml Cargo.lock web/Cargo.toml build.rs .cargo/config.toml

.PHONY: setup build worker-build web-build dev deploy smoke test check test-native test-http test-browser bench profile fuzz load models nnef clean

setup:
	@bash scripts/setup.sh rust npm

build: setup $(WORKER_OUT) $(WEB_OUT)

# The Wasm builds alone, for scripts/test.sh (which runs setup as its own phase).
worker-build: $(WORKER_OUT)
web-build: $(WEB_OUT)

# worker-build would fetch wasm-bindgen and esbuild from the web;
# these variables point it at the ones setup.sh installed. The Wasm build has
# its own target dir (no lock shared with native builds) and its own profile,
# `wasm` in Cargo.toml: the hot code at opt-level 3, the bulk for size.
# No wasm-opt (binaryen, node_modules/binaryen/bin/wasm-opt), measured again
# on 2026-12-02 now that size no longer counts (benches/cpu.mjs --ab, fresh
# runtimes alternated; BENCHMARKS.md "CPU per photo and wasm-opt"): -O3, -O2,
# -Os and -O1 after worker-build, before the strip, leave the cold first photo
# as it is (CPU 0.98-1.01 × for -O3 in five runs, 1.00 -Os, 1.01 -O1, 1.10
# -O2), and the warm CPU within noise at 1 MP (-O3: 0.92-1.09 × in four runs;
# 0.90 × at 12 MP), for 106 s (-O3) or 33 s (-O1) more build. The custom sections worker-build keeps
# (the ~1.3 MB name section) are dropped instead; a copy with names is kept
# in target/wasm for profiling (scripts/profile-wasm.mjs).
WASM_BUILD = CARGO_TARGET_DIR=$(CURDIR)/target/wasm \
		WASM_BINDGEN_BIN=$(TOOLS)/bin/wasm-bindgen \
		ESBUILD_BIN=$(CURDIR)/node_modules/.bin/esbuild \
		$(TOOLS)/bin/worker-build --profile wasm

$(WORKER_OUT): $(WORKER_SRC)
	cd worker && $(WASM_BUILD)
	cp worker/build/index_bg.wasm target/wasm/index_bg.named.wasm
	node scripts/strip-wasm.mjs worker/build/index_bg.wasm
	@touch $@

# Same target dir and `wasm` profile as the worker (its dependencies are
# mostly the worker's), then wasm-bindgen for ES-module import by the page's
# Web Worker. As for the worker: no wasm-opt, custom sections stripped, a
# copy with names kept in target/wasm for profiling.
WEB_WASM := target/wasm/wasm32-unknown-unknown/wasm/edgecat_web.wasm
$(WEB_OUT): $(WEB_SRC)
	CARGO_TARGET_DIR=$(CURDIR)/target/wasm cargo build --locked --target wasm32-unknown-unknown --profile wasm -p edgecat-web
	rm -rf www/pkg
	$(TOOLS)/bin/wasm-bindgen --target web --out-dir www/pkg $(WEB_WASM)
	cp www/pkg/edgecat_web_bg.wasm target/wasm/edgecat_web_bg.named.wasm
	node scripts/strip-wasm.mjs www/pkg/edgecat_web_bg.wasm
	@node scripts/bundle.mjs --web
	@touch $@

dev: build
	scripts/wrangler dev --ip 127.0.0.1 --port $(PORT) --show-interactive-dev-session=false

# Build, the guards on Cloudflare's limits (64 MiB bundle, 1 s start-up),
# `wrangler deploy`, the URL (scripts/deploy.sh; README "Deploy"). A preflight
# names the credentials that are missing. DRY_RUN=1: offline, no account:
# what would be deployed, bindings included, and nothing uploaded.
deploy: build
	@DRY_RUN=$(DRY_RUN) bash scripts/deploy.sh

# A read-only check of a deployed API (scripts/smoke.mjs): make smoke URL=https://…
# ORIGIN is an origin ALLOWED_ORIGINS lets in (default: the URL's own).
smoke:
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://edgecat.<you>.workers.dev [ORIGIN=https://your.site]" >&2; exit 2; }
	node scripts/smoke.mjs $(URL) $(if $(ORIGIN),--origin $(ORIGIN))

# Everything, with each phase timed (scripts/test.sh): the native tests'
# build and run, beside the tools, the Wasm build, the size guard and the HTTP
# and page suites on one `wrangler dev`. `.ci/run` calls this.
test:
	@bash scripts/test.sh

# The quick inner loop for a change that does not touch the Wasm build:
# native tests beside the HTTP suite, against the worker already built.
check:
	@bash scripts/test.sh --quick

test-native:
	cargo test --locked

test-http: build
	node tests/run-http.mjs tests/http

# The page in headless Chromium (Debian's package, installed on first use).
test-browser: build
	@bash scripts/setup.sh browser
	node tests/run-http.mjs tests/browser

# Worker vs native vs Python baselines, on-device mode in Chromium vs
# the edge (benches/device.mjs; alone: `node benches/device.mjs`), and the
# worker process's CPU per photo for 0.3, 1 and 12 MP against the Free plan's
# 10 ms (benches/cpu.mjs; alone: `node benches/cpu.mjs`; two builds compared:
# `node benches/cpu.mjs --ab BASELINE_BUILD_DIR [BUILD_DIR…]`), one run,
# a few minutes; rewrites the generated part of BENCHMARKS.md. Not part of `make test` (no timed tests).
# benches/trivial-worker is the baseline its cold start (b) subtracts: a
# worker that answers "ok", built exactly as $(WORKER_OUT) is.
TRIVIAL_OUT := benches/trivial-worker/build/index.js

bench: build $(TRIVIAL_OUT)
	@bash scripts/setup.sh bench browser
	cargo build --release --bin edgecat
	node benches/run.mjs

$(TRIVIAL_OUT): $(wildcard benches/trivial-worker/src/*.rs) benches/trivial-worker/Cargo.toml Cargo.toml Cargo.lock
	cd benches/trivial-worker && $(WASM_BUILD)
	node scripts/strip-wasm.mjs benches/trivial-worker/build/index_bg.wasm
	@touch $@

# V8 CPU profiles (Rust names) under wrangler dev: cold and warm /api/hipsterize, /api/__load.
profile: build
	node scripts/profile-wasm.mjs

# Hostile input at scale, each bounded and outside `make test`: cargo-fuzz
# on the core natively (FUZZ_SECONDS, default 600, over all targets), and
# 2,000 mixed requests at concurrency 16 with wrk against wrangler dev.
fuzz:
	bash scripts/fuzz.sh

load: build
	bash scripts/load.sh

clean:
	rm -rf worker/build www/pkg benches/trivial-worker/build target

# Re-create the int8 models from ../shared (about an hour on 2 cores), then
# their NNEF.
models:
	bash models/train/run.sh
	$(MAKE) nnef

# The NNEF tars the worker embeds (typed, decluttered, int8 weights), from
# the ONNX source files, natively: the Wasm links tract-nnef alone. The
# native tests fail when the committed tars are not what this gives.
nnef:
	for m in detector landmarks; do \
		cargo run --quiet --locked --bin edgecat -- convert models/$$m.int8.onnx -o models/$$m.nnef.tar || exit 1; \
	done
