# Sourced by scripts/test and scripts/bench: install (once) and start the
# tansu test broker on a free loopback port; stop it when the script exits.
# Sets TIDEPOOL_BROKER to host:port.

TANSU_VERSION=0.6.0
TOOLS="${TIDEPOOL_TOOLS:-$HOME/.cache/tidepool/tools}"
TANSU="$TOOLS/bin/tansu"

install_tansu() {
    if ! [ -x "$TANSU" ] || ! "$TANSU" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
        printf '\n==> installing the tansu %s test broker into %s (once; 12-20 minutes on 2 cores)\n' "$TANSU_VERSION" "$TOOLS"
        cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore --root "$TOOLS"
    fi
}

start_broker() {
    local port log
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    log="$(mktemp -t tidepool-tansu.XXXXXX.log)"
    printf '\n==> starting tansu on 127.0.0.1:%s (log: %s)\n' "$port" "$log"
    "$TANSU" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$log" 2>&1 &
    BROKER_PID=$!
    trap stop_broker EXIT
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            TIDEPOOL_BROKER="127.0.0.1:$port"
            return 0
        fi
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            echo "tansu exited during start-up:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "tansu did not listen on 127.0.0.1:$port within 10 s; log: $log" >&2
    return 1
}

stop_broker() {
    if [ -n "${BROKER_PID:-}" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
}
