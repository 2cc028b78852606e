#!/bin/sh
# The fuzz suite of `make test`: builds the libFuzzer targets, then runs
# each over its seed corpus and every kept regression input
# (tests/fuzz/regressions/<target>/), without fuzzing. One line per
# target, then "N passed, M failed" counting targets. Installs nothing
# (scripts/deps.sh test brings clang and libclang-rt-14-dev).
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
targets="json filter agg ndjson router http"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tally-regress.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
pass=0
fail=0

if ! make --no-print-directory -j"${JOBS:-2}" fuzz-build \
    > "$scratch/build.log" 2>&1; then
    tail -n 30 "$scratch/build.log"
    for t in $targets; do
        echo "fuzz_$t: not built"
    done
    echo "0 passed, $(echo $targets | wc -w) failed"
    exit 1
fi

for t in $targets; do
    files=$(ls tests/fuzz/corpus/"$t"/* tests/fuzz/regressions/"$t"/* \
        2>/dev/null)
    n=$(echo "$files" | grep -c .)
    # Crash files land in the scratch folder, never in the tree.
    if (cd "$scratch" && "$root/build-fuzz/fuzz_$t" -timeout=10 \
        -rss_limit_mb=4096 $(echo "$files" | sed "s|^|$root/|") \
        > "$scratch/$t.log" 2>&1); then
        pass=$((pass + 1))
        echo "fuzz_$t: ok ($n inputs)"
    else
        fail=$((fail + 1))
        echo "fuzz_$t: FAILED"
        grep -E 'SUMMARY|assertion failed|Running: |ERROR' "$scratch/$t.log" |
            tail -n 6
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
