# Sourced by scripts/test after broker.sh: a second tansu broker behind a real
# TLS terminator (stunnel4), for the TLS tests. tansu speaks plaintext only, so
# stunnel terminates TLS with a certificate signed by a CA made here, requires
# a client certificate signed by the same CA (mutual TLS), and the broker
# advertises stunnel's port, so every connection a client makes is TLS.
# The client's private key is encrypted; its password is in a file the tests
# read into an environment variable (the way a user supplies it).
#
# Sets TIDEPOOL_TEST_TLS_BROKER (host:port of the TLS listener) and
# TIDEPOOL_TEST_TLS_DIR (ca.pem, client.pem, client.key, client.key.password).

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
    TIDEPOOL_TEST_TLS_MARIADB="127.0.0.1:$port"
}
