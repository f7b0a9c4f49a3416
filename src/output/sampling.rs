//! The sampling pin (`--temperature`, `--seed`): what the adapter set on every generation
//! request it forwarded, whatever Case asked for. The report, the trace's `adapter_started`,
//! the signed statement and every ledger line carry it, so a reviewer reads the conditions
//! the verdict was earned under from the evidence, not from how the model server was started.

use serde::{Deserialize, Serialize};
use serde_json::Number;

/// The pinned sampling fields; an absent field is left to Case and the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingPin {
    /// Temperature set on every forwarded generation request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Number>,
    /// Seed set on every forwarded generation request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl SamplingPin {
    /// A pin of `temperature` and `seed`; an error when the temperature is not a finite
    /// number from 0 to 2 (the range OpenAI's API and every local server accept).
    pub fn new(temperature: Option<f64>, seed: Option<u64>) -> Result<SamplingPin, String> {
        let temperature = match temperature {
            None => None,
            Some(value) if value.is_finite() && (0.0..=2.0).contains(&value) => Number::from_f64(value),
            Some(value) => {
                return Err(format!("temperature {value} is not a number from 0 to 2"));
            }
        };
        Ok(SamplingPin { temperature, seed })
    }

    /// True when nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.temperature.is_none() && self.seed.is_none()
    }

    /// `temperature 0, seed 42`, for messages and summaries.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(temperature) = &self.temperature {
            parts.push(format!("temperature {temperature}"));
        }
        if let Some(seed) = self.seed {
            parts.push(format!("seed {seed}"));
        }
        if parts.is_empty() {
            "not pinned".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// A sampling field the adapter pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinnedField {
    /// `temperature`.
    Temperature,
    /// `seed`.
    Seed,
}

impl PinnedField {
    /// The field's name in request bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            PinnedField::Temperature => "temperature",
            PinnedField::Seed => "seed",
        }
    }
}

/// The sampling fields of one request: what Case asked for, and what went upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingValues {
    /// `temperature`, when the body had a number there.
    #[serde(default)]
    pub temperature: Option<Number>,
    /// `seed`, when the body had a number there.
    #[serde(default)]
    pub seed: Option<Number>,
}

/// A ledger line's record of the pin: Case's values and the values sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingRecord {
    /// What Case's request carried.
    pub requested: SamplingValues,
    /// What the adapter sent upstream.
    pub sent: SamplingValues,
}

impl SamplingRecord {
    /// The pinned fields whose sent value is not the pin's (empty when the line honours it).
    pub fn departures(&self, pin: &SamplingPin) -> Vec<PinnedField> {
        let mut fields = Vec::new();
        if pin.temperature.is_some() && self.sent.temperature != pin.temperature {
            fields.push(PinnedField::Temperature);
        }
        if pin.seed.is_some() && self.sent.seed != pin.seed.map(Number::from) {
            fields.push(PinnedField::Seed);
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temperature_outside_zero_to_two_is_refused() {
        assert!(SamplingPin::new(Some(-0.1), None).is_err());
        assert!(SamplingPin::new(Some(2.5), None).is_err());
        assert!(SamplingPin::new(Some(f64::NAN), None).is_err());
        let pin = SamplingPin::new(Some(0.0), Some(42)).expect("pin");
        assert_eq!(pin.describe(), "temperature 0.0, seed 42");
    }

    #[test]
    fn a_line_that_sent_another_value_departs_from_the_pin() {
        let pin = SamplingPin::new(Some(0.0), Some(42)).expect("pin");
        let mut record = SamplingRecord {
            requested: SamplingValues::default(),
            sent: SamplingValues {
                temperature: pin.temperature.clone(),
                seed: Some(Number::from(42)),
            },
        };
        assert!(record.departures(&pin).is_empty());
        record.sent.temperature = Number::from_f64(1.3);
        record.sent.seed = None;
        assert_eq!(record.departures(&pin), [PinnedField::Temperature, PinnedField::Seed]);
    }
}
