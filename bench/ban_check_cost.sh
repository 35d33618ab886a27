#!/bin/sh
# NC-2.4.2: the ban check's cost at accept with 0, 100 and 10,000 banned addresses (IPv4 /32,
# IPv6 /64, with and without /24 and /48 subnet bans), release build. Results: docs/PERFORMANCE.md.
# Usage: bench/ban_check_cost.sh [BANS [ROUNDS]]
set -e
cd "$(dirname "$0")/.."
cargo run -q --release -p rampart-ids --bin ban-check-cost -- "${1:-10000}" ${2:+"$2"}
