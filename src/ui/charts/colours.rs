//! A stable colour per series value: a value keeps its palette slot for as
//! long as a chart shows it, so colours do not move when the top N reorders.
//! The palette itself is `theme.rs`'s; this only hands out its slots.

use std::collections::BTreeMap;

use egui::Color32;

use crate::ui::theme::{PALETTE_SIZE, series_colour};

/// Palette slots handed out to series labels, remembered per chart.
#[derive(Debug, Clone, Default)]
pub struct StableColours {
    slots: BTreeMap<String, usize>,
}

impl StableColours {
    /// The colour of each of `labels` (shown together): a label keeps the slot
    /// it had; a new one takes the lowest slot no shown label holds. "Other"
    /// is always the quiet grey.
    pub fn assign(&mut self, labels: &[(&str, bool)]) -> Vec<Color32> {
        let mut taken = [false; PALETTE_SIZE];
        let mut kept: Vec<Option<usize>> = labels
            .iter()
            .map(|(label, is_other)| {
                if *is_other {
                    return None;
                }
                let slot = self.slots.get(*label).copied().filter(|slot| !taken[*slot]);
                if let Some(slot) = slot {
                    taken[slot] = true;
                }
                slot
            })
            .collect();
        for (index, (label, is_other)) in labels.iter().enumerate() {
            if *is_other || kept[index].is_some() {
                continue;
            }
            let slot = (0..PALETTE_SIZE).find(|slot| !taken[*slot]).unwrap_or(index % PALETTE_SIZE);
            taken[slot] = true;
            kept[index] = Some(slot);
            self.slots.insert((*label).to_string(), slot);
        }
        kept.iter().map(|slot| slot.map_or_else(|| series_colour(0, true), |slot| series_colour(slot, false))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_keeps_its_colour_when_the_ranking_changes() {
        let mut colours = StableColours::default();
        let first = colours.assign(&[("DE", false), ("FR", false), ("JP", false), ("other", true)]);
        let reordered = colours.assign(&[("JP", false), ("DE", false), ("FR", false), ("other", true)]);
        assert_eq!(first[0], reordered[1], "DE");
        assert_eq!(first[1], reordered[2], "FR");
        assert_eq!(first[2], reordered[0], "JP");
        assert_eq!(first[3], series_colour(0, true), "other is grey");
    }

    #[test]
    fn a_new_value_takes_a_free_colour_not_one_on_screen() {
        let mut colours = StableColours::default();
        let first = colours.assign(&[("DE", false), ("FR", false)]);
        let next = colours.assign(&[("US", false), ("FR", false)]);
        assert_eq!(next[1], first[1], "FR keeps its colour");
        assert_ne!(next[0], first[1], "US does not take FR's colour");
        assert_eq!(next[0], first[0], "US takes the colour DE left");
    }
}
