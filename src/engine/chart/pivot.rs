//! What a pivot table shows: a measure per row (the values of the row
//! fields) and column (the values of the field across), with a total per
//! row, per column and overall — each total the measure over every event of
//! its group, computed by the report engine as the report itself is, never a
//! sum of the cells (distinct users of a row are not the sum of its
//! columns' distinct users). No egui, no I/O.

#[derive(Debug, Clone, PartialEq)]
pub struct PivotRow {
    /// The row fields' values, in the order of [`PivotTable::row_fields`].
    pub keys: Vec<String>,
    /// Aligned with [`PivotTable::columns`]; `None`: no value there.
    pub cells: Vec<Option<f64>>,
    pub total: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PivotTable {
    pub row_fields: Vec<String>,
    /// The field across (`None`: one column, the measure).
    pub column_field: Option<String>,
    pub columns: Vec<String>,
    pub rows: Vec<PivotRow>,
    /// Aligned with `columns`.
    pub column_totals: Vec<Option<f64>>,
    pub grand_total: Option<f64>,
    pub value_label: String,
    /// Whole numbers (counts, distinct counts).
    pub integral: bool,
}

impl PivotTable {
    /// The cell of `row` and `column`, if it has a value.
    pub fn cell(&self, row: usize, column: usize) -> Option<f64> {
        self.rows.get(row).and_then(|row| row.cells.get(column).copied().flatten())
    }
}
