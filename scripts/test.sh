#!/bin/sh
# The test command (`make test`): builds, then runs every suite and ends
# with one line "N passed, M failed" summing them all.
#
#   TESTS="unit api"   run only these suites (default: all)
#   JOBS=2             parallel build jobs
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-2}
suites=${TESTS:-"unit api load diff clickhouse asan fuzz"}
export TALLY_SHARED="${TALLY_SHARED:-$root/../shared}"
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

total_pass=0
total_fail=0

# add SUITE PASSED FAILED
add() {
    echo "== $1: $2 passed, $3 failed"
    total_pass=$((total_pass + $2))
    total_fail=$((total_fail + $3))
}

# The "N passed, M failed" line a suite printed last, or 0/1 if none.
counts() {
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then
        echo "0 1"
    else
        echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'
    fi
}

# pytest's junit report as "passed failed".
junit_counts() {
    /usr/bin/python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f + sk)
PY
}

run_pytest() {
    name=$1; shift
    /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$results/$name.xml" "$@" \
        > "$results/$name.log" 2>&1
    tail -n 30 "$results/$name.log"
    set -- $(junit_counts "$results/$name.xml")
    add "$name" "$1" "$2"
}

echo "== build"
if ! make -j"$jobs" --no-print-directory all build/unit_tests > "$results/build.log" 2>&1; then
    cat "$results/build.log"
    add build 0 1
    echo "$total_pass passed, $total_fail failed"
    exit 1
fi

for suite in $suites; do
    case $suite in
    unit)
        build/unit_tests > "$results/unit.log" 2>&1
        grep -E '^FAIL|^    ' "$results/unit.log" | head -n 40
        set -- $(counts "$results/unit.log")
        add unit "$1" "$2" ;;
    api)
        run_pytest api tests/api ;;
    load)
        tests/load/run.sh --short > "$results/load.log" 2>&1
        tail -n 25 "$results/load.log"
        set -- $(counts "$results/load.log")
        add load "$1" "$2" ;;
    diff)
        if [ -x tests/diff/run.sh ]; then
            tests/diff/run.sh > "$results/diff.log" 2>&1
            tail -n 20 "$results/diff.log"
            set -- $(counts "$results/diff.log")
            add diff "$1" "$2"
        fi ;;
    clickhouse)
        tests/clickhouse/run.sh > "$results/clickhouse.log" 2>&1
        tail -n 20 "$results/clickhouse.log"
        set -- $(counts "$results/clickhouse.log")
        add clickhouse "$1" "$2" ;;
    asan)
        if ! make -j"$jobs" --no-print-directory asan > "$results/asan-build.log" 2>&1; then
            tail -n 30 "$results/asan-build.log"
            add asan-build 0 1
            continue
        fi
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            build-asan/unit_tests > "$results/asan-unit.log" 2>&1
        grep -E '^FAIL|ERROR: |^    ' "$results/asan-unit.log" | head -n 40
        set -- $(counts "$results/asan-unit.log")
        add asan-unit "$1" "$2"
        TALLY_BIN="$root/build-asan/tally" TALLY_ASAN=1 \
        ASAN_OPTIONS=detect_leaks=1 \
            run_pytest asan-api tests/api ;;
    fuzz)
        if [ -x tests/fuzz/regress.sh ]; then
            tests/fuzz/regress.sh > "$results/fuzz.log" 2>&1
            tail -n 20 "$results/fuzz.log"
            set -- $(counts "$results/fuzz.log")
            add fuzz "$1" "$2"
        fi ;;
    esac
done

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
