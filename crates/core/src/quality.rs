//! Batch quality flags. The limits live in `data/product-quality.toml` with their
//! sources; this module interprets them. Flags are computed from the batch's
//! current data every time they are shown, so they always reflect the latest inputs.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::ids::BatchId;
use crate::product::{Assay, HeavyMetals, ProductFacts, ProductForm};

/// The bundled standards file.
pub const BUNDLED: &str = include_str!("../../../data/product-quality.toml");

/// Where a number comes from and how much weight it bears.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Citation {
    pub standard: String,
    pub reference: String,
    pub evidence: String,
}

#[derive(Clone, Debug, Deserialize)]
struct HydroxyFraction {
    max_fraction_of_measured_alkaloids: f64,
    #[serde(flatten)]
    citation: Citation,
}

#[derive(Clone, Debug, Deserialize)]
struct HydroxyWeight {
    max_mg_per_g: f64,
    #[serde(flatten)]
    citation: Citation,
}

#[derive(Clone, Debug, Deserialize)]
struct CitationOnly {
    #[serde(flatten)]
    citation: Citation,
}

#[derive(Clone, Debug, Deserialize)]
struct HydroxyPerServing {
    flag_at_or_above_mg: f64,
    #[serde(flatten)]
    citation: Citation,
}

#[derive(Clone, Debug, Deserialize)]
struct ExtractSuspected {
    max_plain_leaf_mitragynine_mg_per_g: f64,
    plain_leaf_forms: Vec<ProductForm>,
    #[serde(flatten)]
    citation: Citation,
}

#[derive(Clone, Debug, Deserialize)]
struct MethodSensitivity {
    max_hydroxy_loq_mg_per_g: f64,
    #[serde(flatten)]
    citation: Citation,
}

#[derive(Clone, Debug, Deserialize)]
pub struct HeavyMetalLimits {
    pub lead_ug_per_day: f64,
    pub cadmium_ug_per_day: f64,
    pub arsenic_ug_per_day: f64,
    pub mercury_ug_per_day: f64,
    #[serde(flatten)]
    pub citation: Citation,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MicrobialLimit {
    pub material: String,
    pub total_aerobic_cfu_per_g: f64,
    pub yeast_mold_cfu_per_g: f64,
}

#[derive(Clone, Debug, Deserialize)]
struct MicrobialLimits {
    limits: BTreeMap<ProductForm, MicrobialLimit>,
    #[serde(flatten)]
    citation: Citation,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
pub struct Range {
    pub low: f64,
    pub typical: f64,
    pub high: f64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NaturalLeafEstimate {
    pub forms: Vec<ProductForm>,
    pub mitragynine_mg_per_g: Range,
    pub hydroxymitragynine_mg_per_g: Range,
    #[serde(flatten)]
    pub citation: Citation,
}

/// Every quality limit, as loaded from the standards file.
#[derive(Clone, Debug, Deserialize)]
pub struct QualityStandards {
    pub version: String,
    hydroxy_fraction: HydroxyFraction,
    hydroxy_weight_fraction: HydroxyWeight,
    semi_synthetic: CitationOnly,
    hydroxy_per_serving: HydroxyPerServing,
    extract_suspected: ExtractSuspected,
    method_sensitivity: MethodSensitivity,
    pub heavy_metals: HeavyMetalLimits,
    microbial: MicrobialLimits,
    pub natural_leaf_estimate: NaturalLeafEstimate,
}

#[derive(Debug, thiserror::Error)]
pub enum StandardsError {
    #[error("the quality standards file is not valid TOML for this version of Speciosa: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("the quality standards file is inconsistent: {0}")]
    Invalid(String),
}

impl QualityStandards {
    /// The standards shipped with this build.
    pub fn bundled() -> Result<Self, StandardsError> {
        Self::parse(BUNDLED)
    }

    pub fn parse(text: &str) -> Result<Self, StandardsError> {
        let standards: QualityStandards = toml::from_str(text)?;
        standards.validate()?;
        Ok(standards)
    }

    fn validate(&self) -> Result<(), StandardsError> {
        let positive = [
            (
                "hydroxy_fraction",
                self.hydroxy_fraction.max_fraction_of_measured_alkaloids,
            ),
            (
                "hydroxy_weight_fraction",
                self.hydroxy_weight_fraction.max_mg_per_g,
            ),
            (
                "hydroxy_per_serving",
                self.hydroxy_per_serving.flag_at_or_above_mg,
            ),
            (
                "extract_suspected",
                self.extract_suspected.max_plain_leaf_mitragynine_mg_per_g,
            ),
            (
                "method_sensitivity",
                self.method_sensitivity.max_hydroxy_loq_mg_per_g,
            ),
            ("heavy_metals.lead", self.heavy_metals.lead_ug_per_day),
            ("heavy_metals.cadmium", self.heavy_metals.cadmium_ug_per_day),
            ("heavy_metals.arsenic", self.heavy_metals.arsenic_ug_per_day),
            ("heavy_metals.mercury", self.heavy_metals.mercury_ug_per_day),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(StandardsError::Invalid(format!(
                "{name} must be a positive number"
            )));
        }
        if let Some(form) = ProductForm::ALL
            .into_iter()
            .find(|f| !self.microbial.limits.contains_key(f))
        {
            return Err(StandardsError::Invalid(format!(
                "microbial.limits has no entry for {form}"
            )));
        }
        for (name, range) in [
            (
                "mitragynine",
                self.natural_leaf_estimate.mitragynine_mg_per_g,
            ),
            (
                "hydroxymitragynine",
                self.natural_leaf_estimate.hydroxymitragynine_mg_per_g,
            ),
        ] {
            if !(0.0 <= range.low && range.low <= range.typical && range.typical <= range.high) {
                return Err(StandardsError::Invalid(format!(
                    "natural_leaf_estimate.{name} must satisfy 0 ≤ low ≤ typical ≤ high"
                )));
            }
        }
        Ok(())
    }

    pub fn microbial_limit(&self, form: ProductForm) -> Option<&MicrobialLimit> {
        self.microbial.limits.get(&form)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Urgent,
}

/// A quality problem with a batch, in plain words, with the standard it applies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QualityFlag {
    pub code: &'static str,
    pub severity: Severity,
    /// What was found and why it matters, for a clinician or patient.
    pub explanation: String,
    pub standard: String,
    pub reference: String,
    pub evidence: String,
}

impl QualityFlag {
    fn new(
        code: &'static str,
        severity: Severity,
        explanation: String,
        citation: &Citation,
    ) -> Self {
        QualityFlag {
            code,
            severity,
            explanation,
            standard: citation.standard.clone(),
            reference: citation.reference.clone(),
            evidence: citation.evidence.clone(),
        }
    }
}

/// What the flags look at for one batch.
#[derive(Clone, Debug)]
pub struct BatchFacts<'a> {
    pub product: &'a ProductFacts,
    pub assay: Option<&'a Assay>,
    pub recalled: bool,
    pub recall_reason: Option<&'a str>,
}

const fn pct(mg_per_g: f64) -> f64 {
    mg_per_g / 10.0
}

fn fmt_num(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl QualityStandards {
    /// Every flag that applies to the batch itself, most severe first.
    pub fn batch_flags(&self, batch: &BatchFacts<'_>) -> Vec<QualityFlag> {
        let mut flags = Vec::new();
        let product = batch.product;
        let per = if product.form.is_liquid() { "mL" } else { "g" };

        if batch.recalled {
            flags.push(QualityFlag {
                code: "recalled",
                severity: Severity::Urgent,
                explanation: format!(
                    "This batch has been recalled{}. It should not be taken.",
                    batch
                        .recall_reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                standard: "Recall recorded for this batch".into(),
                reference: "legal-and-products.md §3.5–3.6 (recalls and enforcement)".into(),
                evidence: "as recorded by the clinic".into(),
            });
        }

        if product.labels_hydroxy_as_ingredient {
            flags.push(QualityFlag::new(
                "semi_synthetic_suspected",
                Severity::Urgent,
                "The label lists 7-hydroxymitragynine (7-OH) or a similar compound as an ingredient: this is a semi-synthetic opioid product, not natural kratom leaf.".into(),
                &self.semi_synthetic.citation,
            ));
        }

        let Some(assay) = batch.assay else {
            if product.usually_concentrated_hydroxy() {
                flags.push(QualityFlag {
                    code: "unknown_strength_7oh",
                    severity: Severity::Warning,
                    explanation: "No certificate, and this form usually carries concentrated 7-OH (tablets, shots and other liquids, gummies, anything sold as 7-OH or \"enhanced\"): its strength is unknown and may be many times a leaf serving. It is not estimated as leaf.".into(),
                    standard: "Enhanced 7-OH products sell 5–30 mg per serving; a generous leaf serving holds about 0.4–1.6 mg".into(),
                    reference: "legal-and-products.md §2d, §3.7 and §3.8 rule 4; pharmacology.md §2".into(),
                    evidence: "derived from product surveys and regulatory actions, not a measured limit".into(),
                });
            }
            let estimate = if self.natural_leaf_estimate.forms.contains(&product.form) {
                "Exposure is estimated from natural-leaf ranges, with wide uncertainty."
            } else {
                "Its alkaloid content cannot be estimated from natural-leaf ranges for this form."
            };
            flags.push(QualityFlag {
                code: "no_assay",
                severity: Severity::Warning,
                explanation: format!(
                    "No lab certificate of analysis is on file for this batch. {estimate}"
                ),
                standard: "Certificate of analysis expected for every batch".into(),
                reference: "legal-and-products.md §3.1; pharmacology.md §2".into(),
                evidence: "kratom products range from about 4 to 270 mg mitragynine per gram"
                    .into(),
            });
            flags.sort_by_key(|flag| std::cmp::Reverse(flag.severity));
            return flags;
        };
        let alkaloids = &assay.alkaloids;

        if alkaloids
            .mitragynine_pseudoindoxyl_mg_per_g
            .is_some_and(|mp| mp > 0.0)
            && !product.labels_hydroxy_as_ingredient
        {
            flags.push(QualityFlag::new(
                "semi_synthetic_suspected",
                Severity::Urgent,
                "The lab found mitragynine pseudoindoxyl, which does not occur in kratom leaf: a semi-synthetic product is suspected.".into(),
                &self.semi_synthetic.citation,
            ));
        }

        let hydroxy = alkaloids.hydroxymitragynine_mg_per_g;
        let total = alkaloids.measured_total_mg_per_g();
        let max_fraction = self.hydroxy_fraction.max_fraction_of_measured_alkaloids;
        if let Some(hydroxy) = hydroxy.filter(|h| *h > 0.0 && total > 0.0) {
            let fraction = hydroxy / total;
            if fraction > max_fraction {
                flags.push(QualityFlag::new(
                    "hydroxy_fraction_over_2pct",
                    Severity::Warning,
                    format!(
                        "7-OH is {:.1}% of the measured alkaloids, above the {}% allowed: the product looks enriched with 7-OH.",
                        fraction * 100.0,
                        fmt_num(max_fraction * 100.0)
                    ),
                    &self.hydroxy_fraction.citation,
                ));
            }
        }

        let max_weight = self.hydroxy_weight_fraction.max_mg_per_g;
        if let Some(hydroxy) = hydroxy.filter(|h| *h > max_weight && !product.form.is_liquid()) {
            flags.push(QualityFlag::new(
                "hydroxy_over_0_04pct_weight",
                Severity::Warning,
                format!(
                    "7-OH is {}% of the product by weight ({} mg/g), above the {}% that natural leaf stays under.",
                    fmt_num(pct(hydroxy)),
                    fmt_num(hydroxy),
                    fmt_num(pct(max_weight))
                ),
                &self.hydroxy_weight_fraction.citation,
            ));
        }

        let per_serving_limit = self.hydroxy_per_serving.flag_at_or_above_mg;
        if let (Some(hydroxy), Some(serving)) = (hydroxy, product.serving_amount()) {
            let per_serving = hydroxy * serving;
            if per_serving >= per_serving_limit {
                flags.push(QualityFlag::new(
                    "hydroxy_per_serving_2mg_or_more",
                    Severity::Warning,
                    format!(
                        "One serving ({} {per}) holds about {} mg of 7-OH; {} mg or more per serving is typical of \"enhanced\" 7-OH products, not leaf.",
                        fmt_num(serving),
                        fmt_num(per_serving),
                        fmt_num(per_serving_limit)
                    ),
                    &self.hydroxy_per_serving.citation,
                ));
            }
        }

        let max_leaf = self.extract_suspected.max_plain_leaf_mitragynine_mg_per_g;
        if let Some(mitragynine) = alkaloids.mitragynine_mg_per_g
            && mitragynine > max_leaf
            && self
                .extract_suspected
                .plain_leaf_forms
                .contains(&product.form)
        {
            flags.push(QualityFlag::new(
                "extract_or_fortified_suspected",
                Severity::Warning,
                format!(
                    "Mitragynine is {}% by weight ({} mg/g) in a product sold as plain leaf; leaf rarely exceeds {}%, so an extract or fortified product is suspected.",
                    fmt_num(pct(mitragynine)),
                    fmt_num(mitragynine),
                    fmt_num(pct(max_leaf))
                ),
                &self.extract_suspected.citation,
            ));
        }

        let max_loq = self.method_sensitivity.max_hydroxy_loq_mg_per_g;
        let hydroxy_not_quantified = hydroxy.is_none_or(|h| h == 0.0);
        if hydroxy_not_quantified
            && assay
                .hydroxymitragynine_loq_mg_per_g
                .is_some_and(|loq| loq >= max_loq)
        {
            flags.push(QualityFlag::new(
                "insufficient_method_sensitivity",
                Severity::Info,
                format!(
                    "7-OH was reported as not detected by a method that cannot see below {} mg/g, so this certificate cannot show the 7-OH limits are met.",
                    fmt_num(assay.hydroxymitragynine_loq_mg_per_g.unwrap_or(max_loq))
                ),
                &self.method_sensitivity.citation,
            ));
        }

        if let Some(reason) = self.microbial_failure(product.form, assay) {
            flags.push(QualityFlag::new(
                "microbial_failure",
                Severity::Urgent,
                reason,
                &self.microbial.citation,
            ));
        }

        flags.sort_by_key(|flag| std::cmp::Reverse(flag.severity));
        flags
    }

    fn microbial_failure(&self, form: ProductForm, assay: &Assay) -> Option<String> {
        let microbial = &assay.microbial;
        let mut problems = Vec::new();
        if microbial.salmonella_detected == Some(true) {
            problems.push("Salmonella was detected".to_owned());
        }
        if microbial.e_coli_detected == Some(true) {
            problems.push("E. coli was detected".to_owned());
        }
        if let Some(limit) = self.microbial_limit(form) {
            if let Some(count) = microbial
                .total_aerobic_cfu_per_g
                .filter(|c| *c > limit.total_aerobic_cfu_per_g)
            {
                problems.push(format!(
                    "the total aerobic count of {count:.0} CFU/g is over the {:.0} CFU/g limit for {}",
                    limit.total_aerobic_cfu_per_g, limit.material
                ));
            }
            if let Some(count) = microbial
                .yeast_mold_cfu_per_g
                .filter(|c| *c > limit.yeast_mold_cfu_per_g)
            {
                problems.push(format!(
                    "yeast and mould at {count:.0} CFU/g is over the {:.0} CFU/g limit for {}",
                    limit.yeast_mold_cfu_per_g, limit.material
                ));
            }
        }
        (!problems.is_empty()).then(|| {
            let mut text = problems.join("; ");
            if let Some(first) = text.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{text}. This batch fails microbial safety limits.")
        })
    }

    /// Heavy-metal flags for one patient and batch: USP <2232> gives permitted daily
    /// exposures (µg/day), so the concentration a batch may hold depends on how much of
    /// it the patient takes each day. A batch that passes at 3 g/day can fail at 30 g/day.
    pub fn heavy_metal_flags(&self, assay: &Assay, grams_per_day: f64) -> Vec<QualityFlag> {
        self.heavy_metal_flags_for(
            assay,
            DailyAmount {
                grams: grams_per_day,
                millilitres: 0.0,
            },
        )
    }

    /// [`Self::heavy_metal_flags`] for an amount that may be a liquid's millilitres,
    /// counted in grams at [`ASSUMED_LIQUID_DENSITY_G_PER_ML`].
    pub fn heavy_metal_flags_for(&self, assay: &Assay, per_day: DailyAmount) -> Vec<QualityFlag> {
        let grams_per_day = per_day.grams_for_metals();
        if !(grams_per_day.is_finite() && grams_per_day > 0.0) {
            return Vec::new();
        }
        let limits = &self.heavy_metals;
        Metal::ALL
            .into_iter()
            .filter_map(|metal| {
                let ppm = metal.ppm(&assay.heavy_metals)?;
                let pde = metal.limit(limits);
                let limit_ppm = pde / grams_per_day;
                let intake = ppm * grams_per_day;
                (ppm > limit_ppm).then(|| {
                    QualityFlag::new(
                        "heavy_metal_over_daily_limit",
                        Severity::Urgent,
                        format!(
                            "At {} a day this batch gives about {} µg of {} a day, over the {} µg/day limit (the batch holds {} ppm; at this intake the limit is {} ppm).",
                            per_day.describe(),
                            fmt_num(intake),
                            metal.name(),
                            fmt_num(pde),
                            fmt_num(ppm),
                            fmt_num(limit_ppm)
                        ),
                        &limits.citation,
                    )
                })
            })
            .collect()
    }

    /// The patient-local days on which the metals from every batch taken that day add up
    /// to more than a USP <2232> permitted daily exposure (legal-and-products.md §3.2: the
    /// PDE is per day, whatever the number of products). A day and metal on which one
    /// batch alone is over the limit is left out: that is the batch's own
    /// `heavy_metal_over_daily_limit` flag, judged at its heaviest day, and it is raised
    /// once, not twice. Batches without a value for the metal are named, and the day's
    /// total is then a lower bound. Ordered by day, then metal.
    pub fn daily_heavy_metal_excesses(
        &self,
        intakes: &[BatchDayIntake],
        batches: &BTreeMap<BatchId, BatchMetals>,
    ) -> Vec<DailyMetalExcess> {
        let mut days: BTreeMap<Date, Vec<&BatchDayIntake>> = BTreeMap::new();
        for intake in intakes {
            if intake.amount.grams_for_metals() > 0.0 {
                days.entry(intake.day).or_default().push(intake);
            }
        }
        let mut excesses = Vec::new();
        for (day, taken) in days {
            for metal in Metal::ALL {
                let limit = metal.limit(&self.heavy_metals);
                let mut contributions = Vec::new();
                let mut unmeasured = Vec::new();
                for intake in &taken {
                    let batch = batches.get(&intake.batch_id);
                    let named = |batch: Option<&BatchMetals>| BatchName {
                        batch_id: intake.batch_id,
                        product_name: batch.map_or_else(
                            || "a batch no longer on record".to_owned(),
                            |b| b.product_name.clone(),
                        ),
                        lot: batch.map(|b| b.lot.clone()).unwrap_or_default(),
                    };
                    match batch.and_then(|b| metal.ppm(b.metals.as_ref()?)) {
                        Some(ppm) => {
                            let grams = intake.amount.grams_for_metals();
                            contributions.push(MetalContribution {
                                batch: named(batch),
                                amount: intake.amount,
                                ppm,
                                micrograms: ppm * grams,
                            });
                        }
                        None => unmeasured.push(named(batch)),
                    }
                }
                let total: f64 = contributions.iter().map(|c| c.micrograms).sum();
                let alone_over = contributions.iter().any(|c| c.micrograms > limit);
                if total > limit && !alone_over {
                    excesses.push(DailyMetalExcess {
                        day,
                        metal,
                        total_micrograms: total,
                        limit_micrograms_per_day: limit,
                        contributions,
                        unmeasured,
                    });
                }
            }
        }
        excesses
    }
}

/// The density a liquid is counted at when its metals (ppm, µg per g) are applied to a
/// dose measured in mL. Products record no density; this is the convention the liquid
/// assay fields already follow (values per mL, `Alkaloids`), and water-based shots are
/// close to it (water 0.998 g/mL at 20 °C). An ethanol tincture is lighter (ethanol
/// 0.789 g/mL) and a syrup heavier, so a liquid's micrograms are approximate.
pub const ASSUMED_LIQUID_DENSITY_G_PER_ML: f64 = 1.0;

/// What a patient took of one batch in a day: grams, or mL for liquids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DailyAmount {
    pub grams: f64,
    pub millilitres: f64,
}

impl DailyAmount {
    /// The grams heavy-metal limits are applied to: mL at the assumed density.
    pub fn grams_for_metals(self) -> f64 {
        self.grams + self.millilitres * ASSUMED_LIQUID_DENSITY_G_PER_ML
    }

    fn describe(self) -> String {
        let liquid = format!(
            "{} mL (counted as {} g at an assumed {} g/mL)",
            fmt_num(self.millilitres),
            fmt_num(self.millilitres * ASSUMED_LIQUID_DENSITY_G_PER_ML),
            fmt_num(ASSUMED_LIQUID_DENSITY_G_PER_ML)
        );
        match (self.grams > 0.0, self.millilitres > 0.0) {
            (_, false) => format!("{} g", fmt_num(self.grams)),
            (false, true) => liquid,
            (true, true) => format!("{} g and {liquid}", fmt_num(self.grams)),
        }
    }
}

/// A metal USP <2232> sets a permitted daily exposure for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metal {
    Lead,
    Cadmium,
    Arsenic,
    Mercury,
}

impl Metal {
    pub const ALL: [Metal; 4] = [Metal::Lead, Metal::Cadmium, Metal::Arsenic, Metal::Mercury];

    /// The name the limit applies to (USP <2232> limits inorganic arsenic).
    pub fn name(self) -> &'static str {
        match self {
            Metal::Lead => "lead",
            Metal::Cadmium => "cadmium",
            Metal::Arsenic => "inorganic arsenic",
            Metal::Mercury => "mercury",
        }
    }

    pub fn ppm(self, metals: &HeavyMetals) -> Option<f64> {
        match self {
            Metal::Lead => metals.lead_ppm,
            Metal::Cadmium => metals.cadmium_ppm,
            Metal::Arsenic => metals.arsenic_ppm,
            Metal::Mercury => metals.mercury_ppm,
        }
    }

    pub fn limit(self, limits: &HeavyMetalLimits) -> f64 {
        match self {
            Metal::Lead => limits.lead_ug_per_day,
            Metal::Cadmium => limits.cadmium_ug_per_day,
            Metal::Arsenic => limits.arsenic_ug_per_day,
            Metal::Mercury => limits.mercury_ug_per_day,
        }
    }
}

/// How much of one batch a patient took on one patient-local day.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchDayIntake {
    pub day: Date,
    pub batch_id: BatchId,
    pub amount: DailyAmount,
}

/// A batch's heavy-metal results, with the names an explanation uses.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchMetals {
    pub product_name: String,
    pub lot: String,
    /// `None` when the batch has no certificate.
    pub metals: Option<HeavyMetals>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchName {
    pub batch_id: BatchId,
    pub product_name: String,
    pub lot: String,
}

impl fmt::Display for BatchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lot.is_empty() {
            f.write_str(&self.product_name)
        } else {
            write!(f, "{} lot {}", self.product_name, self.lot)
        }
    }
}

/// One batch's share of a day's metal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetalContribution {
    #[serde(flatten)]
    pub batch: BatchName,
    pub amount: DailyAmount,
    pub ppm: f64,
    pub micrograms: f64,
}

/// A day on which several batches together gave more of a metal than its limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DailyMetalExcess {
    pub day: Date,
    pub metal: Metal,
    pub total_micrograms: f64,
    pub limit_micrograms_per_day: f64,
    pub contributions: Vec<MetalContribution>,
    /// Batches taken that day with no result for this metal: the total is a lower bound.
    pub unmeasured: Vec<BatchName>,
}

impl DailyMetalExcess {
    /// The day, the metal, the total against its limit and every batch behind it.
    pub fn explanation(&self) -> String {
        let parts = self
            .contributions
            .iter()
            .map(|c| {
                format!(
                    "{}: {} at {} ppm = {} µg",
                    c.batch,
                    c.amount.describe(),
                    fmt_num(c.ppm),
                    fmt_num(c.micrograms)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut text = format!(
            "On {} the batches taken together gave about {} µg of {}, over the {} µg/day limit, though none is over it alone ({parts}).",
            self.day,
            fmt_num(self.total_micrograms),
            self.metal.name(),
            fmt_num(self.limit_micrograms_per_day),
        );
        if !self.unmeasured.is_empty() {
            let names = self
                .unmeasured
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            text.push_str(&format!(
                " {names} also taken that day {} no {} result, so the day's total is at least this much.",
                if self.unmeasured.len() == 1 { "has" } else { "have" },
                self.metal.name()
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::{Alkaloids, HeavyMetals, Microbial};

    fn standards() -> QualityStandards {
        QualityStandards::bundled().expect("the bundled standards load")
    }

    fn leaf() -> ProductFacts {
        ProductFacts {
            form: ProductForm::LeafPowder,
            unit_mass_g: None,
            serving_size: Some(4.0),
            labels_hydroxy_as_ingredient: false,
        }
    }

    fn assay(mitragynine: f64, hydroxy: f64) -> Assay {
        Assay {
            alkaloids: Alkaloids {
                mitragynine_mg_per_g: Some(mitragynine),
                hydroxymitragynine_mg_per_g: Some(hydroxy),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn codes(product: &ProductFacts, assay: Option<&Assay>) -> Vec<&'static str> {
        standards()
            .batch_flags(&BatchFacts {
                product,
                assay,
                recalled: false,
                recall_reason: None,
            })
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn the_bundled_standards_load_and_cite_their_sources() {
        let standards = standards();
        assert_eq!(standards.heavy_metals.lead_ug_per_day, 5.0);
        assert!(
            standards
                .heavy_metals
                .citation
                .standard
                .contains("USP <2232>")
        );
    }

    #[test]
    fn inconsistent_standards_are_refused() {
        let broken = BUNDLED.replace("lead_ug_per_day = 5.0", "lead_ug_per_day = -5.0");
        assert!(matches!(
            QualityStandards::parse(&broken),
            Err(StandardsError::Invalid(_))
        ));
        let missing_form = BUNDLED.replace("[microbial.limits.other]", "[microbial.limits.unused]");
        assert!(QualityStandards::parse(&missing_form).is_err());
    }

    #[test]
    fn a_characterized_leaf_batch_raises_no_flags() {
        // Tanna 2022 product K51: 19.48 mg/g mitragynine, 7-OH under 0.124 mg/g (pharmacology.md §2).
        assert!(codes(&leaf(), Some(&assay(19.48, 0.1))).is_empty());
    }

    #[test]
    fn a_batch_without_an_assay_is_flagged() {
        assert_eq!(codes(&leaf(), None), ["no_assay"]);
    }

    #[test]
    fn an_unassayed_tablet_liquid_or_labelled_seven_oh_product_has_unknown_strength() {
        for form in [ProductForm::Tablet, ProductForm::Liquid] {
            let product = ProductFacts {
                form,
                unit_mass_g: Some(0.3),
                ..leaf()
            };
            assert_eq!(codes(&product, None), ["unknown_strength_7oh", "no_assay"]);
        }
        let labelled = ProductFacts {
            form: ProductForm::Capsule,
            unit_mass_g: Some(0.5),
            labels_hydroxy_as_ingredient: true,
            ..leaf()
        };
        assert!(codes(&labelled, None).contains(&"unknown_strength_7oh"));
        let capsule = ProductFacts {
            form: ProductForm::Capsule,
            unit_mass_g: Some(0.5),
            ..leaf()
        };
        assert_eq!(codes(&capsule, None), ["no_assay"]);
    }

    #[test]
    fn seven_oh_above_two_percent_of_the_alkaloids_is_flagged() {
        // 0.5 / 20.5 = 2.4 % of the alkaloids, and 0.05 % w/w.
        assert_eq!(
            codes(&leaf(), Some(&assay(20.0, 0.5))),
            [
                "hydroxy_fraction_over_2pct",
                "hydroxy_over_0_04pct_weight",
                "hydroxy_per_serving_2mg_or_more"
            ]
        );
        // Exactly 2 % is allowed.
        assert!(!codes(&leaf(), Some(&assay(19.6, 0.4))).contains(&"hydroxy_fraction_over_2pct"));
    }

    #[test]
    fn an_enhanced_seven_oh_tablet_is_flagged_on_every_count() {
        let tablet = ProductFacts {
            form: ProductForm::Tablet,
            unit_mass_g: Some(0.25),
            serving_size: None,
            labels_hydroxy_as_ingredient: true,
        };
        let mut enhanced = assay(2.0, 60.0);
        enhanced.alkaloids.mitragynine_pseudoindoxyl_mg_per_g = Some(4.0);
        let found = codes(&tablet, Some(&enhanced));
        assert_eq!(found[0], "semi_synthetic_suspected");
        assert!(found.contains(&"hydroxy_fraction_over_2pct"));
        assert!(
            found.contains(&"hydroxy_per_serving_2mg_or_more"),
            "{found:?}"
        );
        assert_eq!(
            found
                .iter()
                .filter(|c| **c == "semi_synthetic_suspected")
                .count(),
            1
        );
    }

    #[test]
    fn strong_leaf_is_suspected_of_being_an_extract_but_an_extract_is_not() {
        assert_eq!(
            codes(&leaf(), Some(&assay(45.0, 0.3))),
            ["extract_or_fortified_suspected"]
        );
        let extract = ProductFacts {
            form: ProductForm::ExtractPowder,
            ..leaf()
        };
        assert!(codes(&extract, Some(&assay(45.0, 0.3))).is_empty());
    }

    #[test]
    fn a_coarse_method_cannot_clear_the_seven_oh_rules() {
        let mut coarse = assay(18.0, 0.0);
        coarse.hydroxymitragynine_loq_mg_per_g = Some(3.0);
        assert_eq!(
            codes(&leaf(), Some(&coarse)),
            ["insufficient_method_sensitivity"]
        );
        coarse.hydroxymitragynine_loq_mg_per_g = Some(0.01);
        assert!(codes(&leaf(), Some(&coarse)).is_empty());
    }

    #[test]
    fn pathogens_or_counts_over_the_form_limit_fail_microbial_safety() {
        let mut dirty = assay(18.0, 0.1);
        dirty.microbial = Microbial {
            salmonella_detected: Some(true),
            ..Default::default()
        };
        assert_eq!(codes(&leaf(), Some(&dirty)), ["microbial_failure"]);
        // 50 000 CFU/g passes for leaf (limit 10^5) but fails for an extract (10^4).
        dirty.microbial = Microbial {
            total_aerobic_cfu_per_g: Some(50_000.0),
            ..Default::default()
        };
        assert!(codes(&leaf(), Some(&dirty)).is_empty());
        let extract = ProductFacts {
            form: ProductForm::ExtractPowder,
            ..leaf()
        };
        assert_eq!(codes(&extract, Some(&dirty)), ["microbial_failure"]);
    }

    #[test]
    fn a_recalled_batch_is_flagged_first() {
        let product = leaf();
        let flags = standards().batch_flags(&BatchFacts {
            product: &product,
            assay: None,
            recalled: true,
            recall_reason: Some("Salmonella"),
        });
        assert_eq!(flags[0].code, "recalled");
        assert!(flags[0].explanation.contains("Salmonella"));
    }

    #[test]
    fn heavy_metals_are_judged_against_the_patients_own_intake() {
        // Lead 0.5 ppm: 1.5 µg/day at 3 g/day passes the 5 µg/day limit; 15 µg/day at 30 g/day fails.
        let mut batch = assay(18.0, 0.1);
        batch.heavy_metals = HeavyMetals {
            lead_ppm: Some(0.5),
            ..Default::default()
        };
        let standards = standards();
        assert!(standards.heavy_metal_flags(&batch, 3.0).is_empty());
        let flags = standards.heavy_metal_flags(&batch, 30.0);
        assert_eq!(flags.len(), 1);
        assert!(
            flags[0].explanation.contains("lead") && flags[0].explanation.contains("15 µg"),
            "{}",
            flags[0].explanation
        );
        assert!(standards.heavy_metal_flags(&batch, 0.0).is_empty());
    }

    fn lead(ppm: f64) -> Option<HeavyMetals> {
        Some(HeavyMetals {
            lead_ppm: Some(ppm),
            ..Default::default()
        })
    }

    fn catalogue(
        entries: &[(BatchId, &str, &str, Option<HeavyMetals>)],
    ) -> BTreeMap<BatchId, BatchMetals> {
        entries
            .iter()
            .map(|(id, name, lot, metals)| {
                (
                    *id,
                    BatchMetals {
                        product_name: (*name).to_owned(),
                        lot: (*lot).to_owned(),
                        metals: metals.clone(),
                    },
                )
            })
            .collect()
    }

    fn taken(day: Date, batch_id: BatchId, grams: f64, millilitres: f64) -> BatchDayIntake {
        BatchDayIntake {
            day,
            batch_id,
            amount: DailyAmount { grams, millilitres },
        }
    }

    #[test]
    fn two_batches_each_under_the_lead_limit_are_over_it_together_on_one_day() {
        // 4 g at 0.8 ppm = 3.2 µg and 2 g at 1 ppm = 2 µg: each under 5 µg/day, 5.2 together.
        let (leaf, extract) = (BatchId::new(), BatchId::new());
        let batches = catalogue(&[
            (leaf, "Yellow leaf", "K51", lead(0.8)),
            (extract, "Maeng Da extract", "MD15", lead(1.0)),
        ]);
        let day = jiff::civil::date(2026, 12, 1);
        let other_day = jiff::civil::date(2026, 12, 2);
        let intakes = [
            taken(day, leaf, 4.0, 0.0),
            taken(day, extract, 2.0, 0.0),
            // The next day only the leaf: 3.2 µg, under the limit.
            taken(other_day, leaf, 4.0, 0.0),
        ];
        let standards = standards();
        let excesses = standards.daily_heavy_metal_excesses(&intakes, &batches);
        assert_eq!(excesses.len(), 1, "{excesses:?}");
        let excess = &excesses[0];
        assert_eq!((excess.day, excess.metal), (day, Metal::Lead));
        assert!((excess.total_micrograms - 5.2).abs() < 1e-9);
        assert_eq!(excess.limit_micrograms_per_day, 5.0);
        assert_eq!(excess.contributions.len(), 2);
        assert!(excess.unmeasured.is_empty());
        let text = excess.explanation();
        for part in [
            "2026-12-01",
            "5.2 µg of lead",
            "5 µg/day",
            "Yellow leaf lot K51",
            "Maeng Da extract lot MD15",
            "3.2 µg",
            "2 µg",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(!text.contains("at least"), "{text}");
        // Neither batch is over on its own at its heaviest day, so no batch flag fires.
        let assay = |ppm| Assay {
            heavy_metals: lead(ppm).unwrap_or_default(),
            ..Default::default()
        };
        assert!(standards.heavy_metal_flags(&assay(0.8), 4.0).is_empty());
        assert!(standards.heavy_metal_flags(&assay(1.0), 2.0).is_empty());
    }

    #[test]
    fn a_liquid_counts_toward_the_day_at_an_assumed_one_gram_per_millilitre() {
        // 3 g of leaf at 1 ppm = 3 µg, and 30 mL of a shot at 0.1 ppm = 3 µg: 6 µg of lead.
        let (leaf, shot) = (BatchId::new(), BatchId::new());
        let batches = catalogue(&[
            (leaf, "Yellow leaf", "K51", lead(1.0)),
            (shot, "Kratom shot", "S7", lead(0.1)),
        ]);
        let day = jiff::civil::date(2026, 12, 1);
        let excesses = standards().daily_heavy_metal_excesses(
            &[taken(day, leaf, 3.0, 0.0), taken(day, shot, 0.0, 30.0)],
            &batches,
        );
        assert_eq!(excesses.len(), 1);
        assert!((excesses[0].total_micrograms - 6.0).abs() < 1e-9);
        let text = excesses[0].explanation();
        assert!(
            text.contains(
                "Kratom shot lot S7: 30 mL (counted as 30 g at an assumed 1 g/mL) at 0.1 ppm = 3 µg"
            ),
            "{text}"
        );
        // Without the liquid the leaf alone stays under.
        assert!(
            standards()
                .daily_heavy_metal_excesses(&[taken(day, leaf, 3.0, 0.0)], &batches)
                .is_empty()
        );
    }

    #[test]
    fn a_batch_without_a_result_for_the_metal_makes_the_total_a_lower_bound() {
        let (leaf, extract, capsules, untested) = (
            BatchId::new(),
            BatchId::new(),
            BatchId::new(),
            BatchId::new(),
        );
        let batches = catalogue(&[
            (leaf, "Yellow leaf", "K51", lead(0.8)),
            (extract, "Maeng Da extract", "MD15", lead(1.0)),
            (capsules, "Gas-station capsules", "unlabelled", None),
            // A certificate that reports cadmium but not lead.
            (
                untested,
                "Red leaf",
                "R2",
                Some(HeavyMetals {
                    cadmium_ppm: Some(0.1),
                    ..Default::default()
                }),
            ),
        ]);
        let day = jiff::civil::date(2026, 12, 1);
        let excesses = standards().daily_heavy_metal_excesses(
            &[
                taken(day, leaf, 4.0, 0.0),
                taken(day, extract, 2.0, 0.0),
                taken(day, capsules, 3.0, 0.0),
                taken(day, untested, 2.0, 0.0),
            ],
            &batches,
        );
        assert_eq!(excesses.len(), 1);
        assert_eq!(excesses[0].unmeasured.len(), 2);
        let text = excesses[0].explanation();
        assert!(
            text.contains("Gas-station capsules lot unlabelled, Red leaf lot R2 also taken that day have no lead result, so the day's total is at least this much"),
            "{text}"
        );
        // Unknown batches alone never make a day over the limit.
        assert!(
            standards()
                .daily_heavy_metal_excesses(
                    &[taken(day, leaf, 4.0, 0.0), taken(day, capsules, 30.0, 0.0)],
                    &batches,
                )
                .is_empty()
        );
    }

    #[test]
    fn a_day_one_batch_is_over_alone_is_left_to_that_batchs_own_flag() {
        // 6 g at 1 ppm = 6 µg alone: the batch flag says so; adding a second batch does not
        // raise the same excess again as a daily total.
        let (leaf, extract) = (BatchId::new(), BatchId::new());
        let batches = catalogue(&[
            (leaf, "Yellow leaf", "K51", lead(1.0)),
            (extract, "Maeng Da extract", "MD15", lead(1.0)),
        ]);
        let day = jiff::civil::date(2026, 12, 1);
        let intakes = [taken(day, leaf, 6.0, 0.0), taken(day, extract, 1.0, 0.0)];
        let standards = standards();
        assert!(
            standards
                .daily_heavy_metal_excesses(&intakes, &batches)
                .is_empty()
        );
        let assay = Assay {
            heavy_metals: lead(1.0).unwrap_or_default(),
            ..Default::default()
        };
        assert_eq!(standards.heavy_metal_flags(&assay, 6.0).len(), 1);
    }

    #[test]
    fn a_liquids_own_flag_counts_its_millilitres() {
        let shot = Assay {
            heavy_metals: lead(0.2).unwrap_or_default(),
            ..Default::default()
        };
        let per_day = DailyAmount {
            grams: 0.0,
            millilitres: 30.0,
        };
        let flags = standards().heavy_metal_flags_for(&shot, per_day);
        assert_eq!(flags.len(), 1);
        assert!(
            flags[0]
                .explanation
                .starts_with("At 30 mL (counted as 30 g at an assumed 1 g/mL) a day this batch gives about 6 µg of lead"),
            "{}",
            flags[0].explanation
        );
    }

    #[test]
    fn the_daily_total_reads_back_as_json() {
        let (leaf, extract) = (BatchId::new(), BatchId::new());
        let batches = catalogue(&[
            (leaf, "Yellow leaf", "K51", lead(0.8)),
            (extract, "Maeng Da extract", "MD15", lead(1.0)),
        ]);
        let day = jiff::civil::date(2026, 12, 1);
        let excesses = standards().daily_heavy_metal_excesses(
            &[taken(day, leaf, 4.0, 0.0), taken(day, extract, 2.0, 0.0)],
            &batches,
        );
        let json = serde_json::to_value(&excesses[0]).unwrap();
        assert_eq!(json["day"], "2026-12-01");
        assert_eq!(json["metal"], "lead");
        assert_eq!(json["contributions"][0]["lot"], "K51");
        assert_eq!(json["contributions"][0]["amount"]["grams"], 4.0);
    }
}
