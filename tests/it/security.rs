//! Secured and compressed clusters over the real protocol: a stream consumes
//! through a TLS terminator that requires a client certificate (whose key's
//! password comes from an environment variable), a zstd-compressed topic rolls
//! up exactly, and what only the user can fix — a missing secret, a
//! certificate that does not verify, SASL against a broker without it — fails
//! at once with words naming it, instead of a retry loop.
//!
//! `scripts/test` starts the TLS broker (tansu behind stunnel) and sets
//! `TIDEPOOL_TEST_TLS_BROKER` and `TIDEPOOL_TEST_TLS_DIR`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::*;

const KEY_PASSWORD_ENV: &str = "TIDEPOOL_TEST_KEY_PASSWORD";

struct TlsBroker {
    address: String,
    dir: PathBuf,
}

impl TlsBroker {
    fn from_env() -> Self {
        let address = std::env::var("TIDEPOOL_TEST_TLS_BROKER")
            .expect("TIDEPOOL_TEST_TLS_BROKER is not set: run the tests through scripts/test");
        let dir = std::env::var("TIDEPOOL_TEST_TLS_DIR").expect("TIDEPOOL_TEST_TLS_DIR is not set").into();
        Self { address, dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("utf-8 path").to_string()
    }

    fn key_password(&self) -> String {
        std::fs::read_to_string(self.dir.join("client.key.password")).expect("key password").trim().to_string()
    }

    /// Settings for the test's own clients (admin, producer).
    fn client_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("security.protocol", "SSL".into()),
            ("ssl.ca.location", self.file("ca.pem")),
            ("ssl.certificate.location", self.file("client.pem")),
            ("ssl.key.location", self.file("client.key")),
            ("ssl.key.password", self.key_password()),
        ]
    }

    fn config(&self, extra: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let owned = self.client_settings();
        let mut settings: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        settings.extend_from_slice(extra);
        client_config(&self.address, &settings)
    }

    /// The `[streams.kafka]` table of a stream on this broker.
    fn kafka_table(&self, ca: &str) -> String {
        format!(
            "[streams.kafka]\nsecurity_protocol = \"SSL\"\nca_file = \"{ca}\"\ncertificate_file = \"{}\"\n\
             key_file = \"{}\"\nkey_password_env = \"{KEY_PASSWORD_ENV}\"\n",
            self.file("client.pem"),
            self.file("client.key"),
        )
    }
}

#[test]
fn a_stream_consumes_over_mutual_tls_with_the_key_password_from_the_environment() {
    let tls = TlsBroker::from_env();
    let topic = unique_topic("tls");
    create_topic_with(&tls.config(&[]), &topic, 2);
    let events = generate_events(1_500, 2, 1_764_000_000_000, 900, 21);
    let producer = producer_with(tls.config(&[("compression.type", "zstd")]));
    produce_with(&producer, &topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());

    let sandbox = Sandbox::new();
    let workbook =
        sandbox.write_workbook(&workbook_with_client(&tls.address, &topic, &tls.kafka_table(&tls.file("ca.pem"))));
    let output = sandbox
        .command(&["run", path_str(&workbook), "--until-caught-up", "--give-up-after", "60s"])
        .env(KEY_PASSWORD_ENV, tls.key_password())
        .output()
        .unwrap();
    assert_success(&output, "run over TLS");
    assert!(stdout(&output).contains("shop: 1500 events"), "{}", stdout(&output));
    assert_export_matches(&sandbox, &workbook, &events, 60_000);
}

#[test]
fn a_zstd_compressed_topic_rolls_up_exactly() {
    let topic = unique_topic("zstd");
    create_topic(&topic, 3);
    let events = generate_events(4_000, 3, 1_764_000_000_000, 400, 5);
    let producer = producer_with(client_config(&broker(), &[("compression.type", "zstd"), ("linger.ms", "50")]));
    produce_with(&producer, &topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "1m"));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("shop: 4000 events, 0 quarantined"), "{}", stdout(&output));
    assert_export_matches(&sandbox, &workbook, &events, 60_000);
}

/// Runs `run --until-caught-up` with a long give-up time; what only the user
/// can fix must fail well before it.
fn run_expecting_prompt_failure(sandbox: &Sandbox, workbook: &std::path::Path, env: &[(&str, String)]) -> String {
    let started = Instant::now();
    let mut command = sandbox.command(&["run", path_str(workbook), "--until-caught-up", "--give-up-after", "120s"]);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "expected a failure: {}", stdout(&output));
    let message = stderr(&output);
    assert!(!message.contains("gave up after"), "a failure retrying cannot fix must not wait to give up: {message}");
    assert!(started.elapsed() < Duration::from_secs(100), "took {:?}: {message}", started.elapsed());
    assert!(!message.contains("panicked"), "{message}");
    message
}

#[test]
fn a_missing_secret_names_its_environment_variable_and_fails_at_once() {
    let tls = TlsBroker::from_env();
    let sandbox = Sandbox::new();
    let workbook =
        sandbox.write_workbook(&workbook_with_client(&tls.address, "any-topic", &tls.kafka_table(&tls.file("ca.pem"))));
    let message = run_expecting_prompt_failure(&sandbox, &workbook, &[]);
    assert!(message.contains(KEY_PASSWORD_ENV) && message.contains("not set"), "{message}");
}

#[test]
fn a_certificate_that_does_not_verify_fails_at_once_and_says_so() {
    let tls = TlsBroker::from_env();
    let sandbox = Sandbox::new();
    // Trust the client certificate as if it were the CA: the broker's certificate does not verify.
    let workbook = sandbox.write_workbook(&workbook_with_client(
        &tls.address,
        "any-topic",
        &tls.kafka_table(&tls.file("client.pem")),
    ));
    let message = run_expecting_prompt_failure(&sandbox, &workbook, &[(KEY_PASSWORD_ENV, tls.key_password())]);
    assert!(message.to_ascii_lowercase().contains("certificate"), "{message}");
    assert!(message.contains(&tls.address), "names the broker: {message}");
}

#[test]
fn every_sasl_mechanism_is_built_in_and_a_broker_without_sasl_is_reported() {
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        let topic = unique_topic("sasl");
        create_topic(&topic, 1);
        let sandbox = Sandbox::new();
        let mut kafka = format!(
            "[streams.kafka]\nsecurity_protocol = \"SASL_PLAINTEXT\"\nsasl_mechanism = \"{mechanism}\"\n\
             sasl_username = \"analyst\"\npassword_env = \"TIDEPOOL_TEST_SASL_PASSWORD\"\n"
        );
        if mechanism == "OAUTHBEARER" {
            // librdkafka's unsecured JWT, so no identity provider is needed.
            kafka = "[streams.kafka]\nsecurity_protocol = \"SASL_PLAINTEXT\"\nsasl_mechanism = \"OAUTHBEARER\"\n\
                     properties = { \"sasl.oauthbearer.config\" = \"principal=analyst\", \
                     \"enable.sasl.oauthbearer.unsecure.jwt\" = \"true\" }\n"
                .to_string();
        }
        let workbook = sandbox.write_workbook(&workbook_with_client(&broker(), &topic, &kafka));
        let started = Instant::now();
        let output = sandbox
            .command(&["run", path_str(&workbook), "--until-caught-up", "--give-up-after", "8s"])
            .env("TIDEPOOL_TEST_SASL_PASSWORD", "not-used-by-this-broker")
            .output()
            .unwrap();
        let message = stderr(&output);
        assert!(
            !output.status.success(),
            "{mechanism}: a broker without SASL cannot authenticate: {}",
            stdout(&output)
        );
        assert!(!message.contains("Unsupported value") && !message.contains("No provider"), "{mechanism}: {message}");
        assert!(message.contains(&broker()), "{mechanism}: names the broker: {message}");
        assert!(started.elapsed() < Duration::from_mins(1), "{mechanism}: {:?}", started.elapsed());
    }
}

/// The editor's "Test connection" says which stage failed, through the real network and broker.
#[test]
fn a_connection_test_names_the_stage_that_failed() {
    use tidepool::engine::discovery::{ConnectionStage, test_connection};
    use tidepool::model::KafkaClientSpec;
    let plain = KafkaClientSpec::default();
    let stage = |brokers: &str, client: &KafkaClientSpec, topic: Option<&str>| {
        test_connection(brokers, client, topic).map_err(|failure| (failure.stage, failure.message))
    };
    let (failed, message) = stage("no-such-host.invalid:9092", &plain, None).unwrap_err();
    assert_eq!(failed, ConnectionStage::NameResolution, "{message}");
    let (failed, message) = stage("127.0.0.1:1", &plain, None).unwrap_err();
    assert_eq!(failed, ConnectionStage::Tcp, "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");

    let tls = TlsBroker::from_env();
    // scripts/test exports the key's password as TIDEPOOL_TEST_TLS_KEY_PASSWORD; nothing sets the other name.
    let secured = |ca: &str, password_env: &str| KafkaClientSpec {
        security_protocol: Some("SSL".into()),
        ca_file: Some(tls.file(ca)),
        certificate_file: Some(tls.file("client.pem")),
        key_file: Some(tls.file("client.key")),
        key_password_env: Some(password_env.into()),
        ..KafkaClientSpec::default()
    };
    let (failed, message) = stage(&tls.address, &secured("ca.pem", "TIDEPOOL_TEST_NEVER_SET"), None).unwrap_err();
    assert_eq!(failed, ConnectionStage::Kafka, "a missing secret is named: {message}");
    assert!(message.contains("TIDEPOOL_TEST_NEVER_SET"), "{message}");
    let secured = |ca: &str| secured(ca, "TIDEPOOL_TEST_TLS_KEY_PASSWORD");
    let (failed, message) = stage(&tls.address, &secured("client.pem"), None).unwrap_err();
    assert_eq!(failed, ConnectionStage::Tls, "{message}");
    let topic = unique_topic("connection");
    create_topic_with(&tls.config(&[]), &topic, 3);
    let (failed, message) = stage(&tls.address, &secured("ca.pem"), Some("no-such-topic-here")).unwrap_err();
    assert_eq!(failed, ConnectionStage::Topic, "{message}");
    let answer = stage(&tls.address, &secured("ca.pem"), Some(&topic)).unwrap();
    assert!(answer.contains("3 partition"), "{answer}");
}
