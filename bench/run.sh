#!/bin/sh
# The benchmark against the peers (`make bench` runs it after installing
# the Debian packages and building). Makes the data file and installs the
# pinned DuckDB npm package when missing, then runs bench/bench.py.
#
# Environment [default]:
#   N [1000000]            objects (10000000 when asked for)
#   RUNS [5]               timed runs per query and system
#   ROW_RUNS [min(RUNS,3)] timed runs of Tally's row path (slow)
#   BENCH_DATA [/tmp/bench-data]  data files, npm packages, server folders, results
#   SEED [42]              data generator seed
#   QUERIES [Q1,...,Q8]    which of the shared requests
#   PEERS [duckdb,clickhouse,postgres]  which peers to load and run; add
#                          tally-ch for Tally on a 2-shard ClickHouse cluster
#                          (at 10M: PEERS=duckdb,clickhouse ROW_RUNS=0)
#   BENCH_KEEP [0]         1 keeps the server data folders after the run
#   TALLY_BENCH_PORT [18471], TALLY_CH_BENCH_PORT [18472],
#   CHBENCH_HTTP_PORT [28133], CHBENCH_TCP_PORT [29010],
#   PGBENCH_PORT [25542]   loopback ports of the servers the run starts (keep them
#                          out of the ephemeral range 32768-60999)
#   TALLY_CACHE_BUDGET     passed to tally serve --cache-budget when set
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${BENCH_SHARED:-$root/../shared/bench}
N=${N:-1000000}
SEED=${SEED:-42}
BENCH_DATA=${BENCH_DATA:-/tmp/bench-data}
PY=/usr/bin/python3

if [ "$SEED" = 42 ]; then
    file="$BENCH_DATA/objects_$N.ndjson"
else
    file="$BENCH_DATA/objects_${N}_seed$SEED.ndjson"
fi
mkdir -p "$BENCH_DATA/results"

if [ ! -s "$file" ]; then
    echo "bench: generating $file" >&2
    # Written under a temporary name so that an interrupted run leaves no
    # half file behind to be taken for a whole one.
    $PY "$shared/gen.py" -n "$N" --seed "$SEED" -o "$file.part" --jobs 2
    mv "$file.part" "$file"
fi

# The DuckDB package, pinned to the version the shared peer driver uses.
pin=$(node -p "require('$shared/package.json').dependencies['@duckdb/node-api']")
pkg="$BENCH_DATA/npm/node_modules/@duckdb/node-api/package.json"
have=$(node -p "try { require('$pkg').version } catch (e) { '' }")
if [ "$have" != "$pin" ]; then
    echo "bench: installing @duckdb/node-api@$pin into $BENCH_DATA/npm" >&2
    mkdir -p "$BENCH_DATA/npm"
    npm install --prefix "$BENCH_DATA/npm" --no-audit --no-fund --save-exact \
        "@duckdb/node-api@$pin" >&2
fi

cmd="N=$N RUNS=${RUNS:-5} SEED=$SEED BENCH_DATA=$BENCH_DATA"
[ -n "${ROW_RUNS:-}" ] && cmd="$cmd ROW_RUNS=$ROW_RUNS"
[ -n "${QUERIES:-}" ] && cmd="$cmd QUERIES=$QUERIES"
[ -n "${PEERS:-}" ] && cmd="$cmd PEERS=$PEERS"
if [ -n "${MAKELEVEL:-}" ]; then cmd="$cmd make bench"; else cmd="$cmd bench/run.sh"; fi

export N SEED BENCH_DATA BENCH_SHARED="$shared" BENCH_FILE="$file" BENCH_COMMAND="$cmd"
exec $PY "$root/bench/bench.py"
