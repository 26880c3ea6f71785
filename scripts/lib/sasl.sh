# Sourced by scripts/test after broker.sh and tls.sh: a broker that
# authenticates with SCRAM, behind TLS, for the SASL_SSL tests.
#
# tansu 0.6.0 keeps SCRAM credentials only in its PostgreSQL storage (its
# memory and S3 stores answer `tansu user create` with success and forget the
# user), and the prebuilt broker has no PostgreSQL storage. So this builds
# tansu with the `postgres` feature once into $TOOLS_PG (12-20 minutes on 2
# cores), gives it a database of its own on the machine's PostgreSQL
# (127.0.0.1:5432) with tansu's own schema, creates the users through a broker
# without authentication on that storage (AlterUserScramCredentials, then it
# stops), and starts the authenticating broker behind stunnel (TLS with a
# server certificate of the test CA start_tls_broker made), advertising
# stunnel's port: every client connection is TLS, then SCRAM.
#
# Sets TIDEPOOL_TEST_SASL_BROKER (host:port of the TLS listener) and
# TIDEPOOL_TEST_SCRAM_PASSWORD (the password of the users tidepool512, with
# SCRAM-SHA-512, and tidepool256, with SCRAM-SHA-256) and
# TIDEPOOL_TEST_SCRAM_WRONG_PASSWORD (a password of neither, for the tests that
# read a password from their own process's environment).

TOOLS_PG="${TIDEPOOL_TOOLS_PG:-$HOME/.cache/tidepool/tools-pg}"
SASL_DATABASE=tidepool_sasl_broker
SASL_STORAGE="postgres://postgres@127.0.0.1:5432/$SASL_DATABASE"

install_tansu_pg() {
    TANSU_PG="$TOOLS_PG/bin/tansu"
    if ! tansu_ok "$TANSU_PG"; then
        printf '\n==> building tansu %s with PostgreSQL storage (SCRAM users) into %s (once; 12-20 minutes on 2 cores)\n' \
            "$TANSU_VERSION" "$TOOLS_PG"
        cargo install tansu --version "$TANSU_VERSION" --locked --features postgres --root "$TOOLS_PG"
    fi
}

# The directory of tansu-storage's schema files (src/ddl), fetched into
# cargo's registry when the build above did not leave them there.
tansu_ddl_dir() {
    local registry="${CARGO_HOME:-$HOME/.cargo}/registry/src" found project
    found="$(find "$registry" -maxdepth 4 -type d -path "*/tansu-storage-$TANSU_VERSION/src/ddl" 2>/dev/null | head -n 1)"
    if [ -z "$found" ]; then
        project="$(mktemp -d -t tidepool-tansu-ddl.XXXXXX)"
        mkdir -p "$project/src"
        printf '[package]\nname = "fetch-tansu-ddl"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\ntansu-storage = "=%s"\n' \
            "$TANSU_VERSION" >"$project/Cargo.toml"
        : >"$project/src/lib.rs"
        (cd "$project" && cargo fetch --quiet) >&2
        found="$(find "$registry" -maxdepth 4 -type d -path "*/tansu-storage-$TANSU_VERSION/src/ddl" | head -n 1)"
    fi
    [ -n "$found" ] || { echo "cannot find tansu-storage $TANSU_VERSION's schema (src/ddl)" >&2; return 1; }
    printf '%s\n' "$found"
}

start_sasl_broker() {
    local ddl admin_port admin_log admin_pid port tls_port log conf stunnel_log dir
    install_tansu_pg
    ddl="$(tansu_ddl_dir)"
    printf '\n==> a database for the SCRAM broker: %s on 127.0.0.1:5432 (schema from %s)\n' "$SASL_DATABASE" "$ddl"
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS $SASL_DATABASE WITH (FORCE)" -c "CREATE DATABASE $SASL_DATABASE"
    for file in "$ddl"/*.sql; do
        psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d "$SASL_DATABASE" -f "$file" >/dev/null
    done

    TIDEPOOL_TEST_SCRAM_PASSWORD="$(openssl rand -hex 12)"
    TIDEPOOL_TEST_SCRAM_WRONG_PASSWORD="wrong-$(openssl rand -hex 6)"
    admin_port="$(free_port)"
    admin_log="$(mktemp -t tidepool-tansu-admin.XXXXXX.log)"
    "$TANSU_PG" broker --listener-url "tcp://127.0.0.1:$admin_port" \
        --advertised-listener-url "tcp://127.0.0.1:$admin_port" --storage-engine "$SASL_STORAGE" >"$admin_log" 2>&1 &
    admin_pid="$!"
    BROKER_PIDS+=("$admin_pid")
    trap stop_services EXIT
    wait_for_port "$admin_port" "$admin_pid" "$admin_log"
    "$TANSU_PG" user create --broker "tcp://127.0.0.1:$admin_port" --mechanism scram512 \
        tidepool512 "$TIDEPOOL_TEST_SCRAM_PASSWORD"
    "$TANSU_PG" user create --broker "tcp://127.0.0.1:$admin_port" --mechanism scram256 \
        tidepool256 "$TIDEPOOL_TEST_SCRAM_PASSWORD"
    kill "$admin_pid" && wait "$admin_pid" 2>/dev/null || true

    port="$(free_port)"
    tls_port="$(free_port)"
    log="$(mktemp -t tidepool-tansu-sasl.XXXXXX.log)"
    printf '==> starting tansu with SCRAM authentication on 127.0.0.1:%s behind stunnel on %s (log: %s)\n' \
        "$port" "$tls_port" "$log"
    "$TANSU_PG" broker --authentication --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$tls_port" --storage-engine "$SASL_STORAGE" >"$log" 2>&1 &
    BROKER_PIDS+=("$!")
    wait_for_port "$port" "$!" "$log"

    dir="$TIDEPOOL_TEST_TLS_DIR"
    conf="$dir/stunnel-sasl.conf"
    stunnel_log="$dir/stunnel-sasl.log"
    cat >"$conf" <<CONF
foreground = yes
pid =
output = $stunnel_log
[kafka-sasl-ssl]
accept = 127.0.0.1:$tls_port
connect = 127.0.0.1:$port
cert = $dir/server.pem
key = $dir/server.key
CONF
    stunnel4 "$conf" >/dev/null 2>&1 &
    BROKER_PIDS+=("$!")
    wait_for_port "$tls_port" "$!" "$stunnel_log"
    TIDEPOOL_TEST_SASL_BROKER="127.0.0.1:$tls_port"
}
