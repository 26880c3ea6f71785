//! The report builder in the central area: the datasets and their fields on
//! the left (drag a field onto a shelf, a table onto Joins; each also has an
//! "Add to" menu, the keyboard path), the shelves (From, Joins, Time, Group
//! by, Measures, Filters) with their chips (drag between shelves, remove),
//! the chart's kind, measure and series ("Show me" suggests), undo/redo, the
//! draft's problems on the shelf they belong to, and the preview computed in
//! the background. Edits go through the draft (`ui::report_builder`).

use egui::{Frame, RichText, Ui};

use super::Action;
use crate::model::reports::{Aggregation, ChartKind, FilterOp, Grain, JoinKind};
use crate::ui::charts::report_chart_ui;
use crate::ui::report_builder::{Dragged, Field, FieldKind, GRAINS, ReportDraft, Shelf};
use crate::ui::session::{Session, group_digits};
use crate::ui::widgets::frame_table::{Header, frame_table_ui};

pub const SHORTCUT_UNDO: egui::KeyboardShortcut = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::Z);
pub const SHORTCUT_REDO: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::COMMAND.plus(egui::Modifiers::SHIFT), egui::Key::Z);

pub fn report_builder_ui(ui: &mut Ui, draft: &mut ReportDraft, session: &Session) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.input_mut(|input| {
        // The longer shortcut first, so Ctrl+Shift+Z is not taken for Ctrl+Z.
        if input.consume_shortcut(&SHORTCUT_REDO) {
            draft.redo();
        } else if input.consume_shortcut(&SHORTCUT_UNDO) {
            draft.undo();
        }
    });
    egui::CentralPanel::default().show(ui, |ui| {
        header_ui(ui, draft, &mut actions);
        let problems = draft.problems(&session.workbook);
        if let Some(error) = &draft.save_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.separator();
        ui.columns(2, |columns| {
            let [left, right] = columns else { return };
            left.set_max_width(260.0);
            egui::ScrollArea::vertical().id_salt("builder_fields").show(left, |ui| {
                // The form first: the datasets' fields can run long.
                derived_ui(ui, draft);
                datasets_ui(ui, draft);
            });
            shelves_ui(right, draft, &problems);
        });
        ui.separator();
        preview_ui(ui, draft, &problems, &mut actions);
    });
    actions
}

fn header_ui(ui: &mut Ui, draft: &mut ReportDraft, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.heading(if draft.original.is_some() { "Edit report" } else { "New report" });
        ui.label("name");
        let mut name = draft.spec.name.clone();
        if ui.add(egui::TextEdit::singleline(&mut name).desired_width(180.0)).changed() {
            draft.edit(|spec| spec.name = name);
        }
        ui.separator();
        let undo = ui.add_enabled(draft.can_undo(), egui::Button::new("Undo"));
        if undo.on_hover_text("undo the last change (Ctrl+Z)").clicked() {
            draft.undo();
        }
        let redo = ui.add_enabled(draft.can_redo(), egui::Button::new("Redo"));
        if redo.on_hover_text("redo (Ctrl+Shift+Z)").clicked() {
            draft.redo();
        }
        if ui.button("Show me").on_hover_text("pick the chart the shelves' fields suggest").clicked() {
            draft.show_me();
        }
        ui.separator();
        if ui.button("Save report").on_hover_text("write the report into the workbook").clicked() {
            actions.push(Action::SaveReport);
        }
        if ui.button("Cancel").clicked() {
            actions.push(Action::CloseReportBuilder);
        }
    });
}

/// Every dataset with its fields, each draggable and with an "Add to" menu.
fn datasets_ui(ui: &mut Ui, draft: &mut ReportDraft) {
    ui.label(RichText::new("Datasets").strong());
    ui.weak("drag a field onto a shelf, a table onto Joins or onto the dataset you start from");
    let datasets: Vec<(String, Vec<Field>)> = draft.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (dataset, fields) in datasets {
        let is_stream = draft.streams.contains(&dataset);
        let used = dataset == draft.spec.from || draft.spec.joins.iter().any(|j| j.with == dataset);
        ui.add_space(4.0);
        let header = ui.horizontal(|ui| {
            let id = egui::Id::unique(("builder_dataset", &dataset));
            let title = format!("{dataset} ({})", if is_stream { "stream" } else { "table" });
            ui.dnd_drag_source(id, Dragged::Dataset(dataset.clone()), |ui| {
                ui.label(if used { RichText::new(title).strong() } else { RichText::new(title) });
            });
            if !used {
                ui.menu_button("Use…", |ui| {
                    if ui.button("Start from it").clicked() {
                        draft.start_from(&dataset);
                        ui.close();
                    }
                    if !is_stream && ui.button("Join with it").clicked() {
                        draft.join_with(&dataset);
                        ui.close();
                    }
                });
            }
        });
        if dataset == draft.spec.from {
            join_dropped_table(ui, draft, &header.response);
        }
        if fields.is_empty() && !is_stream {
            ui.weak(if draft.is_reading_schemas() { "  reading its columns…" } else { "  no version yet" });
        }
        for field in fields {
            ui.horizontal(|ui| {
                let hover = format!("{} · {}", field.dataset, field.type_name);
                field_row_ui(ui, draft, &field, &hover);
            });
        }
    }
}

/// A table dragged onto the dataset the report starts from joins it (as
/// dropping it on Joins does); the dataset is outlined while one hovers it.
fn join_dropped_table(ui: &Ui, draft: &mut ReportDraft, header: &egui::Response) {
    let joinable = |dragged: &Dragged| match dragged {
        Dragged::Dataset(name) => !draft.streams.contains(name) && *name != draft.spec.from,
        Dragged::Field(_) | Dragged::Chip(..) => false,
    };
    // The pointer's own position: the header row is a container, which a
    // dragged widget's hit test does not report as under the pointer.
    let over = ui.ctx().pointer_latest_pos().is_some_and(|pointer| header.rect.contains(pointer));
    let carried = egui::DragAndDrop::payload::<Dragged>(ui.ctx()).filter(|dragged| joinable(dragged));
    if !over || carried.is_none() {
        return;
    }
    let stroke = ui.visuals().selection.stroke;
    ui.painter().rect_stroke(header.rect.expand(2.0), 3.0, stroke, egui::StrokeKind::Outside);
    if ui.input(|input| input.pointer.any_released())
        && let Some(dragged) = egui::DragAndDrop::take_payload::<Dragged>(ui.ctx())
        && let Dragged::Dataset(name) = &*dragged
    {
        draft.join_with(name);
    }
}

/// One field: draggable onto a shelf, its type, and its "Add to" menu (the keyboard path).
fn field_row_ui(ui: &mut Ui, draft: &mut ReportDraft, field: &Field, hover: &str) {
    ui.add_space(10.0);
    let id = egui::Id::unique(("builder_field", &field.dataset, &field.name));
    ui.dnd_drag_source(id, Dragged::Field(field.clone()), |ui| {
        ui.label(&field.name).on_hover_text(hover);
    });
    ui.weak(&field.type_name);
    ui.menu_button("Add to", |ui| {
        for shelf in Shelf::ALL {
            if ui.button(shelf.label()).clicked() {
                draft.drop_on(shelf, &Dragged::Field(field.clone()));
                ui.close();
            }
        }
    });
}

/// The report's derived columns (draggable like fields) and the form that adds one.
fn derived_ui(ui: &mut Ui, draft: &mut ReportDraft) {
    ui.label(RichText::new("Derived columns").strong());
    let mut removed = None;
    for (index, field) in draft.derived.clone().into_iter().enumerate() {
        ui.horizontal(|ui| {
            field_row_ui(ui, draft, &field, "a derived column: drag it onto a shelf");
            if ui.small_button("x").on_hover_text(format!("remove the derived column {}", field.name)).clicked() {
                removed = Some(index);
            }
        });
    }
    if let Some(index) = removed {
        draft.remove_derived(index);
    }
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut draft.new_derived.0).hint_text("name").desired_width(80.0));
        ui.label("=");
        let expr =
            egui::TextEdit::singleline(&mut draft.new_derived.1).hint_text("revenue / rate").desired_width(140.0);
        let response = ui.add(expr).on_hover_text(format!(
            "fields, numbers, 'texts', + - * /, = != < <= > >=, and, or, not, and the functions {}",
            crate::model::expr::Function::names()
        ));
        let entered = response.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
        if ui.button("Add column").clicked() || entered {
            draft.add_derived();
        }
    });
    if let Some(error) = &draft.derived_error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    ui.add_space(8.0);
}

fn shelves_ui(ui: &mut Ui, draft: &mut ReportDraft, problems: &[String]) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("From").strong());
        let mut from = draft.spec.from.clone();
        egui::ComboBox::from_id_salt("builder_from").selected_text(&from).show_ui(ui, |ui| {
            for dataset in draft.fields.keys() {
                ui.selectable_value(&mut from, dataset.clone(), dataset);
            }
        });
        if from != draft.spec.from {
            draft.start_from(&from);
        }
    });
    joins_ui(ui, draft, problems);
    for shelf in Shelf::ALL {
        shelf_ui(ui, draft, shelf, problems);
    }
    chart_options_ui(ui, draft, problems);
}

/// A shelf: a drop zone holding its chips, with its problems under it.
fn shelf_ui(ui: &mut Ui, draft: &mut ReportDraft, shelf: Shelf, problems: &[String]) {
    let frame = Frame::group(ui.style()).inner_margin(4.0);
    let (_, dropped) = ui.dnd_drop_zone::<Dragged, ()>(frame, |ui| {
        ui.set_min_width(ui.available_width());
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(shelf.label()).strong());
            let chips = chips(draft, shelf);
            if chips.is_empty() {
                ui.weak(empty_hint(shelf));
            }
            for (index, chip) in chips.into_iter().enumerate() {
                chip_ui(ui, draft, shelf, index, &chip);
            }
            if shelf == Shelf::Measures && !draft.from_stream() && ui.small_button("+ count rows").clicked() {
                draft.edit(|spec| {
                    let name = if spec.measures.iter().any(|m| m.name == "rows") { "rows_2" } else { "rows" };
                    spec.measures.push(crate::model::reports::MeasureSpec {
                        name: name.into(),
                        metric: None,
                        quantile: None,
                        agg: Some(Aggregation::Count),
                        field: None,
                    });
                });
            }
        });
    });
    if let Some(dragged) = dropped {
        draft.drop_on(shelf, &dragged);
    }
    if let Some((refused_on, why)) = &draft.refused
        && *refused_on == shelf
    {
        ui.colored_label(ui.visuals().warn_fg_color, why);
    }
    for problem in problems.iter().filter(|p| problem_shelf(p) == Some(shelf)) {
        ui.colored_label(ui.visuals().error_fg_color, problem);
    }
}

fn empty_hint(shelf: Shelf) -> &'static str {
    match shelf {
        Shelf::Time => "drop a time to get rows per minute, hour, day…",
        Shelf::GroupBy => "drop fields whose values make the rows",
        Shelf::Measures => "drop metrics (or a table's columns) to measure",
        Shelf::Filters => "drop a field to keep only some rows",
    }
}

/// The chips a shelf holds, as their labels.
fn chips(draft: &ReportDraft, shelf: Shelf) -> Vec<String> {
    let spec = &draft.spec;
    match shelf {
        Shelf::Time => spec.time.iter().map(|t| t.field_name().to_string()).collect(),
        Shelf::GroupBy => spec.group_by.clone(),
        Shelf::Measures => spec.measures.iter().map(|m| m.name.clone()).collect(),
        Shelf::Filters => spec.filters.iter().map(|f| f.field.clone()).collect(),
    }
}

/// One chip: draggable to another shelf, its settings, and remove.
fn chip_ui(ui: &mut Ui, draft: &mut ReportDraft, shelf: Shelf, index: usize, label: &str) {
    Frame::new().fill(ui.visuals().faint_bg_color).corner_radius(4.0).inner_margin(3.0).show(ui, |ui| {
        ui.horizontal(|ui| {
            let id = egui::Id::unique(("builder_chip", shelf.label(), index));
            ui.dnd_drag_source(id, Dragged::Chip(shelf, index), |ui| {
                ui.label(RichText::new(label).strong());
            });
            match shelf {
                Shelf::Time => grain_ui(ui, draft),
                Shelf::Measures => measure_ui(ui, draft, index),
                Shelf::Filters => filter_ui(ui, draft, index),
                Shelf::GroupBy => {}
            }
            if ui.small_button("x").on_hover_text(format!("remove {label} from {}", shelf.label())).clicked() {
                draft.remove(shelf, index);
            }
        });
    });
}

fn grain_ui(ui: &mut Ui, draft: &mut ReportDraft) {
    let Some(current) = draft.spec.time.as_ref().map(|t| String::from(t.grain)) else { return };
    let mut picked = current.clone();
    egui::ComboBox::from_id_salt("builder_grain").selected_text(format!("per {picked}")).show_ui(ui, |ui| {
        for grain in GRAINS {
            ui.selectable_value(&mut picked, grain.to_string(), grain);
        }
    });
    if picked != current
        && let Ok(grain) = Grain::try_from(picked)
    {
        draft.edit(|spec| {
            if let Some(time) = &mut spec.time {
                time.grain = grain;
            }
        });
    }
}

fn measure_ui(ui: &mut Ui, draft: &mut ReportDraft, index: usize) {
    let Some(measure) = draft.spec.measures.get(index).cloned() else { return };
    if let Some(agg) = measure.agg {
        let mut picked = agg;
        egui::ComboBox::from_id_salt(("builder_agg", index)).selected_text(aggregation_words(agg)).show_ui(ui, |ui| {
            for option in [
                Aggregation::Count,
                Aggregation::CountDistinct,
                Aggregation::Sum,
                Aggregation::Mean,
                Aggregation::Min,
                Aggregation::Max,
                Aggregation::Median,
            ] {
                ui.selectable_value(&mut picked, option, aggregation_words(option));
            }
        });
        if picked != agg {
            draft.edit(|spec| spec.measures[index].agg = Some(picked));
        }
    }
    if let Some(quantile) = measure.quantile {
        let mut picked = quantile;
        egui::ComboBox::from_id_salt(("builder_quantile", index))
            .selected_text(format!("p{}", (quantile * 100.0).round()))
            .show_ui(ui, |ui| {
                for option in [0.5, 0.9, 0.95, 0.99] {
                    ui.selectable_value(&mut picked, option, format!("p{}", (option * 100.0).round()));
                }
            });
        if (picked - quantile).abs() > f64::EPSILON {
            draft.edit(|spec| spec.measures[index].quantile = Some(picked));
        }
    }
}

fn aggregation_words(agg: Aggregation) -> &'static str {
    match agg {
        Aggregation::Count => "count",
        Aggregation::CountDistinct => "count distinct",
        Aggregation::Sum => "sum",
        Aggregation::Mean => "mean",
        Aggregation::Min => "min",
        Aggregation::Max => "max",
        Aggregation::Median => "median",
    }
}

fn filter_ui(ui: &mut Ui, draft: &mut ReportDraft, index: usize) {
    let Some(filter) = draft.spec.filters.get(index).cloned() else { return };
    let mut op = filter.op;
    egui::ComboBox::from_id_salt(("builder_filter_op", index)).selected_text(op_words(op)).width(40.0).show_ui(
        ui,
        |ui| {
            for option in [
                FilterOp::Equal,
                FilterOp::NotEqual,
                FilterOp::Less,
                FilterOp::AtMost,
                FilterOp::Greater,
                FilterOp::AtLeast,
            ] {
                ui.selectable_value(&mut op, option, op_words(option));
            }
        },
    );
    if op != filter.op {
        draft.edit(|spec| spec.filters[index].op = op);
    }
    let mut text = match &filter.value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let edit = ui.add(egui::TextEdit::singleline(&mut text).desired_width(90.0).hint_text("value"));
    if edit.changed() {
        let value = filter_value(&text);
        draft.edit(|spec| spec.filters[index].value = value);
    }
}

/// A typed filter value: a number or true/false when it reads as one, else text.
fn filter_value(text: &str) -> toml::Value {
    if let Ok(whole) = text.trim().parse::<i64>() {
        return toml::Value::Integer(whole);
    }
    if let Ok(real) = text.trim().parse::<f64>() {
        return toml::Value::Float(real);
    }
    match text.trim() {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_string()),
    }
}

fn op_words(op: FilterOp) -> &'static str {
    match op {
        FilterOp::Equal => "=",
        FilterOp::NotEqual => "!=",
        FilterOp::Less => "<",
        FilterOp::AtMost => "<=",
        FilterOp::Greater => ">",
        FilterOp::AtLeast => ">=",
        FilterOp::In => "in",
    }
}

/// Which shelf a problem of the workbook's checks belongs to.
fn problem_shelf(problem: &str) -> Option<Shelf> {
    if problem.starts_with("measure ") || problem.contains("at least one measure") || problem.starts_with("the measure")
    {
        Some(Shelf::Measures)
    } else if problem.starts_with("the filter") {
        Some(Shelf::Filters)
    } else if problem.starts_with("`time`") || problem.starts_with("the time grain") || problem.starts_with("range") {
        Some(Shelf::Time)
    } else if problem.starts_with("top:") || problem.starts_with("sort by") {
        Some(Shelf::GroupBy)
    } else {
        None
    }
}

/// The Joins shelf: drop a table here; each join's keys and kind can be changed.
fn joins_ui(ui: &mut Ui, draft: &mut ReportDraft, problems: &[String]) {
    let frame = Frame::group(ui.style()).inner_margin(4.0);
    let (_, dropped) = ui.dnd_drop_zone::<Dragged, ()>(frame, |ui| {
        ui.set_min_width(ui.available_width());
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Joins").strong());
            if draft.spec.joins.is_empty() {
                ui.weak("drop an imported table here to join it");
            }
        });
        for index in 0..draft.spec.joins.len() {
            join_row_ui(ui, draft, index);
        }
    });
    if let Some(dragged) = dropped {
        match &*dragged {
            Dragged::Dataset(name) => draft.join_with(name),
            Dragged::Field(field) => draft.join_with(&field.dataset),
            Dragged::Chip(..) => {}
        }
    }
    for problem in problems.iter().filter(|p| p.starts_with("the join") || p.starts_with("the as-of join")) {
        ui.colored_label(ui.visuals().error_fg_color, problem);
    }
}

fn join_row_ui(ui: &mut Ui, draft: &mut ReportDraft, index: usize) {
    let join = draft.spec.joins[index].clone();
    let left: Vec<String> = draft
        .usable_fields()
        .into_iter()
        .filter(|f| f.dataset != join.with && matches!(f.kind, FieldKind::Text | FieldKind::Number | FieldKind::Time))
        .map(|f| f.name.clone())
        .collect();
    let right: Vec<String> =
        draft.fields.get(&join.with).map(|f| f.iter().map(|f| f.name.clone()).collect()).unwrap_or_default();
    let (mut left_key, mut right_key) = join.on.iter().next().map(|(l, r)| (l.clone(), r.clone())).unwrap_or_default();
    let mut how = join.how;
    ui.horizontal_wrapped(|ui| {
        egui::ComboBox::from_id_salt(("builder_join_how", index)).selected_text(join_words(how)).show_ui(ui, |ui| {
            for option in [JoinKind::Left, JoinKind::Inner, JoinKind::Full] {
                ui.selectable_value(&mut how, option, join_words(option));
            }
        });
        ui.label(format!("with {} on", join.with));
        egui::ComboBox::from_id_salt(("builder_join_left", index)).selected_text(&left_key).show_ui(ui, |ui| {
            for name in &left {
                ui.selectable_value(&mut left_key, name.clone(), name);
            }
        });
        ui.label("=");
        egui::ComboBox::from_id_salt(("builder_join_right", index)).selected_text(&right_key).show_ui(ui, |ui| {
            for name in &right {
                ui.selectable_value(&mut right_key, name.clone(), name);
            }
        });
        if ui.small_button("x").on_hover_text(format!("remove the join with {}", join.with)).clicked() {
            draft.edit(|spec| {
                spec.joins.remove(index);
            });
        }
    });
    // What the join matched in the latest preview, under the join itself; keys
    // that repeat (rows multiplied, a many-to-many join) in the warning colour.
    if let Some(Ok((answer, _))) = &draft.preview
        && let Some(stats) = answer.joins.get(index).filter(|stats| stats.with == join.with)
    {
        let colour = if stats.multiplies_rows() { ui.visuals().warn_fg_color } else { ui.visuals().weak_text_color() };
        ui.colored_label(colour, stats.to_string());
    }
    let keys_changed =
        join.on.iter().next() != Some((&left_key, &right_key)) && !left_key.is_empty() && !right_key.is_empty();
    if keys_changed || how != join.how {
        draft.edit(|spec| {
            let join = &mut spec.joins[index];
            join.how = how;
            if keys_changed {
                join.on = std::collections::BTreeMap::from([(left_key, right_key)]);
            }
        });
    }
}

fn join_words(how: JoinKind) -> &'static str {
    match how {
        JoinKind::Inner => "inner join",
        JoinKind::Left => "left join",
        JoinKind::Full => "full join",
        JoinKind::Asof => "as-of join",
    }
}

fn chart_options_ui(ui: &mut Ui, draft: &mut ReportDraft, problems: &[String]) {
    let chart = draft.spec.chart_or_default();
    let mut picked = chart.clone();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Chart").strong());
        for kind in ChartKind::ALL {
            ui.selectable_value(&mut picked.kind, kind, kind.label());
        }
        if picked.kind != ChartKind::Table {
            ui.label(if picked.kind == ChartKind::BigNumber { "of" } else { "y" });
            let measures: Vec<String> = draft.spec.measures.iter().map(|m| m.name.clone()).collect();
            let shown = picked.y.clone().or_else(|| measures.first().cloned()).unwrap_or_default();
            egui::ComboBox::from_id_salt("builder_chart_y").selected_text(shown).show_ui(ui, |ui| {
                for name in measures {
                    ui.selectable_value(&mut picked.y, Some(name.clone()), name);
                }
            });
        }
        match picked.kind {
            ChartKind::Line | ChartKind::Area => series_ui(ui, draft, &mut picked.series, "lines per", false),
            ChartKind::Bar => {
                series_ui(ui, draft, &mut picked.series, "bars per", true);
                ui.checkbox(&mut picked.stacked, "stacked").on_hover_text("a category's bars on one another");
                ui.checkbox(&mut picked.horizontal, "horizontal")
                    .on_hover_text("bars across, categories down the side");
            }
            ChartKind::Pie | ChartKind::Donut => series_ui(ui, draft, &mut picked.series, "slices per", false),
            ChartKind::Heatmap => series_ui(ui, draft, &mut picked.series, "rows per", false),
            ChartKind::Scatter => {
                ui.label("across");
                let measures: Vec<String> = draft.spec.measures.iter().map(|m| m.name.clone()).collect();
                let shown = draft.spec.chart_x_measure().map_or_else(|| "nothing".into(), |m| m.name.clone());
                egui::ComboBox::from_id_salt("builder_chart_x").selected_text(shown).show_ui(ui, |ui| {
                    for name in measures {
                        ui.selectable_value(&mut picked.x, Some(name.clone()), name);
                    }
                });
                series_ui(ui, draft, &mut picked.series, "colour per", true);
            }
            ChartKind::Pivot => {
                ui.label("across");
                let mut across: Vec<String> = draft.spec.time.iter().map(|t| t.field_name().to_string()).collect();
                across.extend(draft.spec.group_by.iter().cloned());
                let shown = draft.spec.pivot_layout().across.unwrap_or_else(|| "nothing".into());
                egui::ComboBox::from_id_salt("builder_chart_columns").selected_text(shown).show_ui(ui, |ui| {
                    for name in across {
                        ui.selectable_value(&mut picked.columns, Some(name.clone()), name);
                    }
                });
            }
            ChartKind::BigNumber | ChartKind::Table => {}
        }
        if picked.kind != ChartKind::Pivot {
            picked.columns = None;
        }
        if picked.kind != ChartKind::Bar {
            (picked.stacked, picked.horizontal) = (false, false);
        }
        if picked.kind != ChartKind::Scatter {
            picked.x = None;
        }
    });
    if picked != chart {
        draft.edit(|spec| spec.chart = Some(picked));
    }
    for problem in problems.iter().filter(|p| p.starts_with("chart:")) {
        ui.colored_label(ui.visuals().error_fg_color, problem);
    }
}

/// The field whose values are the lines (or the bars of each category); bars may have none.
fn series_ui(ui: &mut Ui, draft: &ReportDraft, series: &mut Option<String>, words: &str, optional: bool) {
    ui.label(words);
    let fallback = if optional { None } else { draft.spec.group_by.first().cloned() };
    let shown = series.clone().or(fallback).unwrap_or_else(|| "nothing".into());
    egui::ComboBox::from_id_salt("builder_chart_series").selected_text(shown).show_ui(ui, |ui| {
        if optional {
            ui.selectable_value(series, None, "nothing");
        }
        for name in draft.spec.group_by.clone() {
            ui.selectable_value(series, Some(name.clone()), name);
        }
    });
}

/// The draft's answer: its chart and table, or what stands in the way.
fn preview_ui(ui: &mut Ui, draft: &mut ReportDraft, problems: &[String], actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Preview").strong());
        if draft.is_computing() {
            ui.spinner();
        }
        if ui.small_button("Refresh").clicked() {
            actions.push(Action::RefreshReportDraft);
        }
    });
    let unplaced: Vec<&String> = problems.iter().filter(|p| !placed(p)).collect();
    for problem in &unplaced {
        ui.colored_label(ui.visuals().error_fg_color, problem.as_str());
    }
    if !problems.is_empty() {
        ui.weak("The preview appears when the report can be computed.");
        return;
    }
    match &draft.preview {
        None => {
            ui.weak("Computing…");
        }
        Some(Err(error)) => {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        Some(Ok((answer, chart))) => {
            for join in &answer.joins {
                let colour =
                    if join.multiplies_rows() { ui.visuals().warn_fg_color } else { ui.visuals().weak_text_color() };
                ui.colored_label(colour, join.to_string());
            }
            match chart {
                Ok(Some(chart)) => {
                    let height = (ui.available_height() * 0.6).max(140.0);
                    ui.allocate_ui(egui::vec2(ui.available_width(), height), |ui| {
                        report_chart_ui(ui, "report_builder_chart", chart);
                    });
                }
                Ok(None) => {}
                Err(error) => {
                    ui.colored_label(ui.visuals().error_fg_color, error);
                }
            }
            ui.weak(format!("{} rows", group_digits(answer.frame.height() as u64)));
            frame_table_ui(ui, "report_builder_answer", &answer.frame, Header::Typed, f32::INFINITY);
        }
    }
}

/// Whether a problem is shown on a shelf (else it goes above the preview).
fn placed(problem: &str) -> bool {
    problem_shelf(problem).is_some()
        || problem.starts_with("chart:")
        || problem.starts_with("the join")
        || problem.starts_with("the as-of join")
}
