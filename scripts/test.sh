#!/usr/bin/env bash
# Fresh machine to the test suite: install dependencies, then run every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test -q --workspace "$@"
