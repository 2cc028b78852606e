#!/bin/sh
# Fuzzes each target for SECONDS (`make fuzz`), each on a copy of its seed
# corpus and kept regressions, in a scratch folder: nothing is written
# into the tree. New crashes are kept in the scratch folder, whose path is
# printed; copy a real one into tests/fuzz/regressions/<target>/.
#
#   tests/fuzz/run.sh SECONDS TARGET...
#   FUZZ_ARGS="-jobs=2 -workers=2"   more libFuzzer options
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=$1
shift
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tally-fuzz.XXXXXX")
failed=0

for t in "$@"; do
    mkdir -p "$scratch/$t/corpus" "$scratch/$t/crashes"
    cp tests/fuzz/corpus/"$t"/* "$scratch/$t/corpus/" 2>/dev/null
    cp tests/fuzz/regressions/"$t"/* "$scratch/$t/corpus/" 2>/dev/null
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=$root/tests/fuzz/$t.dict"
    (cd "$scratch/$t" &&
        "$root/build-fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
            -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="$scratch/$t/crashes/" $dict ${FUZZ_ARGS:-} \
            corpus > fuzz.log 2>&1)
    rc=$?
    stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/$t/fuzz.log" | tail -n 1)
    execs=$(grep -E '^stat::number_of_executed_units' "$scratch/$t/fuzz.log" |
        awk '{s += $2} END {print s + 0}')
    if [ "$rc" -eq 0 ]; then
        echo "$t: ok, $execs executions; $stats"
    else
        failed=$((failed + 1))
        echo "$t: FAILED (exit $rc), see $scratch/$t/fuzz.log"
        grep -E 'SUMMARY|assertion failed|Test unit written' \
            "$scratch/$t/fuzz.log" | head -n 5
    fi
done
echo "logs and crashes: $scratch"
[ "$failed" -eq 0 ]
