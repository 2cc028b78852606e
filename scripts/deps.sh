#!/bin/sh
# Installs the Debian packages a task needs when they are missing.
#   scripts/deps.sh run|test|bench|fuzz
# Runs apt-get only when something is missing, so a prepared machine
# pays nothing. Needs root (or sudo) the first time on a fresh machine.
set -eu
node=0

build="make gcc pkg-config libbson-dev libmicrohttpd-dev liblmdb-dev \
libsodium-dev libpcre2-dev libcurl4-openssl-dev"
case "${1:-run}" in
run)   want="$build" ;;
test)  want="$build clang libclang-rt-14-dev python3 python3-pytest \
python3-requests python3-jsonschema lmdb-utils curl wrk clickhouse-server \
clickhouse-client" node=1 ;;
bench) want="$build python3 python3-psycopg2 postgresql-15 \
postgresql-client-15 clickhouse-server clickhouse-client" node=1 ;;
fuzz)  want="$build clang libclang-rt-14-dev" ;;
*) echo "usage: $0 run|test|bench|fuzz" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
# Node.js may come from elsewhere than Debian (with npm inside): ask for
# the commands, not the packages.
if [ "$node" = 1 ] && ! { command -v node && command -v npm; } >/dev/null; then
    missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0

echo "installing Debian packages:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
