//! A broker that really authenticates with SCRAM, over TLS (`SASL_SSL`): a
//! stream consumes a zstd-compressed topic with SCRAM-SHA-512 and another with
//! SCRAM-SHA-256 and rolls up exactly; a wrong password fails at once with the
//! authentication error, in `run` and in the editor's connection test.
//!
//! `scripts/test` starts the broker (tansu with its SQLite store, which keeps
//! SCRAM users, behind stunnel) and sets `TIDEPOOL_TEST_SASL_BROKER`,
//! `TIDEPOOL_TEST_SCRAM_PASSWORD` and `TIDEPOOL_TEST_TLS_DIR` (its CA).

use std::time::{Duration, Instant};

use crate::support::*;

/// The environment variable the streams under test read their SASL password from.
const PASSWORD_ENV: &str = "TIDEPOOL_TEST_STREAM_SCRAM_PASSWORD";

struct ScramBroker {
    address: String,
    password: String,
    ca_file: String,
}

impl ScramBroker {
    fn from_env() -> Self {
        let variable = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests through scripts/test"))
        };
        let ca = std::path::Path::new(&variable("TIDEPOOL_TEST_TLS_DIR")).join("ca.pem");
        Self {
            address: variable("TIDEPOOL_TEST_SASL_BROKER"),
            password: variable("TIDEPOOL_TEST_SCRAM_PASSWORD"),
            ca_file: ca.to_str().expect("utf-8 path").to_string(),
        }
    }

    /// The test's own clients (admin, producer) as `user` with `mechanism`.
    fn config(&self, user: &str, mechanism: &str, extra: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let mut settings = vec![
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", self.ca_file.as_str()),
            ("sasl.mechanisms", mechanism),
            ("sasl.username", user),
            ("sasl.password", self.password.as_str()),
        ];
        settings.extend_from_slice(extra);
        client_config(&self.address, &settings)
    }

    /// The `[streams.kafka]` table of a stream on this broker: no secret in it.
    fn kafka_table(&self, user: &str, mechanism: &str) -> String {
        format!(
            "[streams.kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"{mechanism}\"\n\
             sasl_username = \"{user}\"\npassword_env = \"{PASSWORD_ENV}\"\nca_file = \"{}\"\n",
            self.ca_file
        )
    }

    /// Client settings for the connection test, the password read from `password_env`.
    fn client_spec(&self, user: &str, mechanism: &str, password_env: &str) -> tidepool::model::KafkaClientSpec {
        tidepool::model::KafkaClientSpec {
            security_protocol: Some("SASL_SSL".into()),
            sasl_mechanism: Some(mechanism.into()),
            sasl_username: Some(user.into()),
            password_env: Some(password_env.into()),
            ca_file: Some(self.ca_file.clone()),
            ..tidepool::model::KafkaClientSpec::default()
        }
    }
}

#[test]
fn streams_consume_over_tls_with_scram_sha_512_and_256_and_roll_up_exactly() {
    let broker = ScramBroker::from_env();
    for (user, mechanism, compression, seed) in
        [("tidepool512", "SCRAM-SHA-512", "zstd", 31), ("tidepool256", "SCRAM-SHA-256", "lz4", 32)]
    {
        let topic = unique_topic("scram");
        create_topic_with(&broker.config(user, mechanism, &[]), &topic, 2);
        let events = generate_events(1_200, 2, 1_764_000_000_000, 900, seed);
        let producer = producer_with(broker.config(user, mechanism, &[("compression.type", compression)]));
        produce_with(&producer, &topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());

        let sandbox = Sandbox::new();
        let workbook = sandbox.write_workbook(&workbook_with_client(
            &broker.address,
            &topic,
            &broker.kafka_table(user, mechanism),
        ));
        let output = sandbox
            .command(&["run", path_str(&workbook), "--until-caught-up", "--give-up-after", "60s"])
            .env(PASSWORD_ENV, &broker.password)
            .output()
            .unwrap();
        assert_success(&output, &format!("run with {mechanism} over TLS"));
        assert!(stdout(&output).contains("shop: 1200 events, 0 quarantined"), "{mechanism}: {}", stdout(&output));
        assert!(!stderr(&output).contains(&broker.password), "the password never shows");
        assert_export_matches(&sandbox, &workbook, &events, 60_000);
    }
}

#[test]
fn a_wrong_scram_password_fails_at_once_with_the_authentication_error() {
    let broker = ScramBroker::from_env();
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&workbook_with_client(
        &broker.address,
        "any-topic",
        &broker.kafka_table("tidepool512", "SCRAM-SHA-512"),
    ));
    let started = Instant::now();
    let output = sandbox
        .command(&["run", path_str(&workbook), "--until-caught-up", "--give-up-after", "120s"])
        .env(PASSWORD_ENV, "not-the-password")
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(!output.status.success(), "a wrong password cannot consume: {}", stdout(&output));
    assert!(!message.contains("gave up after"), "no retry loop for what only the user can fix: {message}");
    assert!(started.elapsed() < Duration::from_mins(1), "took {:?}: {message}", started.elapsed());
    assert!(message.contains("rejected the credentials"), "{message}");
    assert!(message.contains(&broker.address), "names the broker: {message}");
    assert!(!message.contains("not-the-password"), "the password never shows: {message}");
}

/// The editor's "Test connection" tells a wrong password (authentication) from a right one.
#[test]
fn a_connection_test_tells_a_wrong_scram_password_from_a_right_one() {
    use tidepool::engine::discovery::{ConnectionStage, test_connection};
    let broker = ScramBroker::from_env();
    let topic = unique_topic("scram-test");
    create_topic_with(&broker.config("tidepool256", "SCRAM-SHA-256", &[]), &topic, 1);
    // The connection test reads the password from this process's environment,
    // as the window does: scripts/test exports the right one and a wrong one.
    let test = |password_env: &str| {
        test_connection(
            &broker.address,
            &broker.client_spec("tidepool256", "SCRAM-SHA-256", password_env),
            Some(&topic),
        )
    };
    let failure = test("TIDEPOOL_TEST_SCRAM_WRONG_PASSWORD").unwrap_err();
    assert_eq!(failure.stage, ConnectionStage::Authentication, "{}", failure.message);
    let answer = test("TIDEPOOL_TEST_SCRAM_PASSWORD").unwrap();
    assert!(answer.contains("1 partition"), "{answer}");
}
