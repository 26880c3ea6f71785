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
