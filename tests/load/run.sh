#!/bin/sh
# The load test: a real `tally serve` over a bucket of generated objects,
# driven by wrk at 64 connections with a mix of the eight benchmark
# aggregations, object creates and object lists, for DURATION seconds.
# Reports requests, errors, p50/p99 per request kind, throughput and the
# server's resident memory every SAMPLE seconds; ends with
# "N passed, M failed" (0 errors, bounded memory growth, clean stop).
#
#   tests/load/run.sh            the full run: 1M objects, 10 minutes
#   tests/load/run.sh --short    the test command's run: 20k objects, 20 s
#
# One wrk process per request kind (Q1..Q8, create, list), all at once:
# wrk reports latency for a whole process only, so a kind needs its own
# process to get its own percentiles.
#
# Settings (environment): DURATION seconds, OBJECTS, SEED, SAMPLE (seconds
# between memory samples), AGG_CONNS (per query), CREATE_CONNS,
# LIST_CONNS, MAX_GROWTH_PCT and MAX_GROWTH_MB (allowed growth of the
# anonymous memory the column cache does not hold, from the first sample
# after warm-up to the last; 0: not checked), LOAD_DATA (work folder,
# /tmp/tally-load),
# BENCH_DATA (where generated NDJSON may already be, /tmp/bench-data),
# TALLY_BIN, TALLY_SHARED, CHECK=0 to skip `tally check` afterwards.
# The last run's logs stay in $LOAD_DATA/last.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ "${1:-}" = "--short" ]; then
    : "${DURATION:=20}" "${OBJECTS:=20000}" "${SAMPLE:=4}"
    # TUNING: 20 s of this load grows memory by about 10 MB (the allocator
    # keeping freed memory, see docs/reliability.md); 64 MB is what a leak
    # of 4 KB per request would add over 16k requests, and a run makes
    # more than that.
    : "${MAX_GROWTH_MB:=64}" "${MAX_GROWTH_PCT:=0}"
else
    : "${DURATION:=600}" "${OBJECTS:=1000000}" "${SAMPLE:=60}"
    # TUNING: the allocator keeps freed memory, so memory climbs to each
    # arena's high-water mark and stays there: a few percent per 10
    # minutes outside the column cache (which grows with the creates).
    : "${MAX_GROWTH_PCT:=10}" "${MAX_GROWTH_MB:=0}"
fi
# TUNING: 8 queries x 4 + 16 + 16 = 64 connections, the load asked for;
# aggregations take most of the CPU, creates and lists most of the
# requests.
: "${AGG_CONNS:=4}" "${CREATE_CONNS:=16}" "${LIST_CONNS:=16}"
: "${SEED:=42}" "${CHECK:=1}"
: "${LOAD_DATA:=/tmp/tally-load}" "${BENCH_DATA:=/tmp/bench-data}"
: "${TALLY_SHARED:=$root/../shared}"
bin=${TALLY_BIN:-$root/build/tally}
queries=$TALLY_SHARED/bench/queries
py=/usr/bin/python3

fail() {
    echo "load: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

command -v wrk > /dev/null || fail "wrk is missing (Debian package wrk)"
[ -x "$bin" ] || fail "$bin is missing: run make first"
mkdir -p "$LOAD_DATA" && chmod 700 "$LOAD_DATA" || fail "cannot use $LOAD_DATA"

# --- data: generated once, imported once, copied per run ---------------

# One preparation at a time (runs may share LOAD_DATA).
exec 9> "$LOAD_DATA/prepare.lock"
flock 9

ndjson=$BENCH_DATA/objects_$OBJECTS.ndjson
[ "$SEED" = 42 ] && [ -s "$ndjson" ] ||
    ndjson=$LOAD_DATA/objects_${OBJECTS}_$SEED.ndjson
if [ ! -s "$ndjson" ]; then
    echo "== generating $OBJECTS objects into $ndjson"
    $py "$TALLY_SHARED/bench/gen.py" -n "$OBJECTS" --seed "$SEED" \
        -o "$ndjson.tmp" --jobs 2 > /dev/null 2>&1 && mv "$ndjson.tmp" "$ndjson" ||
        fail "cannot generate the objects"
fi

# A base made by a tally whose store format differs is made again.
base=$LOAD_DATA/base-${OBJECTS}-$SEED
if [ ! -f "$base/imported" ] ||
    ! "$bin" key list --data "$base" > /dev/null 2>&1; then
    echo "== importing into $base"
    rm -rf "$base" && mkdir -m 700 "$base" || fail "cannot create $base"
    "$bin" import --data "$base" --namespace load --bucket main "$ndjson" \
        > "$base/import.log" 2>&1 || fail "import failed: $(cat "$base/import.log")"
    touch "$base/imported"
fi

flock -u 9

run=$(mktemp -d "$LOAD_DATA/run.XXXXXX")
data=$run/data
out=$run/out
mkdir -m 700 "$data" "$out"
cp "$base"/*.mdb "$base"/key-hash.secret "$data"/ || fail "cannot copy $base"
server_pid=
sampler_pid=
cleanup() {
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2> /dev/null
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2> /dev/null
    rm -rf "$LOAD_DATA/last" && mv "$out" "$LOAD_DATA/last"
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- server -------------------------------------------------------------

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
"$bin" serve --data "$data" --listen "127.0.0.1:$port" > "$out/server.log" 2>&1 &
server_pid=$!
i=0
until curl -sf "$url/healthz" > /dev/null; do
    i=$((i + 1))
    [ $i -lt 200 ] && kill -0 "$server_pid" 2> /dev/null ||
        fail "server did not start: $(cat "$out/server.log")"
    sleep 0.1
done
key=$(sed -n 's/^api_key: //p' "$out/server.log")
[ -n "$key" ] || fail "no API key in the server's output"

export TALLY_KEY=$key TALLY_NS=load TALLY_BUCKET=main TALLY_LOAD_LUA=$here/lua

# Warm-up: one of each aggregation (builds the column cache).
echo "== warm-up"
for q in 1 2 3 4 5 6 7 8; do
    code=$(curl -s -o "$out/warm-Q$q.json" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $key" -H "X-Namespace: load" \
        --data-binary "@$queries/Q$q.json" \
        "$url/v1/buckets/main/objects/aggregate")
    [ "$code" = 200 ] || fail "warm-up Q$q answered $code: $(head -c 300 "$out/warm-Q$q.json")"
done

# --- load ---------------------------------------------------------------

# VmRSS, RssAnon and RssFile of the server, and its column cache (kB): the
# cache grows with the objects the creates add, so growth is judged on the
# anonymous memory the cache does not account for.
sample() {
    cache=$(curl -s "$url/metrics" |
        awk '/^tally_column_cache_bytes / { printf "%d", $2 / 1024 }')
    awk -v t="$1" -v cache="${cache:-0}" \
        '/^(VmRSS|RssAnon|RssFile):/ { v = v " " $1 $2 }
        END { if (v != "") print "RSS t=" t v " Cache:" cache }' \
        "/proc/$server_pid/status"
}
# Samples at 0, SAMPLE, 2*SAMPLE... seconds, while $out/sampling exists.
touch "$out/sampling"
(
    start=$(date +%s) next=0
    while [ -f "$out/sampling" ]; do
        t=$(($(date +%s) - start))
        if [ "$t" -ge "$next" ]; then
            sample "$t"
            next=$((next + SAMPLE))
        fi
        sleep 1
    done
) > "$out/rss.log" &
sampler_pid=$!

echo "== load: $DURATION s, $((8 * AGG_CONNS + CREATE_CONNS + LIST_CONNS)) connections"
wrk_run() { # KIND CONNS SCRIPT [ARG]
    kind=$1 conns=$2 script=$3
    shift 3
    TALLY_KIND=$kind wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 60s \
        -s "$here/lua/$script" "$url" -- "$@" > "$out/wrk-$kind.log" 2>&1
}
wrk_pids=
for q in 1 2 3 4 5 6 7 8; do
    wrk_run "Q$q" "$AGG_CONNS" aggregate.lua "$queries/Q$q.json" &
    wrk_pids="$wrk_pids $!"
done
wrk_run create "$CREATE_CONNS" create.lua &
wrk_pids="$wrk_pids $!"
wrk_run list "$LIST_CONNS" list.lua &
wrk_pids="$wrk_pids $!"
for pid in $wrk_pids; do
    wait "$pid"
done
rm -f "$out/sampling"
wait "$sampler_pid"
sampler_pid=
sample end >> "$out/rss.log"

# --- after --------------------------------------------------------------

health=$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")
curl -s "$url/metrics" > "$out/metrics.txt"
kill -TERM "$server_pid"
wait "$server_pid"
echo "SERVER healthz=$health exit=$?" > "$out/server-exit.log"
server_pid=
if [ "$CHECK" = 1 ]; then
    "$bin" check --data "$data" > "$out/check.log" 2>&1
    echo "CHECK check=$?" >> "$out/server-exit.log"
fi

$py "$here/report.py" --max-growth-pct "$MAX_GROWTH_PCT" \
    --max-growth-mb "$MAX_GROWTH_MB" "$out"
