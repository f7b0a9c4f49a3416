//! `--temperature` and `--seed`, the sampling pin, shared by `run`, `adapter` and `evidence`
//! (docs/decisions.md, "pinned sampling"): one table of flags, one check of their values.

/// The sampling pin's flags (flattened into each command that takes them).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SamplingFlags {
    /// Set this temperature (0 to 2) on every generation request the adapter forwards,
    /// whatever Case sent; recorded per request in the ledger and in the signed report.
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// Set this seed on every generation request the adapter forwards (chat completions
    /// `seed`; sent in pass-through too, where local servers ignore it: pin temperature 0).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

impl SamplingFlags {
    /// The pin, or why a value is refused.
    pub(crate) fn pin(&self) -> Result<crate::output::SamplingPin, super::CliError> {
        crate::output::SamplingPin::new(self.temperature, self.seed).map_err(super::CliError::Sampling)
    }

    /// For `evidence`: hands the pin to every trial's `run` through the variables the
    /// acceptance suite reads (`CASE_HARNESS_TEMPERATURE`, `CASE_HARNESS_SEED`), set in the
    /// suite's environment snapshot after checking the pin.
    pub(crate) fn export_to_suite(
        &self,
        suite_environment: &mut crate::config::Environment,
    ) -> Result<(), super::CliError> {
        self.pin()?;
        let values = [
            (
                crate::acceptance::ENV_TEMPERATURE,
                self.temperature.map(|value| value.to_string()),
            ),
            (crate::acceptance::ENV_SEED, self.seed.map(|value| value.to_string())),
        ];
        for (name, value) in values {
            if let Some(value) = value {
                suite_environment.set(name, value);
            }
        }
        Ok(())
    }
}
