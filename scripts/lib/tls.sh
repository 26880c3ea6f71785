# Sourced by scripts/test after broker.sh: a second tansu broker behind a real
# TLS terminator (stunnel4), for the TLS tests. tansu speaks plaintext only, so
# stunnel terminates TLS with a certificate signed by a CA made here, requires
# a client certificate signed by the same CA (mutual TLS), and the broker
# advertises stunnel's port, so every connection a client makes is TLS.
# The client's private key is encrypted; its password is in a file the tests
# read into an environment variable (the way a user supplies it).
#
# Sets TIDEPOOL_TEST_TLS_BROKER (host:port of the TLS listener) and
# TIDEPOOL_TEST_TLS_DIR (ca.pem, client.pem, client.key, client.key.password,
# and db.pem / db.key: an unencrypted client certificate for the user
# tidepool_cert of the databases below).

start_tls_broker() {
    local dir tls_port conf log
    dir="$(mktemp -d -t tidepool-tls.XXXXXX)"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tidepool test CA" \
            -keyout ca.key -out ca.pem 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem 2>/dev/null
        openssl rand -hex 12 >client.key.password
        openssl req -newkey rsa:2048 -subj "/CN=tidepool test client" \
            -passout file:client.key.password -keyout client.key -out client.csr 2>/dev/null
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=tidepool_cert" -keyout db.key -out db.csr 2>/dev/null
        openssl x509 -req -in db.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out db.pem 2>/dev/null
        chmod 600 db.key
    )
    tls_port="$(free_port)"
    start_broker "$tls_port"
    conf="$dir/stunnel.conf"
    log="$dir/stunnel.log"
    cat >"$conf" <<CONF
foreground = yes
pid =
output = $log
[kafka-tls]
accept = 127.0.0.1:$tls_port
connect = $TIDEPOOL_BROKER
cert = $dir/server.pem
key = $dir/server.key
CAfile = $dir/ca.pem
verifyChain = yes
requireCert = yes
CONF
    printf '==> starting stunnel (TLS, client certificates required) on 127.0.0.1:%s in front of %s\n' "$tls_port" "$TIDEPOOL_BROKER"
    stunnel4 "$conf" >/dev/null 2>&1 &
    BROKER_PIDS+=("$!")
    wait_for_port "$tls_port" "$!" "$log"
    TIDEPOOL_TEST_TLS_BROKER="127.0.0.1:$tls_port"
    TIDEPOOL_TEST_TLS_DIR="$dir"
}

# A private MariaDB server that accepts TLS connections only, with a
# certificate for 127.0.0.1 signed by the CA start_tls_broker made (run that
# first), for the database TLS tests: the machine's own MariaDB has TLS off.
# root may log in from 127.0.0.1 without a password; the data lives in a
# temporary folder and goes with the server.
#
# Sets TIDEPOOL_TEST_TLS_MARIADB (host:port).
start_tls_mariadb() {
    local dir port log
    dir="$TIDEPOOL_TEST_TLS_DIR/mariadb"
    mkdir -p "$dir"
    log="$dir/server.log"
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
        || { cat "$dir/install.log" >&2; return 1; }
    port="$(free_port)"
    printf '==> starting a TLS-only MariaDB on 127.0.0.1:%s (log: %s)\n' "$port" "$log"
    mariadbd --no-defaults --datadir="$dir/data" --user="$(id -un)" --bind-address=127.0.0.1 --port="$port" \
        --socket="$dir/mariadb.sock" --pid-file="$dir/mariadb.pid" --skip-log-bin --innodb-buffer-pool-size=32M \
        --ssl-cert="$TIDEPOOL_TEST_TLS_DIR/server.pem" --ssl-key="$TIDEPOOL_TEST_TLS_DIR/server.key" \
        --ssl-ca="$TIDEPOOL_TEST_TLS_DIR/ca.pem" --require-secure-transport=ON >"$log" 2>&1 &
    BROKER_PIDS+=("$!")
    wait_for_port "$port" "$!" "$log"
    # A user that logs in with a client certificate of the test CA, no password.
    mariadb --no-defaults --socket="$dir/mariadb.sock" -u root \
        -e "CREATE USER tidepool_cert@'%' REQUIRE X509; GRANT SELECT ON mysql.* TO tidepool_cert@'%'"
    TIDEPOOL_TEST_TLS_MARIADB="127.0.0.1:$port"
}

# Runs a command as the postgres user when this script runs as root
# (PostgreSQL's server refuses to run as root), else as this user. setpriv
# execs the command itself (runuser would stay its parent and not pass on
# the TERM that stops the server). It execs: call it in a subshell.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    fi
    exec "$@"
}

# A private PostgreSQL server that accepts TLS connections only, with the
# certificate start_tls_broker made for 127.0.0.1, where the user
# tidepool_cert logs in with its client certificate (db.pem / db.key) and no
# password (`cert` authentication); others are trusted over TLS. The
# machine's own PostgreSQL is left as it is. Data in a temporary folder.
#
# Sets TIDEPOOL_TEST_CERT_POSTGRES (host:port).
start_cert_postgres() {
    local bin dir port log
    bin="$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$bin" ] || { echo "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql" >&2; return 1; }
    bin="$(dirname "$bin")"
    dir="$(mktemp -d -t tidepool-pg.XXXXXX)"
    cp "$TIDEPOOL_TEST_TLS_DIR/server.pem" "$TIDEPOOL_TEST_TLS_DIR/server.key" "$TIDEPOOL_TEST_TLS_DIR/ca.pem" "$dir/"
    chmod 600 "$dir/server.key"
    [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
    log="$dir/server.log"
    (cd "$dir" && as_postgres "$bin/initdb" --no-sync -A trust -U postgres -D "$dir/data" >"$dir/initdb.log" 2>&1) \
        || { cat "$dir/initdb.log" >&2; return 1; }
    printf 'local all all trust\nhostssl all tidepool_cert 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust\n' \
        >"$dir/data/pg_hba.conf"
    port="$(free_port)"
    printf '==> starting a TLS-only PostgreSQL with client-certificate login on 127.0.0.1:%s (log: %s)\n' "$port" "$log"
    (cd "$dir" && as_postgres "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
        -c ssl=on -c ssl_cert_file="$dir/server.pem" -c ssl_key_file="$dir/server.key" -c ssl_ca_file="$dir/ca.pem" \
        -c fsync=off -c shared_buffers=16MB >"$log" 2>&1) &
    BROKER_PIDS+=("$!")
    wait_for_port "$port" "$!" "$log"
    (cd "$dir" && as_postgres "$bin/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres -c "CREATE USER tidepool_cert")
    TIDEPOOL_TEST_CERT_POSTGRES="127.0.0.1:$port"
}
