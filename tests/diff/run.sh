#!/bin/sh
# The differential test (suite "diff" of scripts/test.sh): installs the
# pinned mingo into a cache folder outside the tree when it is missing,
# then runs diff.js, whose last line is "N passed, M failed".
#
#   TALLY_NPM_DIR        npm cache folder (default /tmp/tally-npm)
#   TALLY_DIFF_SEED      seed; TALLY_DIFF_REQUESTS, TALLY_DIFF_OBJECTS sizes
#   TALLY_BIN            server binary (default build/tally)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
npm_dir=${TALLY_NPM_DIR:-/tmp/tally-npm}
want=$(sed -n 's/.*"mingo": *"\([^"]*\)".*/\1/p' "$here/package.json")

have=""
if [ -f "$npm_dir/node_modules/mingo/package.json" ]; then
    have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
        "$npm_dir/node_modules/mingo/package.json" | head -n 1)
fi
if [ "$have" != "$want" ]; then
    mkdir -p "$npm_dir"
    cp "$here/package.json" "$here/package-lock.json" "$npm_dir/"
    if ! (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error); then
        echo "cannot install mingo@$want into $npm_dir"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

bin=${TALLY_BIN:-$root/build/tally}
if [ ! -x "$bin" ]; then
    (cd "$root" && make -j2 --no-print-directory all) || {
        echo "cannot build $bin"
        echo "0 passed, 1 failed"
        exit 1
    }
fi

TZ=UTC NODE_PATH="$npm_dir/node_modules" TALLY_BIN="$bin" \
    exec node "$here/diff.js"
