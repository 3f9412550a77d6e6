#!/usr/bin/env bash
# Builds the embedding example addon (examples/embed) and runs its test, which
# receives the addon's own native events through the shared TypeScript API.
# Needs the root package built first (`npm run build`).
set -euo pipefail
cd "$(dirname "$0")/../examples/embed"
[[ -f ../../dist/index.js && -f ../../dist/lib/hub.js ]] || { echo "run 'npm run build' at the repository root first" >&2; exit 1; }
npm run build
node test.mjs
