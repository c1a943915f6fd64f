//! JSON views that both the API and the pages render from use-case results (the pages
//! read them to draw the same figures). Neither adapter owns them, so neither imports the other.

use serde::Serialize;
use speciosa_app::doses::BatchSafety;
use speciosa_core::quality::QualityFlag;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct QualityFlagView {
    /// Stable code, e.g. `no_assay`, `hydroxy_fraction_over_2pct`, `recalled`.
    pub code: String,
    /// `info`, `warning` or `urgent`.
    pub severity: String,
    /// What was found and why it matters, in plain words.
    pub explanation: String,
    /// The standard the rule applies.
    pub standard: String,
    pub reference: String,
    /// How strong the evidence behind the rule is.
    pub evidence: String,
}

impl From<QualityFlag> for QualityFlagView {
    fn from(flag: QualityFlag) -> Self {
        QualityFlagView {
            code: flag.code.to_owned(),
            severity: serde_json::to_value(flag.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            explanation: flag.explanation,
            standard: flag.standard,
            reference: flag.reference,
            evidence: flag.evidence,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BatchSafetyView {
    pub batch_id: Uuid,
    pub product_id: Uuid,
    pub product_name: String,
    pub lot: String,
    /// The most the patient took of this batch on any one day in the window, g.
    pub max_grams_per_day: f64,
    pub days_used: usize,
    /// The batch's own flags plus heavy-metal limits judged at this patient's intake.
    pub flags: Vec<QualityFlagView>,
}

impl From<BatchSafety> for BatchSafetyView {
    fn from(judged: BatchSafety) -> Self {
        BatchSafetyView {
            batch_id: judged.batch.id.as_uuid(),
            product_id: judged.product.id.as_uuid(),
            product_name: judged.product.details.name,
            lot: judged.batch.lot,
            max_grams_per_day: judged.max_grams_per_day,
            days_used: judged.days_used,
            flags: judged.flags.into_iter().map(Into::into).collect(),
        }
    }
}
