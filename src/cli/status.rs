//! `case-harness status`: each work item's status derived from verified evidence.

use super::exit::{CliError, Exit};
use super::values::current_admission;
use super::{Format, signing, to_json};
use crate::config::HarnessConfig;

/// `case-harness status --evidence DIR [--sot PATH] [--key PUBKEY]`.
pub(super) fn status(
    config: &HarnessConfig,
    sot: &std::path::Path,
    evidence: &std::path::Path,
    count_unconfined: bool,
    format: Format,
    key: Option<&std::path::Path>,
) -> Result<Exit, CliError> {
    let document = crate::sot::load(sot)?;
    let mut folder = signing::collect_reports(evidence, key)?;
    folder.count_unconfined = count_unconfined;
    let admission = current_admission(config)?;
    let output = crate::status::derive(&document, &folder, admission.as_ref());
    match format {
        Format::Json => println!("{}", to_json(&output)?),
        Format::Human => {
            for item in &output.work_items {
                println!("{}  {}  (SOT status: {})", item.id, item.title, item.status);
            }
            println!();
            for (id, derived) in &output.derived {
                println!("{id}: {}", derived.status);
                for reason in &derived.reasons {
                    println!("  - {reason}");
                }
            }
        }
    }
    Ok(Exit::Success)
}
