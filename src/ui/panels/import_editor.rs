//! The import editor window: the source (a file, a database table or query,
//! an HTTP JSON API), when it runs (with the next three times in words), how
//! it loads, and a Test that fetches the first rows and their types without
//! saving. Validated as the user types; Save goes through the workbook's rules.

use chrono::Utc;
use egui::{RichText, Ui};

use super::Action;
use crate::engine::imports::preview::Preview;
use crate::model::imports::{BadRowPolicy, FileFormat, HttpMethod, TextEncoding};
use crate::ui::import_editor::{ImportDraft, ModeKind, ScheduleKind, SecretFrom, SourceKind};
use crate::ui::session::{Session, group_digits};
use crate::ui::widgets::frame_table::{Header, frame_table_ui};
use crate::ui::widgets::{ask_before_discarding, cancel_or_discard_ui};

const FORMATS: [(Option<FileFormat>, &str); 6] = [
    (None, "from the extension"),
    (Some(FileFormat::Csv), "CSV"),
    (Some(FileFormat::Tsv), "TSV"),
    (Some(FileFormat::Parquet), "Parquet"),
    (Some(FileFormat::Json), "JSON array"),
    (Some(FileFormat::Ndjson), "NDJSON"),
];

/// Draws the editor over the window; edits `draft` in place and returns actions.
pub fn import_editor_window_ui(ctx: &egui::Context, draft: &mut ImportDraft, session: &Session) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut open = true;
    let title = if draft.original.is_some() { "Edit import" } else { "New import" };
    egui::Window::new(title)
        .open(&mut open)
        .default_width(720.0)
        .collapsible(false)
        .anchor(egui::Align2::CENTER_TOP, [0.0, 48.0])
        .show(ctx, |ui| {
            // The form scrolls in the upper part; the problems, the buttons and
            // the Test's answer below it stay in view.
            let form_height = ((ctx.content_rect().height() - 300.0) / 2.0).max(180.0);
            egui::ScrollArea::vertical().id_salt("import_form").max_height(form_height).show(ui, |ui| {
                form_ui(ui, draft, &mut actions);
            });
            ui.separator();
            let checked = draft.to_spec();
            match (&checked, &draft.save_error) {
                (Err(problems), _) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("Problem: {}", problems.join("; ")));
                }
                (Ok(_), Some(refused)) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("Not saved: {refused}"));
                }
                (Ok(_), None) => {}
            }
            buttons_ui(ui, draft, checked.ok(), &mut actions);
            ui.separator();
            preview_ui(ui, draft, session);
        });
    if !open {
        cancel(draft, &mut actions);
    }
    if ctx.input_mut(|input| input.consume_key(egui::Modifiers::NONE, egui::Key::Escape)) {
        cancel(draft, &mut actions);
    }
    actions
}

fn cancel(draft: &mut ImportDraft, actions: &mut Vec<Action>) {
    let changed = draft.is_changed();
    if ask_before_discarding(&mut draft.confirming_cancel, changed) {
        actions.push(Action::CloseImportEditor);
    }
}

fn buttons_ui(
    ui: &mut Ui,
    draft: &mut ImportDraft,
    checked: Option<crate::model::ImportSpec>,
    actions: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        let test = ui
            .add_enabled(checked.is_some(), egui::Button::new("Test"))
            .on_hover_text("fetch the first rows and their types, without saving");
        if test.clicked()
            && let Some(spec) = &checked
        {
            actions.push(Action::PreviewImport(Box::new(spec.clone())));
        }
        if ui.add_enabled(checked.is_some(), egui::Button::new("Save import")).clicked()
            && let Some(spec) = checked
        {
            actions.push(Action::SaveImport(Box::new(spec), draft.original.clone()));
        }
        let changed = draft.is_changed();
        if cancel_or_discard_ui(ui, &mut draft.confirming_cancel, changed) {
            actions.push(Action::CloseImportEditor);
        }
    });
}

fn form_ui(ui: &mut Ui, draft: &mut ImportDraft, actions: &mut Vec<Action>) {
    egui::Grid::new("import_form_grid").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
        ui.label("Name");
        ui.add(egui::TextEdit::singleline(&mut draft.name).hint_text("the table's name, e.g. customers"));
        ui.end_row();
        ui.label("Source");
        egui::ComboBox::from_id_salt("import_kind").selected_text(draft.kind.label()).show_ui(ui, |ui| {
            for kind in SourceKind::ALL {
                ui.selectable_value(&mut draft.kind, kind, kind.label());
            }
        });
        ui.end_row();
        source_rows_ui(ui, draft, actions);
    });
    ui.add_space(6.0);
    ui.label(RichText::new("When it runs").strong());
    schedule_ui(ui, draft);
    ui.add_space(6.0);
    ui.label(RichText::new("Loading").strong());
    loading_ui(ui, draft);
}

fn source_rows_ui(ui: &mut Ui, draft: &mut ImportDraft, actions: &mut Vec<Action>) {
    let location = match draft.kind {
        SourceKind::File => "Path or glob",
        SourceKind::Sqlite => "Database file",
        SourceKind::Postgres | SourceKind::Mysql | SourceKind::Http => "URL",
    };
    ui.label(location);
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut draft.location).hint_text(draft.kind.url_hint()).desired_width(420.0));
        if matches!(draft.kind, SourceKind::File | SourceKind::Sqlite) && ui.button("Browse…").clicked() {
            actions.push(Action::ChooseImportFile);
        }
    });
    ui.end_row();
    match draft.kind {
        SourceKind::File => {
            ui.label("Format");
            let shown = FORMATS.iter().find(|(f, _)| *f == draft.file_format).map_or("?", |(_, label)| label);
            egui::ComboBox::from_id_salt("import_format").selected_text(shown).show_ui(ui, |ui| {
                for (format, label) in FORMATS {
                    ui.selectable_value(&mut draft.file_format, format, label);
                }
            });
            ui.end_row();
            ui.label("CSV");
            ui.horizontal(|ui| {
                ui.checkbox(&mut draft.header, "first line names the columns");
                ui.label("delimiter");
                ui.add(egui::TextEdit::singleline(&mut draft.delimiter).hint_text(",").desired_width(30.0));
                ui.selectable_value(&mut draft.encoding, TextEncoding::Utf8, "UTF-8");
                ui.selectable_value(&mut draft.encoding, TextEncoding::Latin1, "Latin-1");
            });
            ui.end_row();
            ui.label("File name column");
            ui.add(egui::TextEdit::singleline(&mut draft.file_name_column).hint_text("none (useful with a glob)"));
            ui.end_row();
        }
        SourceKind::Sqlite | SourceKind::Postgres | SourceKind::Mysql => {
            if draft.kind != SourceKind::Sqlite {
                ui.label("Password from");
                secret_place_ui(ui, &mut draft.password_from, &mut draft.password_name, "SHOP_DB_PASSWORD");
                ui.end_row();
            }
            ui.label("Read");
            ui.horizontal(|ui| {
                ui.radio_value(&mut draft.use_query, false, "a table");
                ui.radio_value(&mut draft.use_query, true, "a query");
            });
            ui.end_row();
            if draft.use_query {
                ui.label("Query");
                ui.add(
                    egui::TextEdit::multiline(&mut draft.query)
                        .code_editor()
                        .desired_rows(4)
                        .hint_text("SELECT id, name, updated_at FROM customers"),
                );
            } else {
                ui.label("Table");
                ui.add(egui::TextEdit::singleline(&mut draft.table).hint_text("customers (or schema.customers)"));
            }
            ui.end_row();
        }
        SourceKind::Http => {
            ui.label("Method");
            ui.horizontal(|ui| {
                ui.selectable_value(&mut draft.method, HttpMethod::Get, "GET");
                ui.selectable_value(&mut draft.method, HttpMethod::Post, "POST");
            });
            ui.end_row();
            ui.label("Records at");
            ui.add(egui::TextEdit::singleline(&mut draft.records).hint_text("data.items (empty: the whole response)"));
            ui.end_row();
            ui.label("Token from");
            secret_place_ui(ui, &mut draft.token_from, &mut draft.token_name, "API_TOKEN")
                .on_hover_text("its value is sent as the Authorization header");
            ui.end_row();
        }
    }
}

/// Where a secret is kept (an environment variable or a keyring entry) and its name.
fn secret_place_ui(ui: &mut Ui, from: &mut SecretFrom, name: &mut String, example: &str) -> egui::Response {
    ui.horizontal(|ui| {
        ui.selectable_value(from, SecretFrom::Env, "environment variable")
            .on_hover_text("the variable is read when the import runs");
        ui.selectable_value(from, SecretFrom::Keyring, "keyring entry")
            .on_hover_text("stored in the OS keyring with `tidepool secret set ENTRY`");
        let hint = match from {
            SecretFrom::Env => format!("e.g. {example}"),
            SecretFrom::Keyring => format!("e.g. {}", example.to_ascii_lowercase().replace('_', "-")),
        };
        ui.add(egui::TextEdit::singleline(name).hint_text(hint).desired_width(200.0));
    })
    .response
}

fn schedule_ui(ui: &mut Ui, draft: &mut ImportDraft) {
    ui.horizontal(|ui| {
        ui.radio_value(&mut draft.schedule_kind, ScheduleKind::Manual, "when asked");
        ui.radio_value(&mut draft.schedule_kind, ScheduleKind::Every, "every");
        ui.radio_value(&mut draft.schedule_kind, ScheduleKind::Cron, "on a cron schedule");
        match draft.schedule_kind {
            ScheduleKind::Manual => {}
            ScheduleKind::Every => {
                ui.add(egui::TextEdit::singleline(&mut draft.every).hint_text("15m").desired_width(60.0));
            }
            ScheduleKind::Cron => {
                ui.add(egui::TextEdit::singleline(&mut draft.cron).hint_text("0 6 * * 1-5").desired_width(110.0));
                ui.label("in");
                ui.add(egui::TextEdit::singleline(&mut draft.time_zone).hint_text("UTC").desired_width(120.0));
            }
        }
    });
    match draft.schedule_in_words(Utc::now()) {
        Ok((words, times)) => {
            let mut line = words;
            if !times.is_empty() {
                let shown: Vec<String> = times
                    .iter()
                    .map(|t| t.with_timezone(&chrono::Local).format("%a %Y-%m-%d %H:%M").to_string())
                    .collect();
                line = format!("{line}; next {} (your time)", shown.join(", "));
            }
            ui.weak(line);
        }
        Err(why) => {
            ui.colored_label(ui.visuals().error_fg_color, why);
        }
    }
}

fn loading_ui(ui: &mut Ui, draft: &mut ImportDraft) {
    ui.horizontal(|ui| {
        ui.radio_value(&mut draft.mode, ModeKind::Replace, "replace")
            .on_hover_text("each run's rows are the new version");
        ui.radio_value(&mut draft.mode, ModeKind::Append, "append")
            .on_hover_text("each run's rows are added to the previous version");
        ui.radio_value(&mut draft.mode, ModeKind::Incremental, "incremental")
            .on_hover_text("fetch only rows past the stored cursor and upsert them by key");
        if draft.mode == ModeKind::Incremental {
            ui.label("cursor");
            ui.add(egui::TextEdit::singleline(&mut draft.cursor).hint_text("updated_at").desired_width(100.0));
            ui.label("key");
            ui.add(egui::TextEdit::singleline(&mut draft.key).hint_text("id").desired_width(100.0));
        }
    });
    ui.horizontal(|ui| {
        ui.label("bad rows:");
        ui.radio_value(&mut draft.bad_rows, BadRowPolicy::Fail, "fail the run");
        ui.radio_value(&mut draft.bad_rows, BadRowPolicy::Skip, "skip and count them");
        ui.separator();
        ui.label("attempts");
        ui.add(egui::DragValue::new(&mut draft.attempts).range(1..=20));
        ui.label("timeout");
        ui.add(egui::TextEdit::singleline(&mut draft.timeout).hint_text("1h").desired_width(50.0));
    });
}

/// The Test's answer, for the import as it stands in the form.
fn preview_ui(ui: &mut Ui, draft: &ImportDraft, session: &Session) {
    let Some(preview) = &session.preview else {
        ui.weak("Test fetches the first rows and shows the types the table would get; nothing is saved.");
        return;
    };
    if draft.to_spec().ok().as_ref() != Some(&preview.spec) {
        ui.weak("The form changed since the last Test: press Test again.");
    }
    match &preview.answer {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Fetching the first rows…");
            });
        }
        Some(Err(message)) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Test failed: {message}"));
        }
        Some(Ok(preview)) => preview_table_ui(ui, preview),
    }
}

fn preview_table_ui(ui: &mut Ui, preview: &Preview) {
    ui.label(format!("First {} rows · {} columns", preview.frame.height(), preview.frame.width()));
    if preview.bad_rows > 0 {
        let first = preview.first_bad_rows.first().map(ToString::to_string).unwrap_or_default();
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{} bad rows among them (first: {first})", group_digits(preview.bad_rows)),
        );
    }
    frame_table_ui(ui, "import_preview", &preview.frame, Header::Typed, 220.0);
}
