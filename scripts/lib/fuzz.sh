# shellcheck shell=bash
# The fuzz targets (fuzz/, cargo-fuzz with libFuzzer on nightly Rust), each run
# for a bounded time by the test command: the JSON scanner against serde_json
# (json_scanner) and the checkpoint loader (checkpoint_loader). Each builds only
# a small crate (tidepool-json, tidepool-rollup: no Polars, no librdkafka), so
# together they cost a few minutes on a fresh machine and TIDEPOOL_FUZZ_SECONDS
# (default 60) each after.

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS="${TIDEPOOL_FUZZ_SECONDS:-60}"
FUZZ_TARGET_DIR="${TIDEPOOL_FUZZ_TARGET_DIR:-$HOME/.cache/tidepool/fuzz-target}"

install_cargo_fuzz() {
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        printf '\n==> installing the nightly Rust toolchain (cargo-fuzz needs its sanitizer flags)\n'
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
        printf '\n==> installing cargo-fuzz %s\n' "$CARGO_FUZZ_VERSION"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

# Runs every fuzz target for FUZZ_SECONDS from its seeds (fuzz/seeds/TARGET),
# keeping what it finds in a temporary corpus; a crash fails the test command
# with the input that caused it (fuzz/artifacts/TARGET/).
run_fuzz_targets() {
    local target corpus
    for target in json_scanner checkpoint_loader; do
        printf '\n==> fuzzing %s for %s s (cargo fuzz)\n' "$target" "$FUZZ_SECONDS"
        corpus="$(mktemp -d)"
        cp fuzz/seeds/"$target"/* "$corpus"/
        cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$FUZZ_TARGET_DIR" "$target" "$corpus" \
            -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=1
        rm -rf "$corpus"
    done
}
