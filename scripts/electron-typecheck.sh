#!/usr/bin/env bash
# Type-checks examples/electron against Electron's own typings (main process,
# preload and renderer). The Electron binary is not needed: it is not
# downloaded. Needs the root package built first (binding.d.ts, dist/), e.g. after
# `npm ci` at the root.
set -euo pipefail
cd "$(dirname "$0")/../examples/electron"
[[ -f ../../binding.d.ts && -f ../../dist/index.d.ts ]] || { echo "binding.d.ts or dist/index.d.ts missing: run 'npm run build' at the repository root" >&2; exit 1; }
export ELECTRON_SKIP_BINARY_DOWNLOAD=1
npm ci --no-audit --no-fund
echo "electron $(node -p 'require("electron/package.json").version') typings"
npm run typecheck
echo "electron example type-checks"
# Main-process logic under plain Node with a fake `electron` (no binary here).
npm run smoke
