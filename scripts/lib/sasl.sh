# Sourced by scripts/test after broker.sh and tls.sh: a broker that
# authenticates with SCRAM, behind TLS, for the SASL_SSL tests.
#
# tansu 0.6.0 keeps SCRAM credentials only in its SQLite (libsql) and
# PostgreSQL stores: its memory and S3 stores answer `tansu user create` with
# success and forget the user, and the prebuilt broker has neither of the
# others. So this builds tansu with the `libsql` feature once into $TOOLS_SQLITE
# (about 15 minutes on 2 cores), which makes its own schema in a SQLite file,
# creates the users through a broker without authentication on that file
# (AlterUserScramCredentials, then it stops), and starts the authenticating
# broker on the same file behind stunnel (TLS with a server certificate of the
# test CA start_tls_broker made), advertising stunnel's port: every client
# connection is TLS, then SCRAM.
#
# Sets TIDEPOOL_TEST_SASL_BROKER (host:port of the TLS listener) and
# TIDEPOOL_TEST_SCRAM_PASSWORD (the password of the users tidepool512, with
# SCRAM-SHA-512, and tidepool256, with SCRAM-SHA-256) and
# TIDEPOOL_TEST_SCRAM_WRONG_PASSWORD (a password of neither, for the tests that
# read a password from their own process's environment).

TOOLS_SQLITE="${TIDEPOOL_TOOLS_SQLITE:-$HOME/.cache/tidepool/tools-sqlite}"

install_tansu_sqlite() {
    TANSU_SQLITE="$TOOLS_SQLITE/bin/tansu"
    if ! tansu_ok "$TANSU_SQLITE"; then
        printf '\n==> building tansu %s with SQLite storage (SCRAM users) into %s (once; about 15 minutes on 2 cores)\n' \
            "$TANSU_VERSION" "$TOOLS_SQLITE"
        cargo install tansu --version "$TANSU_VERSION" --locked --features libsql --root "$TOOLS_SQLITE"
    fi
}

start_sasl_broker() {
    local dir admin_port admin_log admin_pid port tls_port log conf stunnel_log
    install_tansu_sqlite
    # The broker's SQLite file (sqlite://tansu.db) lives in a folder of its own.
    dir="$(mktemp -d -t tidepool-sasl.XXXXXX)"
    TIDEPOOL_TEST_SCRAM_PASSWORD="$(openssl rand -hex 12)"
    TIDEPOOL_TEST_SCRAM_WRONG_PASSWORD="wrong-$(openssl rand -hex 6)"
    admin_port="$(free_port)"
    admin_log="$dir/admin.log"
    (cd "$dir" && exec "$TANSU_SQLITE" broker --listener-url "tcp://127.0.0.1:$admin_port" \
        --advertised-listener-url "tcp://127.0.0.1:$admin_port" --storage-engine sqlite://tansu.db) >"$admin_log" 2>&1 &
    admin_pid="$!"
    BROKER_PIDS+=("$admin_pid")
    trap stop_services EXIT
    wait_for_port "$admin_port" "$admin_pid" "$admin_log"
    "$TANSU_SQLITE" user create --broker "tcp://127.0.0.1:$admin_port" --mechanism scram512 \
        tidepool512 "$TIDEPOOL_TEST_SCRAM_PASSWORD"
    "$TANSU_SQLITE" user create --broker "tcp://127.0.0.1:$admin_port" --mechanism scram256 \
        tidepool256 "$TIDEPOOL_TEST_SCRAM_PASSWORD"
    kill "$admin_pid" && wait "$admin_pid" 2>/dev/null || true

    port="$(free_port)"
    tls_port="$(free_port)"
    log="$dir/broker.log"
    printf '==> starting tansu with SCRAM authentication on 127.0.0.1:%s behind stunnel on %s (log: %s)\n' \
        "$port" "$tls_port" "$log"
    (cd "$dir" && exec "$TANSU_SQLITE" broker --authentication --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$tls_port" --storage-engine sqlite://tansu.db) >"$log" 2>&1 &
    BROKER_PIDS+=("$!")
    wait_for_port "$port" "$!" "$log"

    conf="$dir/stunnel.conf"
    stunnel_log="$dir/stunnel.log"
    cat >"$conf" <<CONF
foreground = yes
pid =
output = $stunnel_log
[kafka-sasl-ssl]
accept = 127.0.0.1:$tls_port
connect = 127.0.0.1:$port
cert = $TIDEPOOL_TEST_TLS_DIR/server.pem
key = $TIDEPOOL_TEST_TLS_DIR/server.key
CONF
    stunnel4 "$conf" >/dev/null 2>&1 &
    BROKER_PIDS+=("$!")
    wait_for_port "$tls_port" "$!" "$stunnel_log"
    TIDEPOOL_TEST_SASL_BROKER="127.0.0.1:$tls_port"
}
