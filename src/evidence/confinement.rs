//! Whether a report's isolation counts as confined: every layer a confined run must have
//! (`sandbox::Layer::required`). The judgement belongs to `verify`, not to the report's
//! shape in `output`, which imports nothing above it.

use crate::output::{Confinement, Isolation};
use crate::sandbox::Layer;

/// True when Case was confined with every layer a confined run must have: a run confined
/// by an older harness, or with a layer missing, does not count as confined.
pub(crate) fn is_confined(isolation: &Isolation) -> bool {
    matches!(isolation, Isolation::Confined(confinement)
        if confinement.network == "namespace"
            && confinement.filesystem == "read_only_host"
            && confinement.pid == "namespace"
            && missing_layers(confinement).is_empty())
}

/// The required layers `confinement` did not have.
fn missing_layers(confinement: &Confinement) -> Vec<&'static str> {
    Layer::required()
        .map(|layer| layer.name())
        .filter(|name| !confinement.layers.iter().any(|layer| layer == name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confined_with(layers: &[&str]) -> Isolation {
        let mut isolation = Isolation::confined(65_534, "test");
        if let Isolation::Confined(confinement) = &mut isolation {
            confinement.layers = layers.iter().map(|layer| (*layer).to_owned()).collect();
        }
        isolation
    }

    /// A run with a layer left out (`--unsafe-without-layer`), or from a harness that had
    /// fewer layers, does not count as confined; Landlock alone may be missing (the kernel
    /// may lack it).
    #[test]
    fn only_a_run_with_every_required_layer_counts_as_confined() {
        let all: Vec<&str> = Layer::ALL.iter().map(|layer| layer.name()).collect();
        assert!(is_confined(&confined_with(&all)));
        let without_landlock: Vec<&str> = all.iter().copied().filter(|name| *name != "landlock").collect();
        assert!(is_confined(&confined_with(&without_landlock)));
        let without_read_only_host: Vec<&str> = all.iter().copied().filter(|name| *name != "read_only_host").collect();
        assert!(!is_confined(&confined_with(&without_read_only_host)));
        assert!(!is_confined(&confined_with(&[])));
    }
}
