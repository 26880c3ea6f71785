//! The JSON scanner against `serde_json` on whatever libFuzzer makes: decoding
//! must never panic, the scanner must decline or agree with `serde_json`, and
//! decoding must give what `serde_json` gives (`tidepool_json::check_agreement`).
//! The plan reads top-level, nested and empty keys, as streams do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidepool_json::{FieldPlan, check_agreement};

fuzz_target!(|payload: &[u8]| {
    let mut plan = FieldPlan::default();
    for path in ["ts", "type", "user", "price", "order.total", "order", "tags", "", "order.type", "a.b.c"] {
        plan.add_path(path);
    }
    if let Err(disagreement) = check_agreement(&mut plan, payload) {
        panic!("{disagreement}\npayload: {:?}", String::from_utf8_lossy(payload));
    }
});
