#!/bin/sh
# A ClickHouse test cluster on loopback: N servers (default 2), each one
# shard of the cluster "tally", in a folder of their own.
#
#   tests/clickhouse/cluster.sh start DIR [N]   prints the --backend URL
#   tests/clickhouse/cluster.sh stop DIR        stops them by their PIDs
#
# Ports are free ones picked at start (HTTP, TCP, inter-server for each
# node). Nothing outside DIR is written or read but the clickhouse-server
# binary; the Debian service's configuration is never used.
set -eu

die() { echo "cluster.sh: $*" >&2; exit 1; }

free_ports() {
    /usr/bin/python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

users_xml() {
    cat <<'XML'
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
      <load_balancing>in_order</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
XML
}

# node_xml DIR HTTP TCP INTER SHARDS: SHARDS is the <remote_servers> body.
node_xml() {
    cat <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$1/log/server.log</log>
    <errorlog>$1/log/error.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$2</http_port>
  <tcp_port>$3</tcp_port>
  <interserver_http_port>$4</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>$1/data/</path>
  <tmp_path>$1/tmp/</tmp_path>
  <user_files_path>$1/user_files/</user_files_path>
  <format_schema_path>$1/format_schemas/</format_schema_path>
  <users_config>$1/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <mark_cache_size>134217728</mark_cache_size>
  <uncompressed_cache_size>134217728</uncompressed_cache_size>
  <max_concurrent_queries>64</max_concurrent_queries>
  <builtin_dictionaries_reload_interval>0</builtin_dictionaries_reload_interval>
  <remote_servers><tally>$5</tally></remote_servers>
</yandex>
XML
}

start() {
    dir=$1 n=$2
    command -v clickhouse-server >/dev/null ||
        die "clickhouse-server is not installed (scripts/deps.sh test)"
    mkdir -p "$dir"
    set -- $(free_ports $((3 * n)))
    shards="" i=1 ports="$*"
    while [ $i -le "$n" ]; do
        eval "http_$i=\$1 tcp_$i=\$2 inter_$i=\$3"
        shards="$shards<shard><replica><host>127.0.0.1</host><port>$2</port></replica></shard>"
        shift 3
        i=$((i + 1))
    done
    i=1
    while [ $i -le "$n" ]; do
        d=$dir/node$i
        mkdir -p "$d/log" "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas"
        users_xml > "$d/users.xml"
        eval "node_xml \"$d\" \$http_$i \$tcp_$i \$inter_$i \"\$shards\"" \
            > "$d/config.xml"
        clickhouse-server --config-file="$d/config.xml" \
            > "$d/log/stdout.log" 2>&1 &
        echo $! > "$d/pid"
        i=$((i + 1))
    done
    i=1
    while [ $i -le "$n" ]; do
        eval "port=\$http_$i"
        tries=0
        until [ "$(curl -s "http://127.0.0.1:$port/ping" 2>/dev/null)" = "Ok." ]; do
            tries=$((tries + 1))
            if [ $tries -gt 300 ] || ! kill -0 "$(cat "$dir/node$i/pid")" 2>/dev/null; then
                cat "$dir/node$i/log/"*.log >&2 || true
                stop "$dir"
                die "node $i did not start"
            fi
            sleep 0.1
        done
        i=$((i + 1))
    done
    nodes="" i=1
    while [ $i -le "$n" ]; do
        eval "nodes=\"\$nodes\${nodes:+,}127.0.0.1:\$http_$i\""
        i=$((i + 1))
    done
    echo "clickhouse://127.0.0.1:$http_1/tally?cluster=tally&nodes=$nodes" \
        > "$dir/url"
    cat "$dir/url"
}

stop() {
    dir=$1
    for p in "$dir"/node*/pid; do
        [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    for p in "$dir"/node*/pid; do
        [ -f "$p" ] || continue
        pid=$(cat "$p") tries=0
        while kill -0 "$pid" 2>/dev/null; do
            tries=$((tries + 1))
            [ $tries -gt 200 ] && kill -9 "$pid" 2>/dev/null
            sleep 0.05
        done
        rm -f "$p"
    done
}

case "${1:-}" in
start) [ $# -ge 2 ] || die "usage: cluster.sh start DIR [N]"
       start "$2" "${3:-2}" ;;
stop)  [ $# -ge 2 ] || die "usage: cluster.sh stop DIR"
       stop "$2" ;;
*)     die "usage: cluster.sh start|stop DIR [N]" ;;
esac
