//! A dose of a batch flagged as enhanced or semi-synthetic 7-OH, contaminated at this
//! patient's intake, failing microbial limits, or recalled; and a day on which the heavy
//! metals of every batch taken, liquids included, add up to more than a daily limit that
//! no batch reaches alone (`heavy_metal_daily_total_over_limit`): USP <2232> limits what a
//! person takes in a day, not what one product holds (legal-and-products.md §3.2).
//!
//! Sources: the flags and their limits are `data/product-quality.toml`, which cites
//! legal-and-products.md (FDA 2025 7-OH guidance, USP <2232> heavy metals, USP
//! <2023> microbial limits, recalls) and pharmacology.md §2 (natural 7-OH content)
//! and §5 (7-OH's unplateaued respiratory depression, Hill 2022).

use std::collections::BTreeMap;

use serde_json::json;

use super::{DoseFact, Finding, Guidance, KRATOM_IN_USE_WINDOW, PatientFacts, Rule, Source};
use crate::ids::BatchId;
use crate::quality::{BatchName, DailyMetalExcess, Metal};

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

/// The flag of a day whose heavy metals from several batches together are over a limit.
pub const DAILY_METAL_TOTAL_FLAG: &str = "heavy_metal_daily_total_over_limit";

/// The finding's scope: one condition per patient, whichever batches feed it.
pub const DAILY_METAL_TOTAL_SCOPE: &str = "heavy_metal_daily_total";

/// Short words for a flag in a one-line summary; the evidence keeps the full explanation.
pub fn flag_label(code: &str) -> &str {
    match code {
        "hydroxy_fraction_over_2pct" => "7-OH over 2 % of alkaloids",
        "hydroxy_over_0_04pct_weight" => "7-OH over 0.04 % by weight",
        "hydroxy_per_serving_2mg_or_more" => "7-OH 2 mg or more per serving",
        "semi_synthetic_suspected" => "semi-synthetic 7-OH suspected",
        "heavy_metal_over_daily_limit" => "heavy metals over the daily limit at this intake",
        DAILY_METAL_TOTAL_FLAG => "heavy metals over the daily limit from several batches together",
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
    findings.extend(daily_metal_total(facts, &recent));
    findings
}

/// One finding for every metal whose day total from several batches is over its limit
/// in the in-use window, each explained on its worst day (the latest of equal days).
fn daily_metal_total(facts: &PatientFacts, recent: &[&DoseFact]) -> Option<Finding> {
    let first_day = (facts.now - KRATOM_IN_USE_WINDOW)
        .to_zoned_datetime(facts.zone.clone())
        .date();
    let mut worst: BTreeMap<Metal, &DailyMetalExcess> = BTreeMap::new();
    let mut days: BTreeMap<Metal, Vec<String>> = BTreeMap::new();
    let mut batches: BTreeMap<BatchId, &BatchName> = BTreeMap::new();
    for excess in facts.heavy_metal_days.iter().filter(|e| e.day >= first_day) {
        let entry = worst.entry(excess.metal).or_insert(excess);
        if excess.total_micrograms >= entry.total_micrograms {
            *entry = excess;
        }
        days.entry(excess.metal)
            .or_default()
            .push(excess.day.to_string());
        for contribution in &excess.contributions {
            batches.insert(contribution.batch.batch_id, &contribution.batch);
        }
    }
    let latest = recent
        .iter()
        .filter(|d| batches.contains_key(&d.batch_id))
        .max_by_key(|d| d.taken_at)?;
    let metals: Vec<&str> = worst.keys().map(|m| m.name()).collect();
    Some(Finding {
        rule: Rule::ProductQuality,
        scope: DAILY_METAL_TOTAL_SCOPE.to_owned(),
        episode: format!(
            "{DAILY_METAL_TOTAL_SCOPE}:{}:{}",
            metals.join(","),
            batches
                .keys()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("+")
        ),
        summary: worst
            .values()
            .map(|e| {
                format!(
                    "{} from {} batches together: {} µg{} on {} (limit {} µg/day)",
                    capitalised(e.metal.name()),
                    e.contributions.len(),
                    round2(e.total_micrograms),
                    if e.unmeasured.is_empty() {
                        ""
                    } else {
                        " or more"
                    },
                    e.day,
                    round2(e.limit_micrograms_per_day),
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        evidence: json!({
            "flags": worst.values().map(|e| json!({
                "code": DAILY_METAL_TOTAL_FLAG, "explanation": e.explanation(),
            })).collect::<Vec<_>>(),
            "metals": worst.values().map(|e| json!({
                "metal": e.metal,
                "worst_day": e.day.to_string(),
                "total_micrograms": round2(e.total_micrograms),
                "limit_micrograms_per_day": e.limit_micrograms_per_day,
                "lower_bound": !e.unmeasured.is_empty(),
                "days_over_limit": days.get(&e.metal),
            })).collect::<Vec<_>>(),
            "batches": batches.values().map(|b| json!({
                "batch_id": b.batch_id, "product_name": b.product_name, "lot": b.lot,
            })).collect::<Vec<_>>(),
            "latest_dose_at": latest.taken_at.to_string(),
        }),
        source: Source::Dose(latest.id),
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
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

    fn excess(day: jiff::civil::Date, batches: &[(BatchId, f64)]) -> DailyMetalExcess {
        use crate::quality::{DailyAmount, MetalContribution};
        DailyMetalExcess {
            day,
            metal: Metal::Lead,
            total_micrograms: batches.iter().map(|(_, ug)| ug).sum(),
            limit_micrograms_per_day: 5.0,
            contributions: batches
                .iter()
                .enumerate()
                .map(|(i, (batch_id, ug))| MetalContribution {
                    batch: BatchName {
                        batch_id: *batch_id,
                        product_name: format!("Product {i}"),
                        lot: format!("L{i}"),
                    },
                    amount: DailyAmount {
                        grams: *ug,
                        millilitres: 0.0,
                    },
                    ppm: 1.0,
                    micrograms: *ug,
                })
                .collect(),
            unmeasured: Vec::new(),
        }
    }

    #[test]
    fn a_day_over_the_metal_limit_from_two_batches_fires_once_naming_both() {
        let (leaf, extract) = (BatchId::new(), BatchId::new());
        let mut f = facts();
        let mut first = dose_at(hours_ago(30), 20.0);
        first.batch_id = leaf;
        let mut second = dose_at(hours_ago(26), 20.0);
        second.batch_id = extract;
        f.doses = vec![second.clone(), first];
        let yesterday = hours_ago(30).to_zoned_datetime(f.zone.clone()).date();
        let earlier = yesterday.yesterday().unwrap();
        f.heavy_metal_days = vec![
            excess(earlier, &[(leaf, 3.0), (extract, 2.5)]),
            excess(yesterday, &[(leaf, 3.2), (extract, 2.0)]),
        ];
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let finding = &findings[0];
        assert_eq!(finding.scope, DAILY_METAL_TOTAL_SCOPE);
        assert_eq!(finding.source, Source::Dose(second.id));
        // The worst day is explained: 5.5 µg the day before yesterday.
        assert!(
            finding.summary.starts_with(&format!(
                "Lead from 2 batches together: 5.5 µg on {earlier}"
            )),
            "{}",
            finding.summary
        );
        let evidence = &finding.evidence;
        assert_eq!(evidence["flags"][0]["code"], DAILY_METAL_TOTAL_FLAG);
        assert_eq!(
            evidence["metals"][0]["days_over_limit"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(evidence["metals"][0]["lower_bound"], false);
        assert_eq!(evidence["batches"].as_array().unwrap().len(), 2);
        assert!(
            finding.episode.contains(&leaf.to_string())
                && finding.episode.contains(&extract.to_string())
        );
    }

    #[test]
    fn a_metal_day_before_the_in_use_window_does_not_fire() {
        let (leaf, extract) = (BatchId::new(), BatchId::new());
        let mut f = facts();
        let mut dose = dose_at(hours_ago(2), 20.0);
        dose.batch_id = leaf;
        f.doses = vec![dose];
        let old_day = hours_ago(16 * 24).to_zoned_datetime(f.zone.clone()).date();
        f.heavy_metal_days = vec![excess(old_day, &[(leaf, 3.0), (extract, 2.5)])];
        assert!(evaluate(&f).is_empty());
    }
}
