//! The stream editor window: brokers and a topic picker listing the broker's
//! topics, a sample of messages with the detected fields, the time field,
//! granularity, dimensions and metrics, validated as the user types.

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::Action;
use crate::engine::discovery::{FieldKind, TopicSample};
use crate::model::workbook::{SASL_MECHANISMS, SECURITY_PROTOCOLS};
use crate::model::{MetricKind, TimeFormat};
use crate::ui::editor::{MetricDraft, StreamDraft, can_be_dimension, time_format_name};
use crate::ui::session::Session;
use crate::ui::widgets::{ask_before_discarding, cancel_or_discard_ui};

const METRIC_KINDS: [MetricKind; 9] = [
    MetricKind::Count,
    MetricKind::Sum,
    MetricKind::Min,
    MetricKind::Max,
    MetricKind::Mean,
    MetricKind::First,
    MetricKind::Last,
    MetricKind::ApproxDistinct,
    MetricKind::Quantiles,
];
const TIME_FORMATS: [TimeFormat; 5] =
    [TimeFormat::EpochMs, TimeFormat::EpochS, TimeFormat::EpochUs, TimeFormat::Rfc3339, TimeFormat::Kafka];
const GRANULARITIES: [&str; 9] = ["1s", "10s", "30s", "1m", "5m", "15m", "1h", "6h", "1d"];

/// Draws the editor over the window; edits `draft` in place and returns actions.
pub fn editor_window_ui(ctx: &egui::Context, draft: &mut StreamDraft, session: &Session) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut open = true;
    let title = if draft.original.is_some() { "Edit stream" } else { "New stream" };
    egui::Window::new(title)
        .open(&mut open)
        .default_width(760.0)
        .collapsible(false)
        .anchor(egui::Align2::CENTER_TOP, [0.0, 48.0])
        .show(ctx, |ui| {
            let sample = session
                .sample
                .as_ref()
                .filter(|(brokers, topic, _)| *brokers == draft.brokers && *topic == draft.topic)
                .and_then(|(_, _, answer)| answer.as_ref());
            // The form scrolls; the problem line and the buttons below it stay in view.
            let form_height = (ctx.content_rect().height() - 220.0).max(200.0);
            egui::ScrollArea::vertical().id_salt("stream_form").max_height(form_height).show(ui, |ui| {
                form_ui(ui, draft, session, sample, &mut actions);
            });
            ui.separator();
            let other_names = session.workbook.streams.iter().map(|stream| stream.name.as_str());
            let checked = match draft.name_problem(other_names) {
                Some(problem) => Err(problem),
                None => draft.to_spec(),
            };
            let unknown =
                sample.and_then(|s| s.as_ref().ok()).map(|s| draft.unknown_fields(&s.fields)).unwrap_or_default();
            if let Err(problem) = &checked {
                ui.colored_label(ui.visuals().error_fg_color, format!("Problem: {problem}"));
            } else if !unknown.is_empty() {
                ui.colored_label(ui.visuals().warn_fg_color, format!("Not seen in the sample: {}", unknown.join(", ")));
            }
            ui.horizontal(|ui| {
                if ui.add_enabled(checked.is_ok(), egui::Button::new("Save stream")).clicked()
                    && let Ok(spec) = checked
                {
                    actions.push(Action::SaveStream(Box::new(spec), draft.original.clone()));
                }
                let changed = draft.is_changed();
                if cancel_or_discard_ui(ui, &mut draft.confirming_cancel, changed) {
                    actions.push(Action::CloseEditor);
                }
            });
        });
    if !open {
        cancel(draft, &mut actions);
    }
    actions
}

/// The form itself: source, sampled fields, rollup.
fn form_ui(
    ui: &mut Ui,
    draft: &mut StreamDraft,
    session: &Session,
    sample: Option<&Result<TopicSample, String>>,
    actions: &mut Vec<Action>,
) {
    source_ui(ui, draft, session, actions);
    ui.separator();
    match sample {
        Some(Ok(sample)) => {
            if draft.name.is_empty() || draft.time_field.is_empty() {
                draft.adopt_sample(&sample.fields);
            }
            fields_ui(ui, draft, sample);
        }
        Some(Err(message)) => {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
        None if !draft.topic.is_empty() => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Sampling messages…");
            });
        }
        None => {
            ui.weak("Pick a topic to see its fields.");
        }
    }
    ui.separator();
    rollup_ui(ui, draft, sample.and_then(|s| s.as_ref().ok()));
}

/// Closes the editor, or asks first when the form was changed.
fn cancel(draft: &mut StreamDraft, actions: &mut Vec<Action>) {
    let changed = draft.is_changed();
    if ask_before_discarding(&mut draft.confirming_cancel, changed) {
        actions.push(Action::CloseEditor);
    }
}

fn source_ui(ui: &mut Ui, draft: &mut StreamDraft, session: &Session, actions: &mut Vec<Action>) {
    egui::Grid::new("stream_source").num_columns(2).show(ui, |ui| {
        ui.label("Name");
        ui.text_edit_singleline(&mut draft.name);
        ui.end_row();
        ui.label("Brokers");
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut draft.brokers).hint_text("host:9092"));
            if ui.button("List topics").clicked() {
                actions.push(Action::ListTopics(draft.brokers.clone(), Box::new(draft.client_spec())));
            }
        });
        ui.end_row();
        ui.label("Topic");
        let topics = session.topics.as_ref().filter(|(brokers, _)| *brokers == draft.brokers).map(|(_, answer)| answer);
        ui.horizontal(|ui| match topics {
            Some(Some(Ok(topics))) => {
                ui.vertical(|ui| {
                    if topics.is_empty() {
                        ui.weak("the broker has no topics");
                    }
                    egui::ScrollArea::vertical().id_salt("topic_list").max_height(110.0).show(ui, |ui| {
                        for topic in topics {
                            let label = format!("{} ({} partitions)", topic.name, topic.partitions);
                            if ui.selectable_label(draft.topic == topic.name, label).clicked() {
                                draft.topic.clone_from(&topic.name);
                                actions.push(Action::SampleTopic(
                                    draft.brokers.clone(),
                                    Box::new(draft.client_spec()),
                                    topic.name.clone(),
                                ));
                            }
                        }
                    });
                });
            }
            Some(Some(Err(message))) => {
                ui.colored_label(ui.visuals().error_fg_color, message);
            }
            Some(None) => {
                ui.spinner();
                ui.label("asking the broker…");
            }
            None => {
                ui.weak("List the broker's topics first");
            }
        });
        ui.end_row();
        ui.label("Start at");
        start_ui(ui, draft);
        ui.end_row();
    });
    connection_ui(ui, draft, session, actions);
}

/// Where a new stream starts: the oldest message, the newest, or a point in time.
fn start_ui(ui: &mut Ui, draft: &mut StreamDraft) {
    let at_time = !matches!(draft.start.as_str(), "earliest" | "latest");
    let shown = if at_time { "a point in time".to_string() } else { draft.start.clone() };
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("start").selected_text(shown).show_ui(ui, |ui| {
            for start in ["earliest", "latest"] {
                ui.selectable_value(&mut draft.start, start.to_string(), start);
            }
            if ui.selectable_label(at_time, "a point in time").clicked() && !at_time {
                if draft.start_time.is_empty() {
                    draft.start_time = chrono::Utc::now().format("%Y-%m-%dT%H:00:00Z").to_string();
                }
                draft.start.clone_from(&draft.start_time);
            }
        });
        if at_time {
            let edit = ui.add(
                egui::TextEdit::singleline(&mut draft.start).desired_width(200.0).hint_text("2026-11-20T00:00:00Z"),
            );
            if edit.changed() {
                draft.start_time.clone_from(&draft.start);
            }
            ui.weak("UTC, or with an offset");
        }
    });
}

/// The client settings of a secured cluster, and a stage-by-stage connection test.
fn connection_ui(ui: &mut Ui, draft: &mut StreamDraft, session: &Session, actions: &mut Vec<Action>) {
    let secured = !draft.client.security_protocol.is_empty();
    egui::CollapsingHeader::new("Connection (TLS, SASL)").id_salt("connection").default_open(secured).show(ui, |ui| {
        let client = &mut draft.client;
        egui::Grid::new("stream_connection").num_columns(2).show(ui, |ui| {
            ui.label("Security");
            let shown = if client.security_protocol.is_empty() { "PLAINTEXT" } else { &client.security_protocol };
            egui::ComboBox::from_id_salt("security_protocol").selected_text(shown.to_string()).show_ui(ui, |ui| {
                for protocol in SECURITY_PROTOCOLS {
                    let value = if protocol == "PLAINTEXT" { String::new() } else { protocol.to_string() };
                    ui.selectable_value(&mut client.security_protocol, value, protocol);
                }
            });
            ui.end_row();
            if client.security_protocol.starts_with("SASL") {
                ui.label("Mechanism");
                let shown = if client.sasl_mechanism.is_empty() { "pick one" } else { &client.sasl_mechanism };
                egui::ComboBox::from_id_salt("sasl_mechanism").selected_text(shown.to_string()).show_ui(ui, |ui| {
                    for mechanism in SASL_MECHANISMS {
                        ui.selectable_value(&mut client.sasl_mechanism, mechanism.to_string(), mechanism);
                    }
                });
                ui.end_row();
                ui.label("User");
                ui.text_edit_singleline(&mut client.sasl_username);
                ui.end_row();
                ui.label("Password from");
                ui.add(egui::TextEdit::singleline(&mut client.password_env).hint_text("KAFKA_PASSWORD")).on_hover_text(
                    "the environment variable that holds the password; the password never goes into the workbook",
                );
                ui.end_row();
            }
            if client.security_protocol.ends_with("SSL") {
                ui.label("CA file");
                ui.add(egui::TextEdit::singleline(&mut client.ca_file).hint_text("system CAs when empty"));
                ui.end_row();
                ui.label("Client certificate");
                ui.add(egui::TextEdit::singleline(&mut client.certificate_file).hint_text("only for mutual TLS"));
                ui.end_row();
                ui.label("Client key");
                ui.add(egui::TextEdit::singleline(&mut client.key_file).hint_text("PEM file"));
                ui.end_row();
                ui.label("Key password from");
                ui.add(egui::TextEdit::singleline(&mut client.key_password_env).hint_text("KEY_PASSWORD"))
                    .on_hover_text("the environment variable that holds the key's password");
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            if ui.button("Test connection").clicked() {
                let topic = (!draft.topic.is_empty()).then(|| draft.topic.clone());
                actions.push(Action::TestConnection(draft.brokers.clone(), Box::new(draft.client_spec()), topic));
            }
            match session.connection_test.as_ref().filter(|(brokers, _)| *brokers == draft.brokers) {
                Some((_, None)) => {
                    ui.spinner();
                    ui.label("testing…");
                }
                Some((_, Some(Ok(message)))) => {
                    ui.colored_label(crate::ui::theme::status_colour(crate::ui::theme::StatusKind::Live), message);
                }
                Some((_, Some(Err(failure)))) => {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        format!("{}: {}", stage_name(failure.stage), failure.message),
                    );
                }
                None => {}
            }
        });
    });
}

fn stage_name(stage: crate::engine::discovery::ConnectionStage) -> &'static str {
    use crate::engine::discovery::ConnectionStage;
    match stage {
        ConnectionStage::NameResolution => "Name resolution",
        ConnectionStage::Tcp => "TCP",
        ConnectionStage::Tls => "TLS handshake",
        ConnectionStage::Authentication => "Authentication",
        ConnectionStage::Topic => "Topic",
        ConnectionStage::Kafka => "Kafka",
    }
}

fn fields_ui(ui: &mut Ui, draft: &mut StreamDraft, sample: &TopicSample) {
    egui::CollapsingHeader::new(format!(
        "Newest messages ({} sampled, {} unreadable)",
        sample.messages, sample.unreadable
    ))
    .id_salt("sampled_messages")
    .show(ui, |ui| {
        for example in &sample.examples {
            let shown: String = example.chars().take(300).collect();
            ui.monospace(shown);
        }
    });
    ui.label(RichText::new("Fields found — tick the dimensions:"));
    TableBuilder::new(ui)
        .id_salt("detected_fields")
        .striped(true)
        .max_scroll_height(220.0)
        .column(Column::auto().at_least(180.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::remainder().clip(true))
        .header(18.0, |mut header| {
            for title in ["field", "type", "example"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, sample.fields.len(), |mut row| {
                let field = &sample.fields[row.index()];
                row.col(|ui| {
                    if can_be_dimension(field) {
                        let mut chosen = draft.dimensions.contains(&field.path);
                        if ui.checkbox(&mut chosen, &field.path).changed() {
                            if chosen {
                                draft.dimensions.push(field.path.clone());
                            } else {
                                draft.dimensions.retain(|d| d != &field.path);
                            }
                        }
                    } else {
                        ui.label(&field.path);
                    }
                });
                row.col(|ui| {
                    ui.label(kind_name(field.kind));
                });
                row.col(|ui| {
                    ui.monospace(&field.example);
                });
            });
        });
}

fn rollup_ui(ui: &mut Ui, draft: &mut StreamDraft, sample: Option<&TopicSample>) {
    let paths: Vec<String> = sample.map(|s| s.fields.iter().map(|f| f.path.clone()).collect()).unwrap_or_default();
    egui::Grid::new("stream_rollup").num_columns(2).show(ui, |ui| {
        ui.label("Time field");
        ui.horizontal(|ui| {
            if draft.time_format != TimeFormat::Kafka {
                field_picker_ui(ui, "time_field", &mut draft.time_field, &paths);
            }
            egui::ComboBox::from_id_salt("time_format").selected_text(time_format_name(draft.time_format)).show_ui(
                ui,
                |ui| {
                    for format in TIME_FORMATS {
                        ui.selectable_value(&mut draft.time_format, format, time_format_name(format));
                    }
                },
            );
        });
        ui.end_row();
        ui.label("Granularity");
        egui::ComboBox::from_id_salt("granularity").selected_text(draft.granularity.clone()).show_ui(ui, |ui| {
            for granularity in GRANULARITIES {
                ui.selectable_value(&mut draft.granularity, granularity.to_string(), granularity);
            }
        });
        ui.end_row();
        ui.label("Dimensions");
        ui.label(if draft.dimensions.is_empty() { "none".to_string() } else { draft.dimensions.join(", ") });
        ui.end_row();
        ui.label("Allowed lateness");
        ui.add(egui::TextEdit::singleline(&mut draft.allowed_lateness).desired_width(80.0).hint_text("1m"))
            .on_hover_text(
                "events older than their partition's newest minus this are counted as late (and still merged)",
            );
        ui.end_row();
        ui.label("Retention");
        ui.add(egui::TextEdit::singleline(&mut draft.retention).desired_width(80.0).hint_text("keep all"))
            .on_hover_text("e.g. 30d: older events are quarantined as too old and older buckets dropped");
        ui.end_row();
        ui.label("Keep only events where");
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut draft.filter_field).desired_width(100.0).hint_text("field"))
                .on_hover_text("leave empty to roll up every event");
            egui::ComboBox::from_id_salt("filter_mode")
                .selected_text(if draft.filter_keeps_listed { "is one of" } else { "is none of" })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut draft.filter_keeps_listed, true, "is one of");
                    ui.selectable_value(&mut draft.filter_keeps_listed, false, "is none of");
                });
            ui.add(
                egui::TextEdit::singleline(&mut draft.filter_values).desired_width(160.0).hint_text("order, refund"),
            )
            .on_hover_text("values separated by commas; events left out are counted, not quarantined");
        });
        ui.end_row();
        ui.label("Metrics");
        ui.vertical(|ui| {
            let mut remove = None;
            for (index, metric) in draft.metrics.iter_mut().enumerate() {
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut metric.name).desired_width(120.0));
                    ui.label(metric.kind.to_string());
                    if metric.kind != MetricKind::Count {
                        ui.label(format!("of {}", metric.field));
                    }
                    if ui.small_button("remove").on_hover_text("remove this metric").clicked() {
                        remove = Some(index);
                    }
                });
            }
            if let Some(index) = remove {
                draft.metrics.remove(index);
            }
            ui.horizontal(|ui| {
                egui::ComboBox::from_id_salt("new_metric_kind").selected_text(draft.new_metric.0.to_string()).show_ui(
                    ui,
                    |ui| {
                        for kind in METRIC_KINDS {
                            ui.selectable_value(&mut draft.new_metric.0, kind, kind.to_string());
                        }
                    },
                );
                if draft.new_metric.0 != MetricKind::Count {
                    ui.label("of");
                    field_picker_ui(ui, "new_metric_field", &mut draft.new_metric.1, &paths);
                }
                if ui.button("Add metric").clicked() {
                    let (kind, field) = draft.new_metric.clone();
                    let base = if kind == MetricKind::Count {
                        "events".to_string()
                    } else {
                        format!("{kind}_{}", field.replace('.', "_"))
                    };
                    draft.metrics.push(MetricDraft::new(base, kind, field));
                }
            });
        });
        ui.end_row();
    });
}

/// A text field with a drop-down of the sampled paths.
fn field_picker_ui(ui: &mut Ui, id: &str, value: &mut String, paths: &[String]) {
    ui.add(egui::TextEdit::singleline(value).desired_width(160.0).hint_text("field path"));
    if !paths.is_empty() {
        egui::ComboBox::from_id_salt(id).selected_text("pick").width(40.0).show_ui(ui, |ui| {
            for path in paths {
                ui.selectable_value(value, path.clone(), path);
            }
        });
    }
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Integer => "integer",
        FieldKind::Real => "number",
        FieldKind::Text => "text",
        FieldKind::Time => "time",
        FieldKind::Boolean => "boolean",
        FieldKind::Mixed => "mixed",
    }
}
