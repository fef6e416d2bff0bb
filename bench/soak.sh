#!/usr/bin/env bash
# The chaos soak for longer than CI runs it (tests/soak.rs): three projects whose databases take
# acknowledged records into named, anonymous and image volumes while containers are killed,
# composed is kill -9'd and re-executed, the engine is restarted and good edits are applied, at
# random. Prints the events injected, invariant violations (a run stops at the first), records
# read back, the slowest convergence and composed's RSS and descriptors at start and end.
# It restarts the host's dockerd: run it where nothing else uses the engine.
#
#   bash bench/soak.sh [SECONDS=1800] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export COMPOSED_SOAK_SECONDS=${1:-1800}
[ -n "${2:-}" ] && export COMPOSED_SOAK_SEED=$2
export COMPOSED_TEST_RESTART_ENGINE=1 COMPOSED_TEST_REQUIRE=docker
cargo test --release -q --test soak -- --nocapture 2>&1 | grep -E '^soak:|panicked|assert|test result'
