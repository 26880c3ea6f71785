//! The checkpoint loader on whatever libFuzzer makes of a saved rollup (the
//! seed frames a real one, `fuzz/seeds/checkpoint_loader`): loading must refuse
//! it with a reason or give a rollup that reads, combines, merges, saves and
//! loads again to the same rows, never panicking
//! (`tidepool_rollup::fuzzing::check_loader`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidepool_rollup::fuzzing::check_loader;

fuzz_target!(|input: &[u8]| {
    if let Err(broken) = check_loader(input) {
        panic!("{broken}");
    }
});
