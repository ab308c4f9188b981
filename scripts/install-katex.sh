#!/bin/sh
# Install KaTeX (the npm package) into .tools/, which git ignores; the Markdown tests use it.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .tools
cp scripts/package.json .tools/package.json
npm install --prefix .tools --no-audit --no-fund --silent
