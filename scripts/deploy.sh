#!/usr/bin/env bash
# `make deploy` (after `make build`): the guards on Cloudflare's limits, then
# `wrangler deploy`, then the URL. README "Deploy" walks through it.
#
#   DRY_RUN=1 scripts/deploy.sh   offline, no account: `wrangler deploy
#                                 --dry-run --outdir target/deploy/dry-run`,
#                                 then what would be deployed, bindings included
#   DEPLOY_GUARDS=0               skips the guards (tests/http/deploy.test.mjs:
#                                 `make test` runs them as phases of their own)
#
# The preflight looks for credentials locally (wrangler whoami needs the
# network): CLOUDFLARE_API_TOKEN, or what `wrangler login` leaves in
# wrangler's config directory.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=target/deploy
DRY_RUN=${DRY_RUN:-}
[ "$DRY_RUN" = 0 ] && DRY_RUN=
say() { printf 'deploy: %s\n' "$*" >&2; }

if [ ! -f worker/build/index.js ]; then
  say "no worker/build/index.js: run 'make deploy' (it builds first), not this script alone"
  exit 2
fi

# wrangler's config directory: ~/.wrangler when it exists (the legacy place),
# else $XDG_CONFIG_HOME/.wrangler; `wrangler login` writes under config/.
wrangler_config_dir() {
  if [ -d "$HOME/.wrangler" ]; then echo "$HOME/.wrangler"; else echo "${XDG_CONFIG_HOME:-$HOME/.config}/.wrangler"; fi
}

# Prints what is missing, if anything; returns 1 then.
preflight() {
  if [ -n "${CLOUDFLARE_API_TOKEN:-}" ]; then
    if [ -z "${CLOUDFLARE_ACCOUNT_ID:-}" ]; then
      say "note: CLOUDFLARE_ACCOUNT_ID is not set; wrangler uses the token's account, and asks which one if it has several (set it in CI)"
    fi
    return 0
  fi
  if [ -n "${CLOUDFLARE_API_KEY:-}" ] && [ -n "${CLOUDFLARE_EMAIL:-}" ]; then return 0; fi
  local dir
  dir="$(wrangler_config_dir)/config"
  if [ -d "$dir" ] && [ -n "$(find "$dir" -maxdepth 1 -type f -print -quit)" ]; then return 0; fi
  say "no Cloudflare credentials here. Either:"
  say "  - run 'scripts/wrangler login' (a browser opens; it stores an OAuth token under $dir), or"
  say "  - export CLOUDFLARE_API_TOKEN (a token from the 'Edit Cloudflare Workers' template) and CLOUDFLARE_ACCOUNT_ID"
  say "  (or try it all offline: make deploy DRY_RUN=1)"
  return 1
}

guards() {
  [ "${DEPLOY_GUARDS:-1}" = 0 ] && { say "guards skipped (DEPLOY_GUARDS=0)"; return 0; }
  say "guard: the bundle against 64 MiB uncompressed (scripts/bundle.mjs)"
  node scripts/bundle.mjs
  say "guard: the start-up work against 1 s (scripts/startup.mjs)"
  node scripts/startup.mjs
}

mkdir -p "$OUT"
export WRANGLER_SEND_METRICS=false

if [ -n "$DRY_RUN" ]; then
  preflight 2>/dev/null || say "(no credentials found: fine for a dry run; a real deploy would stop here)"
  guards
  rm -rf "$OUT/dry-run"
  say "wrangler deploy --dry-run --outdir $OUT/dry-run"
  scripts/wrangler deploy --dry-run --outdir "$OUT/dry-run"
  scripts/wrangler-node scripts/deploy-plan.mjs "$OUT/dry-run" "$OUT/plan.json"
  say "dry run: nothing was uploaded"
  exit 0
fi

preflight || exit 1
guards
# wrangler writes what it did (the URLs, the version id) as ND-JSON here.
export WRANGLER_OUTPUT_FILE_PATH="$PWD/$OUT/output.ndjson"
rm -f "$WRANGLER_OUTPUT_FILE_PATH"
scripts/wrangler deploy "$@"
urls=$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const d = lines.filter((l) => l.type === "deploy").pop() || {};
  console.log([...(d.targets || [])].join("\n"));
  if (d.version_id) console.error(`deploy: version ${d.version_id}`);
' "$WRANGLER_OUTPUT_FILE_PATH" 2>&1 || true)
printf '\n'
if [ -n "$urls" ]; then
  say "deployed; check it with: make smoke URL=<one of these>"
  printf '%s\n' "$urls"
else
  say "deployed, but wrangler named no URL (no workers.dev subdomain and no route?): see its output above"
fi
