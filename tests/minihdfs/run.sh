#!/usr/bin/env bash
# Start a single-machine HDFS (Hadoop MiniDFSCluster: 1 namenode, 1 datanode,
# WebHDFS, permissions off) on 127.0.0.1 in the foreground.
#
#   bash tests/minihdfs/run.sh [HTTP_PORT [RPC_PORT [DATA_DIR]]]
#   bash tests/minihdfs/run.sh --build     # only resolve + compile, then exit
#
# HTTP_PORT (WebHDFS) defaults to 9870, RPC_PORT to 8020; 0 means a free port.
# DATA_DIR defaults to a new temp dir; it is deleted on clean shutdown.
# Prints "MINIHDFS READY http_port=N rpc_port=N" on stdout when ready; logs go
# to stderr (level: MINIHDFS_LOG_LEVEL, default WARN). Extra JVM options:
# MINIHDFS_JAVA_OPTS. Stops on Ctrl-C, SIGTERM or end of stdin (Ctrl-D).
# Commands on stdin: stop-namenode, start-namenode, restart-namenode,
# enter-safemode, leave-safemode. Without a terminal, keep stdin open:
#   sleep infinity | bash tests/minihdfs/run.sh &
#
# The Maven classpath and the compiled class are cached in
# ${XDG_CACHE_HOME:-~/.cache}/volnux-actors/minihdfs and rebuilt only when
# pom.xml or MiniHdfs.java change. Needs java 17 and, to build, mvn and javac.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/volnux-actors/minihdfs"
cp_file="$cache/classpath.txt"
class_file="$cache/classes/MiniHdfs.class"

is_fresh() {  # is_fresh TARGET SOURCE...: TARGET exists, newer than all SOURCEs
    local target="$1" src
    shift
    [[ -s "$target" ]] || return 1
    for src in "$@"; do
        [[ "$target" -nt "$src" ]] || return 1
    done
}

build() {
    if is_fresh "$cp_file" "$here/pom.xml" \
        && is_fresh "$class_file" "$here/MiniHdfs.java" "$cp_file"; then
        return 0
    fi
    local log out
    mkdir -p "$cache"
    # Serialize concurrent builds (parallel test workers share the cache).
    exec 9>"$cache/build.lock"
    if command -v flock >/dev/null; then
        flock 9
    fi
    # Tool output is shown only on failure (mvn -q still prints colour codes,
    # javac warns about sun.misc.Signal).
    if ! is_fresh "$cp_file" "$here/pom.xml"; then
        echo "minihdfs: resolving the Hadoop classpath with Maven" \
            "(the first time downloads about 250 MB)..." >&2
        if ! log="$(mvn -q -B -f "$here/pom.xml" dependency:build-classpath \
            -Dmdep.outputFile="$cp_file.tmp" 2>&1)"; then
            echo "$log" >&2
            return 1
        fi
        mv -f "$cp_file.tmp" "$cp_file"
    fi
    if ! is_fresh "$class_file" "$here/MiniHdfs.java" "$cp_file"; then
        echo "minihdfs: compiling MiniHdfs.java..." >&2
        out="$(mktemp -d "$cache/classes.XXXXXX")"
        if ! log="$(javac -d "$out" -cp "$(cat "$cp_file")" \
            "$here/MiniHdfs.java" 2>&1)"; then
            echo "$log" >&2
            rm -rf "$out"
            return 1
        fi
        chmod 755 "$out"
        rm -rf "$cache/classes"
        mv "$out" "$cache/classes"
    fi
    exec 9>&-
}

build
if [[ "${1:-}" == "--build" ]]; then
    exit 0
fi

http_port="${1:-9870}"
rpc_port="${2:-8020}"
data_dir="${3:-$(mktemp -d "${TMPDIR:-/tmp}/minihdfs.XXXXXX")}"
read -r -a java_opts <<<"${MINIHDFS_JAVA_OPTS:-}"

# No --add-opens needed: Hadoop 3.4.1 runs on Java 17 as is; jaxb-api (in the
# classpath) replaces the JAXB that Java 11+ dropped and WebHDFS needs.
exec "${JAVA:-java}" -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.net.preferIPv4Stack=true \
    -Dlog4j.configuration="file:$here/log4j.properties" \
    -Dminihdfs.log.level="${MINIHDFS_LOG_LEVEL:-WARN}" \
    ${java_opts[@]+"${java_opts[@]}"} \
    -cp "$cache/classes:$(cat "$cp_file")" \
    MiniHdfs "$http_port" "$rpc_port" "$data_dir"
