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
    /// The batch's 7-OH as the law's limits measure it, from its certificate.
    pub hydroxy: HydroxyContent,
}

/// A batch's 7-OH in the three ways legal limits are written (legal-and-products.md §4.2
/// conditions `max_7OH_fraction_of_alkaloids`, `max_7OH_w_w`, `max_7OH_mg_per_serving`);
/// each `None` when the certificate or the product does not give it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HydroxyContent {
    /// 7-OH over the alkaloids the lab measured. Labs rarely measure every alkaloid, so
    /// this can overstate the share a statute means (as the product-quality check says).
    pub fraction_of_measured_alkaloids: Option<f64>,
    /// 7-OH as a fraction of the product's weight.
    pub w_w: Option<f64>,
    pub mg_per_serving: Option<f64>,
}

impl HydroxyContent {
    pub fn of(
        product: &crate::product::ProductFacts,
        assay: Option<&crate::product::Assay>,
    ) -> Self {
        let Some(assay) = assay else {
            return Self::default();
        };
        let hydroxy = assay.alkaloids.hydroxymitragynine_mg_per_g;
        let total = assay.alkaloids.measured_total_mg_per_g();
        HydroxyContent {
            fraction_of_measured_alkaloids: hydroxy.filter(|_| total > 0.0).map(|h| h / total),
            w_w: hydroxy
                .filter(|_| !product.form.is_liquid())
                .map(|h| h / 1000.0),
            mg_per_serving: hydroxy
                .zip(product.serving_amount())
                .map(|(h, serving)| h * serving),
        }
    }

    /// The limits of `conditions` this batch exceeds, in words.
    fn over(&self, conditions: &crate::legal::Conditions) -> Vec<String> {
        let mut over = Vec::new();
        if let (Some(limit), Some(value)) = (
            conditions.max_hydroxy_fraction_of_alkaloids,
            self.fraction_of_measured_alkaloids,
        ) && value > limit
        {
            over.push(format!(
                "7-OH is {:.1}% of the alkaloids the lab measured, over the {}% limit",
                value * 100.0,
                limit * 100.0
            ));
        }
        if let (Some(limit), Some(value)) = (conditions.max_hydroxy_w_w, self.w_w)
            && value > limit
        {
            over.push(format!(
                "7-OH is {:.3}% by weight, over the {}% limit",
                value * 100.0,
                limit * 100.0
            ));
        }
        if let (Some(limit), Some(value)) =
            (conditions.max_hydroxy_mg_per_serving, self.mg_per_serving)
            && value > limit
        {
            over.push(format!(
                "a serving holds about {value:.1} mg of 7-OH, over the {limit} mg limit"
            ));
        }
        over
    }
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
        let Some(latest) = recent.iter().rev().find(|d| d.batch_id == batch.batch_id) else {
            continue;
        };
        findings.extend(over_limit(legal, batch, latest));
        let restricting: Vec<&RuleView> = legal.answer.restricting(&batch.scopes).collect();
        if restricting.is_empty() {
            continue;
        }
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

/// The rules in force that regulate (rather than ban) one of `scopes` with a 7-OH limit
/// that `hydroxy` exceeds, each with the limits exceeded in words. Read by the rule and by
/// the product page.
pub fn limits_exceeded<'a>(
    answer: &'a LegalAnswer,
    scopes: &[SubstanceScope],
    hydroxy: &HydroxyContent,
) -> Vec<(&'a RuleView, Vec<String>)> {
    answer
        .rules
        .iter()
        .filter(|r| !r.status.restricts_use() && scopes.contains(&r.substance_scope))
        .map(|r| (r, hydroxy.over(&r.conditions)))
        .filter(|(_, over)| !over.is_empty())
        .collect()
}

/// A lot whose certificate exceeds a 7-OH limit that a regulating law sets for its scope
/// (Texas and Colorado cap 7-OH at 2 % of alkaloids, legal-and-products.md §2): sold
/// outside the law's conditions even where kratom itself is legal. A warning per batch,
/// on a dose, like a restricted scope.
fn over_limit(
    legal: &LegalFacts,
    batch: &BatchScopes,
    latest: &super::DoseFact,
) -> Option<Finding> {
    let breaches = limits_exceeded(&legal.answer, &batch.scopes, &batch.hydroxy);
    if breaches.is_empty() {
        return None;
    }
    let ids: Vec<&str> = breaches.iter().map(|(r, _)| r.id.as_str()).collect();
    Some(Finding {
        rule: Rule::LegalStatus,
        scope: format!("{}:limits", batch.batch_id),
        episode: format!(
            "{}:{}:limits:{}",
            legal.jurisdiction,
            batch.batch_id,
            ids.join(",")
        ),
        summary: format!(
            "{} exceeds the 7-OH limit where the patient lives ({}): {}",
            batch.product_name,
            legal.answer.name,
            breaches
                .iter()
                .flat_map(|(_, over)| over.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        evidence: json!({
            "severity": "warning",
            "jurisdiction": legal.jurisdiction,
            "batch_id": batch.batch_id,
            "product_name": batch.product_name,
            "product_scopes": batch.scopes,
            "hydroxy": {
                "fraction_of_measured_alkaloids": batch.hydroxy.fraction_of_measured_alkaloids,
                "w_w": batch.hydroxy.w_w,
                "mg_per_serving": batch.hydroxy.mg_per_serving,
            },
            "limits_exceeded": breaches.iter().map(|(r, over)| {
                let mut rule = rule_json(r);
                rule["exceeded"] = json!(over);
                rule
            }).collect::<Vec<_>>(),
            "note": "The share is of the alkaloids the lab measured; a certificate listing few alkaloids overstates it.",
            "latest_dose_at": latest.taken_at.to_string(),
        }),
        source: Source::Dose(latest.id),
    })
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
                    hydroxy: HydroxyContent::default(),
                },
                BatchScopes {
                    batch_id: leaf,
                    product_name: "Leaf".into(),
                    scopes: product_scopes(ProductScopeFacts::default()),
                    hydroxy: HydroxyContent::default(),
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
    fn a_lot_over_texass_seven_oh_limit_warns_and_one_within_it_does_not() {
        // Texas regulates kratom and caps 7-OH at 2 % of alkaloids (SB 497, 2023).
        let enhanced = BatchId::new();
        let natural = BatchId::new();
        let mut f = facts();
        let mut dose = dose_at(hours_ago(2), 10.0);
        dose.batch_id = enhanced;
        let mut leaf_dose = dose_at(hours_ago(3), 10.0);
        leaf_dose.batch_id = natural;
        f.doses = vec![dose, leaf_dose];
        let scopes = product_scopes(ProductScopeFacts::default());
        f.legal = Some(legal_facts(
            "US-TX",
            vec![
                BatchScopes {
                    batch_id: enhanced,
                    product_name: "Max tabs".into(),
                    scopes: scopes.clone(),
                    hydroxy: HydroxyContent {
                        fraction_of_measured_alkaloids: Some(50.0 / 55.0),
                        ..HydroxyContent::default()
                    },
                },
                BatchScopes {
                    batch_id: natural,
                    product_name: "Leaf".into(),
                    scopes,
                    hydroxy: HydroxyContent {
                        fraction_of_measured_alkaloids: Some(0.3 / 15.3),
                        ..HydroxyContent::default()
                    },
                },
            ],
        ));
        let findings = evaluate(&f);
        let limits: Vec<_> = findings
            .iter()
            .filter(|x| x.scope.ends_with(":limits"))
            .collect();
        assert_eq!(limits.len(), 1, "{findings:?}");
        assert_eq!(limits[0].scope, format!("{enhanced}:limits"));
        assert_eq!(limits[0].severity(), Severity::Warning);
        assert!(limits[0].summary.contains("90.9%"), "{}", limits[0].summary);
        assert!(
            limits[0].summary.contains("2% limit"),
            "{}",
            limits[0].summary
        );
        // No dose of the lot in the window: nothing to say.
        f.doses.retain(|d| d.batch_id != enhanced);
        assert!(evaluate(&f).iter().all(|x| !x.scope.ends_with(":limits")));
    }

    #[test]
    fn hydroxy_content_reads_the_certificate_and_the_serving() {
        use crate::product::{Assay, ProductFacts, ProductForm};
        let tablet = ProductFacts {
            form: ProductForm::Tablet,
            unit_mass_g: Some(0.3),
            serving_size: None,
            labels_hydroxy_as_ingredient: true,
        };
        let mut assay = Assay::default();
        assay.alkaloids.mitragynine_mg_per_g = Some(5.0);
        assay.alkaloids.hydroxymitragynine_mg_per_g = Some(50.0);
        let content = HydroxyContent::of(&tablet, Some(&assay));
        assert!((content.fraction_of_measured_alkaloids.unwrap() - 50.0 / 55.0).abs() < 1e-9);
        assert!((content.w_w.unwrap() - 0.05).abs() < 1e-9);
        assert!((content.mg_per_serving.unwrap() - 15.0).abs() < 1e-9);
        assert_eq!(HydroxyContent::of(&tablet, None), HydroxyContent::default());
    }

    #[test]
    fn without_a_known_jurisdiction_nothing_fires() {
        assert!(evaluate(&facts()).is_empty());
    }
}
