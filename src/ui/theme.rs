//! The one place colours are made: light and dark visuals, status colours and
//! the series palette.

use egui::{Color32, Visuals};
use serde::{Deserialize, Serialize};

/// Light or dark look, remembered between runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Theme {
    Light,
    #[default]
    Dark,
}

impl Theme {
    pub fn visuals(self) -> Visuals {
        match self {
            Self::Light => Visuals::light(),
            Self::Dark => Visuals::dark(),
        }
    }

    #[must_use]
    pub fn toggled(self) -> Self {
        match self {
            Self::Light => Self::Dark,
            Self::Dark => Self::Light,
        }
    }
}

/// Colour of a status pill.
pub fn status_colour(kind: StatusKind) -> Color32 {
    match kind {
        StatusKind::Connecting => Color32::from_rgb(0xE0, 0xA0, 0x30),
        StatusKind::Live => Color32::from_rgb(0x2E, 0xA0, 0x4F),
        StatusKind::CaughtUp => Color32::from_rgb(0x3B, 0x82, 0xC4),
        StatusKind::Failed => Color32::from_rgb(0xD0, 0x45, 0x45),
        StatusKind::Stopped => Color32::GRAY,
    }
}

/// The kinds of status a stream can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Connecting,
    Live,
    CaughtUp,
    Failed,
    Stopped,
}

/// How many colours the series palette has.
pub const PALETTE_SIZE: usize = 8;

/// Colours for chart series, in order (Tableau's ten minus the two closest to
/// grey, readable on light and dark backgrounds); "other" is always grey.
pub fn series_colour(index: usize, is_other: bool) -> Color32 {
    const PALETTE: [Color32; PALETTE_SIZE] = [
        Color32::from_rgb(0x4E, 0x79, 0xA7),
        Color32::from_rgb(0xF2, 0x8E, 0x2B),
        Color32::from_rgb(0x59, 0xA1, 0x4F),
        Color32::from_rgb(0xE1, 0x57, 0x59),
        Color32::from_rgb(0x76, 0xB7, 0xB2),
        Color32::from_rgb(0xC9, 0xA2, 0x27),
        Color32::from_rgb(0xB0, 0x7A, 0xA1),
        Color32::from_rgb(0x9C, 0x75, 0x5F),
    ];
    if is_other { Color32::from_gray(140) } else { PALETTE[index % PALETTE.len()] }
}
