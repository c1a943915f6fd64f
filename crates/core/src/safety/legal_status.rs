//! Kratom's legal status where the patient lives (`data/legal/status.toml`): raised when
//! the patient is enrolled or their jurisdiction changes (one alert per jurisdiction and
//! set of rules in force; info where kratom is regulated or unclear, a warning where it is
//! banned or restricted), and when a dose is logged of a product whose scope is banned or
//! restricted there (a warning per batch). Pending bills never count.
//!
//! Source: legal-and-products.md §1–§2 (the rows) and §4.2 (warning computation).

use serde_json::json;

use super::{Finding, Guidance, KRATOM_IN_USE_WINDOW, PatientFacts, Rule, Source};
use crate::ids::BatchId;
use crate::legal::{LegalAnswer, LegalStatus, RuleView, SubstanceScope};

pub const GUIDANCE: Guidance = Guidance {
    title: "Legal status where the patient lives",
    consider: "Tell the patient what the law says where they live, without judgement: possession \
               or supply may carry penalties, and a ban can push people to unregulated or \
               concentrated 7-OH products. Check the rule's date and source (and the stale badge) \
               before relying on it; it is not legal advice.",
    source: "shared/reference/legal-and-products.md §1–§2 and §4, via data/legal/status.toml",
    evidence: "Compiled 2026-11-24 from mostly secondary sources; each rule shows its sources, \
               grades and last verification. Re-verify before relying on it.",
};

/// A batch the patient used in the in-use window, with the legal scopes of its product.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchScopes {
    pub batch_id: BatchId,
    pub product_name: String,
    pub scopes: Vec<SubstanceScope>,
}

/// What the rule reads: the answer for the patient's jurisdiction today.
#[derive(Clone, Debug, PartialEq)]
pub struct LegalFacts {
    /// The jurisdiction as the dataset knows it (a subdivision, else its country).
    pub jurisdiction: String,
    pub answer: LegalAnswer,
    pub batches: Vec<BatchScopes>,
}

/// Scopes every kratom product falls under: a rule on them concerns any use.
const ANY_KRATOM: [SubstanceScope; 3] = [
    SubstanceScope::AllKratomAlkaloids,
    SubstanceScope::KratomLeaf,
    SubstanceScope::Mitragynine,
];

fn rule_json(rule: &RuleView) -> serde_json::Value {
    json!({
        "id": rule.id,
        "jurisdiction": rule.jurisdiction,
        "substance_scope": rule.substance_scope,
        "status": rule.status,
        "effective_from": rule.effective_from,
        "instrument": rule.instrument,
        "conditions": rule.conditions_text,
        "sources": rule.sources.iter().map(|s| json!({"url": s.url, "grade": s.grade})).collect::<Vec<_>>(),
        "last_verified": rule.last_verified.to_string(),
        "stale": rule.stale,
    })
}

fn describe(rule: &RuleView) -> String {
    format!(
        "{} {} since {}",
        rule.substance_scope.label(),
        rule.status.label(),
        rule.effective_from
            .as_ref()
            .map_or("an unknown date", |d| d.text.as_str())
    )
}

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let Some(legal) = &facts.legal else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    let notable: Vec<&RuleView> = legal
        .answer
        .rules
        .iter()
        .filter(|r| r.status != LegalStatus::LegalUnregulated)
        .collect();
    if !notable.is_empty() {
        let restricted = notable
            .iter()
            .any(|r| r.status.restricts_use() && ANY_KRATOM.contains(&r.substance_scope));
        let ids: Vec<&str> = notable.iter().map(|r| r.id.as_str()).collect();
        findings.push(Finding {
            rule: Rule::LegalStatus,
            // One alert per jurisdiction: a move raises a new one rather than folding.
            scope: format!("jurisdiction:{}", legal.jurisdiction),
            episode: format!("{}:{}", legal.jurisdiction, ids.join(",")),
            summary: format!(
                "Kratom in {}: {}",
                legal.answer.name,
                notable
                    .iter()
                    .map(|r| describe(r))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            evidence: json!({
                "severity": if restricted { "warning" } else { "info" },
                "jurisdiction": legal.jurisdiction,
                "date": legal.answer.date.to_string(),
                "rules": notable.iter().map(|r| rule_json(r)).collect::<Vec<_>>(),
                "pending_bills": legal.answer.pending_bills.iter().map(|b| &b.citation).collect::<Vec<_>>(),
                "dataset_version": legal.answer.dataset_version,
            }),
            source: Source::Patient,
        });
    }
    let recent = facts.doses_within(KRATOM_IN_USE_WINDOW);
    for batch in &legal.batches {
        let restricting: Vec<&RuleView> = legal.answer.restricting(&batch.scopes).collect();
        if restricting.is_empty() {
            continue;
        }
        let Some(latest) = recent
            .iter()
            .filter(|d| d.batch_id == batch.batch_id)
            .last()
        else {
            continue;
        };
        let ids: Vec<&str> = restricting.iter().map(|r| r.id.as_str()).collect();
        findings.push(Finding {
            rule: Rule::LegalStatus,
            scope: batch.batch_id.to_string(),
            episode: format!(
                "{}:{}:{}",
                legal.jurisdiction,
                batch.batch_id,
                ids.join(",")
            ),
            summary: format!(
                "{} is {} in {}",
                batch.product_name,
                restricting
                    .iter()
                    .map(|r| describe(r))
                    .collect::<Vec<_>>()
                    .join("; "),
                legal.answer.name
            ),
            evidence: json!({
                "severity": "warning",
                "jurisdiction": legal.jurisdiction,
                "batch_id": batch.batch_id,
                "product_name": batch.product_name,
                "product_scopes": batch.scopes,
                "rules": restricting.iter().map(|r| rule_json(r)).collect::<Vec<_>>(),
                "latest_dose_at": latest.taken_at.to_string(),
            }),
            source: Source::Dose(latest.id),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legal::{LegalDataset, ProductScopeFacts, product_scopes};
    use crate::safety::Severity;
    use crate::safety::test_support::{dose_at, facts, hours_ago};

    fn legal_facts(code: &str, batches: Vec<BatchScopes>) -> LegalFacts {
        let data = LegalDataset::bundled().unwrap();
        LegalFacts {
            jurisdiction: code.into(),
            answer: data
                .rules_in_force(code, jiff::civil::date(2026, 11, 24))
                .unwrap(),
            batches,
        }
    }

    #[test]
    fn enrolment_in_a_ban_state_warns_and_a_regulating_state_informs() {
        let mut f = facts();
        f.legal = Some(legal_facts("US-AL", Vec::new()));
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule.code(), "legal_status");
        assert_eq!(findings[0].severity(), Severity::Warning);
        assert!(
            findings[0].summary.contains("2016-05-10"),
            "{}",
            findings[0].summary
        );
        f.legal = Some(legal_facts("US-TN", Vec::new()));
        let findings = evaluate(&f);
        assert_eq!(findings[0].severity(), Severity::Info);
        assert!(findings[0].episode.starts_with("US-TN:"));
    }

    #[test]
    fn a_jurisdiction_change_is_a_new_episode() {
        let mut f = facts();
        f.legal = Some(legal_facts("US-AL", Vec::new()));
        let alabama = evaluate(&f)[0].episode.clone();
        f.legal = Some(legal_facts("US-LA", Vec::new()));
        assert_ne!(evaluate(&f)[0].episode, alabama);
    }

    #[test]
    fn a_dose_of_concentrated_seven_oh_in_florida_warns_and_leaf_does_not() {
        let seven_oh = BatchId::new();
        let leaf = BatchId::new();
        let mut f = facts();
        let mut dose = dose_at(hours_ago(2), 10.0);
        dose.batch_id = seven_oh;
        let mut leaf_dose = dose_at(hours_ago(3), 10.0);
        leaf_dose.batch_id = leaf;
        f.doses = vec![dose, leaf_dose];
        f.legal = Some(legal_facts(
            "US-FL",
            vec![
                BatchScopes {
                    batch_id: seven_oh,
                    product_name: "7-OH tabs".into(),
                    scopes: product_scopes(ProductScopeFacts {
                        concentrated_hydroxy: true,
                        ..Default::default()
                    }),
                },
                BatchScopes {
                    batch_id: leaf,
                    product_name: "Leaf".into(),
                    scopes: product_scopes(ProductScopeFacts::default()),
                },
            ],
        ));
        let findings = evaluate(&f);
        let per_batch: Vec<_> = findings
            .iter()
            .filter(|x| !x.scope.starts_with("jurisdiction"))
            .collect();
        assert_eq!(per_batch.len(), 1);
        assert_eq!(per_batch[0].scope, seven_oh.to_string());
        assert_eq!(per_batch[0].severity(), Severity::Warning);
        // Florida regulates leaf and bans only concentrated 7-OH: the jurisdiction alert informs.
        let jurisdiction = findings
            .iter()
            .find(|x| x.scope.starts_with("jurisdiction"))
            .unwrap();
        assert_eq!(jurisdiction.severity(), Severity::Info);
    }

    #[test]
    fn without_a_known_jurisdiction_nothing_fires() {
        assert!(evaluate(&facts()).is_empty());
    }
}
