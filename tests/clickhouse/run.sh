#!/bin/sh
# The ClickHouse suite (suite "clickhouse" of scripts/test.sh): starts a
# two-shard ClickHouse 18.16 cluster on loopback in a temporary folder,
# runs the differential test between backends against it, stops the
# servers by their PIDs. The last line is "N passed, M failed".
#
#   TALLY_BIN, TALLY_CH_SEED, TALLY_CH_REQUESTS, TALLY_CH_LISTS,
#   TALLY_CH_OBJECTS   see diff_backends.py
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v clickhouse-server >/dev/null; then
    echo "clickhouse-server is not installed: run scripts/deps.sh test"
    echo "0 passed, 1 failed"
    exit 1
fi
bin=${TALLY_BIN:-$root/build/tally}
if [ ! -x "$bin" ]; then
    (cd "$root" && make -j2 --no-print-directory all) || {
        echo "0 passed, 1 failed"
        exit 1
    }
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/tally-ch-XXXXXX")
trap '"$here/cluster.sh" stop "$dir"; rm -rf "$dir"' EXIT INT TERM
url=$("$here/cluster.sh" start "$dir" 2) || {
    echo "the ClickHouse test cluster did not start"
    echo "0 passed, 1 failed"
    exit 1
}
echo "cluster: $url"
TALLY_BIN="$bin" /usr/bin/python3 "$here/diff_backends.py" --backend "$url"
