//! The sampling pin checked against the ledger: every generation request that went upstream
//! must record the pinned values as sent, and a ledger without a pin must record none. The
//! seal and `verify` run the same check, so an edited line fails both.

use crate::adapter::LedgerEntry;
use crate::output::SamplingPin;

/// The routes whose forwarded requests generate, and so carry the pin.
const GENERATION_PATHS: &[&str] = &["/v1/chat/completions", "/v1/messages"];

/// Every way the ledger departs from `pin` (one message per line, naming line and field).
pub(crate) fn pin_problems(entries: &[LedgerEntry], pin: Option<&SamplingPin>) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let line = index + 1;
        match (pin, &entry.sampling) {
            (None, Some(_)) => problems.push(format!(
                "adapter ledger line {line} records a sampling pin, but the report records none"
            )),
            (None, None) => {}
            (Some(pin), Some(record)) => {
                for field in record.departures(pin) {
                    problems.push(format!(
                        "adapter ledger line {line} sent `{}` other than the pinned {}",
                        field.as_str(),
                        pin.describe()
                    ));
                }
            }
            (Some(pin), None) => {
                let generation = entry.upstream.is_some() && GENERATION_PATHS.contains(&entry.path.as_str());
                if generation {
                    problems.push(format!(
                        "adapter ledger line {line} ({}) went upstream without the pinned {}",
                        entry.path,
                        pin.describe()
                    ));
                }
            }
        }
    }
    problems
}
