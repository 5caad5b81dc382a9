#!/usr/bin/env bash
# Fresh machine to the demo: install dependencies, build shears (release), run `shears demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -q -p shears-cli
exec target/release/shears demo "$@"
