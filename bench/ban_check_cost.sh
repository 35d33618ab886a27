#!/bin/sh
# NC-2.4.2: the ban check's cost at accept with 10,000 banned addresses (release build).
# Usage: bench/ban_check_cost.sh [BANS]
set -e
cd "$(dirname "$0")/.."
cargo run -q --release -p rampart-ids --bin ban-check-cost -- "${1:-10000}"
