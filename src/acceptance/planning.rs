//! Planning: every acceptance bullet of the SOT(s) matched to its scenario and named as one
//! trial; a bullet without a scenario and a scenario without a bullet become failing trials.

use std::path::PathBuf;

use super::scenario::{self, LoadedScenario, Scenarios, Step};
use crate::config::Environment;
use crate::sot::SotDocument;

/// One planned trial: its name and what it is.
#[derive(Debug, Clone)]
pub struct PlannedTrial {
    /// Full trial name, `WORK-ITEM::NN-slug` or `WORK-ITEM::name`.
    pub name: String,
    /// The work item.
    pub work_item: String,
    /// The bullet's text (empty for named trials).
    pub bullet: String,
    /// What the trial does.
    pub kind: TrialKind,
    /// Why it is ignored, when it is (decided now, from the environment).
    pub ignored: Option<String>,
    /// The SOT the bullet (or the named trial's work item) comes from; `None` for an orphan
    /// scenario, which runs against the suite's first SOT.
    pub sot: Option<PathBuf>,
}

/// What a planned trial is.
#[derive(Debug, Clone)]
pub enum TrialKind {
    /// A bullet bound to a scenario.
    Bound {
        /// The scenario's proof sentence.
        proof: String,
        /// The steps.
        steps: Vec<Step>,
    },
    /// A named trial (not a bullet).
    Named {
        /// The proof sentence.
        proof: String,
        /// The steps.
        steps: Vec<Step>,
    },
    /// A bullet with no scenario: always fails.
    Unmapped {
        /// The nearest unused scenario text, if any.
        closest: Option<String>,
    },
    /// A scenario whose bullet is not in the SOT: always fails.
    Orphan {
        /// The scenario file.
        file: PathBuf,
    },
}

impl PlannedTrial {
    /// How many run reports the trial lists when it passes (one per `run` step) and how many
    /// of them it forges on purpose (one per `forge_pass` step): what `evidence merge` requires
    /// of a passed record. A trial without steps always fails and lists none.
    pub(crate) fn report_steps(&self) -> (usize, usize) {
        match &self.kind {
            TrialKind::Bound { steps, .. } | TrialKind::Named { steps, .. } => {
                let count = |action: scenario::Action| steps.iter().filter(|step| step.action == action).count();
                (count(scenario::Action::Run), count(scenario::Action::ForgePass))
            }
            TrialKind::Unmapped { .. } | TrialKind::Orphan { .. } => (0, 0),
        }
    }

    pub(super) fn proof(&self) -> &str {
        match &self.kind {
            TrialKind::Bound { proof, .. } | TrialKind::Named { proof, .. } => proof,
            TrialKind::Unmapped { .. } => "unmapped acceptance bullet",
            TrialKind::Orphan { .. } => "scenario without a bullet",
        }
    }
}

/// Collapses a bullet into a stable name: lower-case ASCII letters and digits, `-` between.
pub(crate) fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Whitespace-normalised text, backticks kept: how bullets and scenarios are matched (the
/// SOT parser normalises bullets the same way).
pub(crate) use crate::sot::normalise;

fn similarity(a: &str, b: &str) -> f64 {
    let words =
        |text: &str| -> std::collections::BTreeSet<String> { slug(text).split('-').map(str::to_owned).collect() };
    let (a, b) = (words(a), words(b));
    let union = a.union(&b).count().max(1);
    a.intersection(&b).count() as f64 / union as f64
}

/// Matches bullets to scenarios and names every trial.
pub(crate) fn plan(
    documents: &[(PathBuf, SotDocument)],
    scenarios: &Scenarios,
    environment: &Environment,
) -> Vec<PlannedTrial> {
    let mut used = vec![false; scenarios.bullets.len()];
    let mut planned = bullet_trials(documents, scenarios, &mut used);
    let unused: Vec<&LoadedScenario> = scenarios
        .bullets
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(loaded, _)| loaded)
        .collect();
    suggest_closest(&mut planned, &unused);
    planned.extend(unused.into_iter().map(orphan_trial));
    planned.extend(named_trials(documents, scenarios, environment));
    planned
}

/// One trial per bullet of every SOT: bound to its scenario (marked in `used`) or unmapped.
fn bullet_trials(documents: &[(PathBuf, SotDocument)], scenarios: &Scenarios, used: &mut [bool]) -> Vec<PlannedTrial> {
    let mut planned = Vec::new();
    for (sot, document) in documents {
        for item in &document.work_items {
            for (index, bullet) in item.acceptance.iter().enumerate() {
                let name = format!("{}::{:02}-{}", item.id, index + 1, slug(bullet));
                let found = scenarios.bullets.iter().position(|loaded| {
                    loaded.work_item == item.id && normalise(&loaded.scenario.bullet) == normalise(bullet)
                });
                let kind = match found {
                    Some(position) => {
                        used[position] = true;
                        let scenario = &scenarios.bullets[position].scenario;
                        TrialKind::Bound {
                            proof: scenario.proof.clone(),
                            steps: scenario.steps.clone(),
                        }
                    }
                    None => TrialKind::Unmapped { closest: None },
                };
                planned.push(PlannedTrial {
                    name,
                    work_item: item.id.clone(),
                    bullet: bullet.clone(),
                    kind,
                    ignored: None,
                    sot: Some(sot.clone()),
                });
            }
        }
    }
    planned
}

/// Suggests, for each unmapped bullet, the most similar scenario nobody used.
fn suggest_closest(planned: &mut [PlannedTrial], unused: &[&LoadedScenario]) {
    for trial in planned {
        if let TrialKind::Unmapped { closest } = &mut trial.kind {
            *closest = unused
                .iter()
                .map(|loaded| {
                    (
                        similarity(&trial.bullet, &loaded.scenario.bullet),
                        &loaded.scenario.bullet,
                    )
                })
                .filter(|(score, _)| *score > 0.0)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, bullet)| bullet.clone());
        }
    }
}

/// A scenario whose bullet is in no SOT: a failing trial.
fn orphan_trial(loaded: &LoadedScenario) -> PlannedTrial {
    PlannedTrial {
        name: format!(
            "{}::orphan-scenario-{}",
            loaded.work_item,
            slug(&loaded.scenario.bullet)
        ),
        work_item: loaded.work_item.clone(),
        bullet: loaded.scenario.bullet.clone(),
        kind: TrialKind::Orphan {
            file: loaded.file.clone(),
        },
        ignored: None,
        sot: None,
    }
}

/// The named trials (not bullets), ignored when the variable they require is unset.
fn named_trials<'a>(
    documents: &'a [(PathBuf, SotDocument)],
    scenarios: &'a Scenarios,
    environment: &'a Environment,
) -> impl Iterator<Item = PlannedTrial> + 'a {
    scenarios.named.iter().map(move |(work_item, trial)| {
        let ignored = trial.requires_env.as_ref().and_then(|variable| {
            let set = environment.var_os(variable).is_some_and(|value| !value.is_empty());
            (!set).then(|| format!("set {variable} to run it (a real local provider endpoint is needed)"))
        });
        PlannedTrial {
            name: format!("{work_item}::{}", trial.name),
            work_item: work_item.clone(),
            bullet: String::new(),
            kind: TrialKind::Named {
                proof: trial.proof.clone(),
                steps: trial.steps.clone(),
            },
            ignored,
            // A named trial runs against the SOT that holds its work item.
            sot: documents
                .iter()
                .find(|(_, document)| document.work_items.iter().any(|item| &item.id == work_item))
                .map(|(sot, _)| sot.clone()),
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn slugs_are_stable_and_filterable() {
        assert_eq!(
            slug("Missing local adapter config blocks before `case_process_started`."),
            "missing-local-adapter-config-blocks-before-case-process-started"
        );
        assert_eq!(
            slug("Requires `CTO_HARNESS_CASE_MODEL_ADMISSION_FILE`."),
            "requires-cto-harness-case-model-admission-file"
        );
    }

    pub(crate) fn seed() -> Vec<(PathBuf, SotDocument)> {
        let path = PathBuf::from("seed");
        let document = crate::sot::parse(&path, include_str!("../../fixtures/sot/seed-one-line.md")).expect("seed");
        vec![(path, document)]
    }

    #[test]
    fn unmapped_bullets_and_orphan_scenarios_become_failing_trials() {
        let text = r#"
work_item = "CTO-WORK-022"
[[scenario]]
bullet = "Missing local adapter config blocks  before `case_process_started`."
proof = "p"
[[scenario.step]]
action = "check"
expect = { exit = 3 }
[[scenario]]
bullet = "Provider class is local_case_compatible (reworded)."
proof = "p"
[[scenario.step]]
action = "check"
expect = { exit = 3 }
"#;
        let file: scenario::ScenarioFile = toml::from_str(text).expect("toml");
        let scenarios = Scenarios {
            bullets: file
                .scenarios
                .into_iter()
                .map(|scenario| LoadedScenario {
                    file: PathBuf::from("s.toml"),
                    work_item: "CTO-WORK-022".to_owned(),
                    scenario,
                })
                .collect(),
            named: Vec::new(),
        };
        let planned = plan(&seed(), &scenarios, &Environment::default());
        assert_eq!(
            planned
                .iter()
                .filter(|t| !t.bullet.is_empty() && !matches!(t.kind, TrialKind::Orphan { .. }))
                .count(),
            19
        );
        let bound = planned
            .iter()
            .find(|t| t.name == "CTO-WORK-022::04-missing-local-adapter-config-blocks-before-case-process-started")
            .expect("named as documented");
        assert!(matches!(bound.kind, TrialKind::Bound { .. }));
        let unmapped = planned
            .iter()
            .find(|t| t.name.starts_with("CTO-WORK-022::02-"))
            .expect("bullet 2");
        match &unmapped.kind {
            TrialKind::Unmapped { closest } => {
                assert_eq!(
                    closest.as_deref(),
                    Some("Provider class is local_case_compatible (reworded).")
                )
            }
            other => panic!("expected unmapped, got {other:?}"),
        }
        assert!(
            planned
                .iter()
                .any(|t| t.name.starts_with("CTO-WORK-022::orphan-scenario-provider-class"))
        );
    }

    /// Regression: with several SOTs every trial was given the first one as `--sot`.
    #[test]
    fn each_bullet_runs_against_the_sot_it_comes_from() {
        let other_path = PathBuf::from("other");
        let other = crate::sot::parse(
            &other_path,
            "## CTO-WORK-777 - Another item\n\nStatus: blocked\n\nAcceptance:\n- Something else holds.\n",
        )
        .expect("other SOT");
        let mut documents = seed();
        documents.push((other_path.clone(), other));
        let planned = plan(&documents, &Scenarios::default(), &Environment::default());
        let from = |prefix: &str| {
            planned
                .iter()
                .find(|trial| trial.name.starts_with(prefix))
                .and_then(|trial| trial.sot.clone())
        };
        assert_eq!(from("CTO-WORK-022::01-"), Some(PathBuf::from("seed")));
        assert_eq!(from("CTO-WORK-777::01-"), Some(other_path));
    }
}
