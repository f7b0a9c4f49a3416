//! The gate results in the making: each gate family records pass, block or skip here, and the
//! order of [`GateCode::ALL`] is held in debug builds.

use crate::output::{GateCode, GateResult, GateStatus};

/// Collects results in order.
#[derive(Default)]
pub(super) struct Recorder {
    pub(super) results: Vec<GateResult>,
}

impl Recorder {
    fn push(&mut self, code: GateCode, status: GateStatus, detail: impl Into<String>) {
        debug_assert_eq!(GateCode::ALL.get(self.results.len()), Some(&code), "gates out of order");
        self.results.push(GateResult {
            code,
            status,
            detail: detail.into(),
        });
    }
    pub(super) fn pass(&mut self, code: GateCode, detail: impl Into<String>) {
        self.push(code, GateStatus::Pass, detail);
    }
    pub(super) fn block(&mut self, code: GateCode, detail: impl Into<String>) {
        self.push(code, GateStatus::Blocked, detail);
    }
    pub(super) fn skip(&mut self, code: GateCode, detail: impl Into<String>) {
        self.push(code, GateStatus::Skipped, detail);
    }

    /// Passes `code` when `value` is exactly `required`, else blocks naming file and field.
    pub(super) fn expect_exact(
        &mut self,
        code: GateCode,
        path: &std::path::Path,
        field: &str,
        value: &str,
        required: &str,
    ) {
        if value == required {
            self.pass(code, format!("{field} is {required:?}"));
        } else {
            self.block(
                code,
                format!(
                    "{}: field `{field}` is {value:?}, but this route requires exactly {required:?}",
                    path.display()
                ),
            );
        }
    }
}
