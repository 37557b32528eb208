#!/usr/bin/env bash
# Runs Ferry's fuzz targets (fuzz/, cargo-fuzz on the nightly toolchain) for a bounded time each.
#
#   FUZZ_SECONDS   seconds per target (default 30)
#   FUZZ_TARGETS   space-separated targets (default: every target in fuzz/Cargo.toml)
#   FUZZ_JOBS      parallel libFuzzer jobs per target (default 1)
#
# cargo-fuzz is installed into .tools/cargo-fuzz the first time (from crates.io, with
# `cargo install --locked`). New corpus entries go to fuzz/corpus/<target>/ (minimise with
# `cargo +nightly fuzz cmin <target>` before committing); a crash is written to
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ and commit it, so that
# `cargo test -p ferry-tests --test fuzz_replay` (part of `make test`) keeps it fixed on stable.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-1}
TOOLS="$ROOT/.tools/cargo-fuzz"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 1
fi
if [ ! -x "$TOOLS/bin/cargo-fuzz" ]; then
    echo "fuzz: installing cargo-fuzz into .tools/cargo-fuzz (cargo install --locked, from crates.io)"
    cargo install --locked --root "$TOOLS" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"

targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^ferry-fuzz$')}
cd fuzz
failed=()
for t in $targets; do
    mkdir -p "corpus/$t" "regressions/$t"
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
    # The committed regressions are seeds too: each must still pass.
    extra=()
    if [ "$JOBS" -gt 1 ]; then extra=(-jobs="$JOBS" -workers="$JOBS"); fi
    if ! cargo +nightly fuzz run "$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=4096 "${extra[@]}"; then
        failed+=("$t")
        echo "fuzz: $t found a crash; see fuzz/artifacts/$t/ (commit it under fuzz/regressions/$t/)" >&2
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: every target ran ${SECONDS_PER_TARGET}s without a crash"
