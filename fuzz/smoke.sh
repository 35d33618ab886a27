#!/usr/bin/env bash
# fuzz/smoke.sh: build every fuzz target and run each for a short while; exit non-zero if any
# target crashed (a panic, a failed assertion, a sanitizer report, a timeout or an out-of-memory).
#
#   fuzz/smoke.sh                    every target, FUZZ_SECONDS each (default 20): the CI form
#   fuzz/smoke.sh data_stream        only the targets named
#
# Optional environment:
#   FUZZ_SECONDS=20       libFuzzer -max_total_time per target
#   FUZZ_TIMEOUT=30       seconds one input may take before it counts as a hang (-timeout)
#   FUZZ_RSS_MB=2048      memory limit of the fuzzing process (-rss_limit_mb)
#
# Stable rustc only: cargo-fuzz needs -Zsanitizer flags, so RUSTC_BOOTSTRAP=1 is set here.
# The corpus grows in fuzz/corpus/TARGET (not committed); fuzz/seeds/TARGET is the committed
# starting set. Crashing inputs land in fuzz/artifacts/TARGET/ and libFuzzer's output in
# fuzz/artifacts/TARGET.log; the summary names each new input and the command that replays it.
# Longer runs: fuzz/README.md.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1

ALL_TARGETS=(smtp_command data_stream mime_attachments config message_differential modify urls dlp_text jmap_request)
if [[ $# -gt 0 ]]; then
    TARGETS=("$@")
else
    TARGETS=("${ALL_TARGETS[@]}")
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-30}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
export RUSTC_BOOTSTRAP=1

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz (crates.io)"
    cargo install --locked cargo-fuzz || exit 1
fi

# -O: release profile of fuzz/Cargo.toml (overflow checks on, debug assertions off, as in
# production); -a would add debug assertions, which mail-parser trips on by design (README.md).
log "building fuzz targets (release profile with overflow checks, sanitizer: address)"
cargo fuzz build -O || { log "build failed"; exit 1; }

failed=()
new_artifacts=()
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t" "artifacts/$t"
    known=" $(echo artifacts/"$t"/*) "
    logfile="artifacts/$t.log"
    log "fuzzing $t for ${FUZZ_SECONDS}s (output: fuzz/$logfile)"
    # The first corpus directory receives new inputs; the seeds are only read.
    cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" \
        -rss_limit_mb="$FUZZ_RSS_MB" -print_final_stats=1 >"$logfile" 2>&1
    rc=$?
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$logfile" \
        | sed "s/^/    $t /" >&2
    fresh=()
    for f in artifacts/"$t"/*; do
        [[ "$known" == *" $f "* ]] || fresh+=("$f")
    done
    if [[ $rc -ne 0 || ${#fresh[@]} -gt 0 ]]; then
        failed+=("$t")
        new_artifacts+=("${fresh[@]/#/$t }")
        log "$t FAILED (exit $rc):"
        grep -E -A8 '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|ALARM)' "$logfile" \
            | head -30 >&2
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    log "crashed: ${failed[*]}"
    for a in "${new_artifacts[@]}"; do
        read -r t f <<<"$a"
        log "  replay: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O $t $f)"
    done
    exit 1
fi
log "no crash in ${TARGETS[*]}"
