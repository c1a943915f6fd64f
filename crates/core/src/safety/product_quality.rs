//! A dose of a batch flagged as enhanced or semi-synthetic 7-OH, contaminated at this
//! patient's intake, failing microbial limits, or recalled.
//!
//! Sources: the flags and their limits are `data/product-quality.toml`, which cites
//! legal-and-products.md (FDA 2025 7-OH guidance, USP <2232> heavy metals, USP
//! <2023> microbial limits, recalls) and pharmacology.md §2 (natural 7-OH content)
//! and §5 (7-OH's unplateaued respiratory depression, Hill 2022).

use serde_json::json;

use super::{Finding, Guidance, KRATOM_IN_USE_WINDOW, PatientFacts, Rule, Source};

pub const GUIDANCE: Guidance = Guidance {
    title: "Dose of a flagged product batch",
    consider: "Ask the patient to stop using this batch and keep the package. For 7-OH-enhanced \
               or semi-synthetic products, review respiratory risk and the taper plan, since \
               potency is far above natural leaf. For heavy metals, check cumulative exposure; \
               for microbial failure or a recall, ask about GI illness and report adverse events.",
    source: "shared/reference/legal-and-products.md (7-OH limits, USP <2232>, USP <2023>, recalls) \
             and pharmacology.md §2 and §5 (Hill 2022), via data/product-quality.toml",
    evidence: "Limits are regulatory and pharmacopoeial thresholds; the 7-OH harms come from \
               animal data and surveillance, not trials.",
};

/// The quality flags that make using the batch a safety signal. Flags that only say
/// a certificate is missing or weak (`no_assay`, `insufficient_method_sensitivity`)
/// are shown on the product, not raised as alerts.
pub const ALERTING_FLAGS: [&str; 8] = [
    "hydroxy_fraction_over_2pct",
    "hydroxy_over_0_04pct_weight",
    "hydroxy_per_serving_2mg_or_more",
    "semi_synthetic_suspected",
    "heavy_metal_over_daily_limit",
    "microbial_failure",
    "recalled",
    "unknown_strength_7oh",
];

/// Short words for a flag in a one-line summary; the evidence keeps the full explanation.
pub fn flag_label(code: &str) -> &str {
    match code {
        "hydroxy_fraction_over_2pct" => "7-OH over 2 % of alkaloids",
        "hydroxy_over_0_04pct_weight" => "7-OH over 0.04 % by weight",
        "hydroxy_per_serving_2mg_or_more" => "7-OH 2 mg or more per serving",
        "semi_synthetic_suspected" => "semi-synthetic 7-OH suspected",
        "heavy_metal_over_daily_limit" => "heavy metals over the daily limit at this intake",
        "microbial_failure" => "failed microbial limits",
        "recalled" => "recalled",
        "unknown_strength_7oh" => "unassayed 7-OH product of unknown strength",
        other => other,
    }
}

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let recent = facts.doses_within(KRATOM_IN_USE_WINDOW);
    let mut findings = Vec::new();
    for concern in &facts.batch_concerns {
        let mut flags: Vec<&(String, String)> = concern
            .flags
            .iter()
            .filter(|(code, _)| ALERTING_FLAGS.contains(&code.as_str()))
            .collect();
        if flags.is_empty() {
            continue;
        }
        flags.sort();
        let used: Vec<_> = recent
            .iter()
            .filter(|d| d.batch_id == concern.batch_id)
            .collect();
        let Some(latest) = used.last() else {
            continue;
        };
        let codes: Vec<&str> = flags.iter().map(|(code, _)| code.as_str()).collect();
        findings.push(Finding {
            rule: Rule::ProductQuality,
            scope: concern.batch_id.to_string(),
            episode: format!("{}:{}", concern.batch_id, codes.join(",")),
            summary: format!(
                "{} lot {}: {} ({} dose{} in 14 days)",
                concern.product_name,
                concern.lot,
                codes
                    .iter()
                    .map(|c| flag_label(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                concern.doses_in_window,
                if concern.doses_in_window == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            evidence: json!({
                "batch_id": concern.batch_id,
                "product_name": concern.product_name,
                "lot": concern.lot,
                "flags": flags.iter().map(|(code, explanation)| json!({
                    "code": code, "explanation": explanation,
                })).collect::<Vec<_>>(),
                "doses_in_last_14_days": concern.doses_in_window,
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
    use crate::ids::BatchId;
    use crate::safety::BatchConcern;
    use crate::safety::test_support::{dose_at, facts, hours_ago};

    fn concern(batch: BatchId, code: &str) -> BatchConcern {
        BatchConcern {
            batch_id: batch,
            product_name: "7-OH Max".into(),
            lot: "L1".into(),
            doses_in_window: 1,
            flags: vec![(code.into(), "explained".into())],
        }
    }

    #[test]
    fn a_recent_dose_of_a_recalled_batch_fires_and_a_missing_assay_does_not() {
        let batch = BatchId::new();
        let mut f = facts();
        let mut dose = dose_at(hours_ago(2), 20.0);
        dose.batch_id = batch;
        f.doses = vec![dose];
        f.batch_concerns = vec![concern(batch, "no_assay")];
        assert!(evaluate(&f).is_empty());
        f.batch_concerns = vec![concern(batch, "recalled")];
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].scope, batch.to_string());
        assert_eq!(findings[0].evidence["flags"][0]["code"], "recalled");
    }

    #[test]
    fn a_flagged_batch_last_used_outside_the_window_does_not_fire() {
        let batch = BatchId::new();
        let mut f = facts();
        let mut dose = dose_at(hours_ago(14 * 24), 20.0);
        dose.batch_id = batch;
        f.doses = vec![dose];
        f.batch_concerns = vec![concern(batch, "hydroxy_per_serving_2mg_or_more")];
        assert!(evaluate(&f).is_empty());
    }
}
