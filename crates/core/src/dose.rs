//! Doses: what a patient took, turned into milligrams of mitragynine (MG) and
//! 7-hydroxymitragynine (7-OH), and summed per patient-local calendar day.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::amount::AmountInput;
use crate::product::{Assay, ProductForm};
use crate::quality::QualityStandards;

/// The unit a dose was measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DoseUnit {
    #[serde(rename = "g")]
    Grams,
    Capsule,
    Tablet,
    #[serde(rename = "ml")]
    Millilitres,
    /// Level teaspoons, converted with the product's own calibration.
    #[serde(rename = "tsp")]
    Teaspoons,
}

impl DoseUnit {
    pub const ALL: [DoseUnit; 5] = [
        DoseUnit::Grams,
        DoseUnit::Capsule,
        DoseUnit::Tablet,
        DoseUnit::Millilitres,
        DoseUnit::Teaspoons,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DoseUnit::Grams => "g",
            DoseUnit::Capsule => "capsule",
            DoseUnit::Tablet => "tablet",
            DoseUnit::Millilitres => "ml",
            DoseUnit::Teaspoons => "tsp",
        }
    }
}

impl fmt::Display for DoseUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DoseUnit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DoseUnit::ALL
            .into_iter()
            .find(|unit| unit.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| "unit must be one of g, capsule, tablet, ml, tsp".to_owned())
    }
}

/// Why the patient took a dose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoseContext {
    WithdrawalRelief,
    Pain,
    /// Sleep, or "kratom before bed".
    Sleep,
    Mood,
    Energy,
    Other,
}

impl DoseContext {
    pub const ALL: [DoseContext; 6] = [
        DoseContext::WithdrawalRelief,
        DoseContext::Pain,
        DoseContext::Sleep,
        DoseContext::Mood,
        DoseContext::Energy,
        DoseContext::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DoseContext::WithdrawalRelief => "withdrawal_relief",
            DoseContext::Pain => "pain",
            DoseContext::Sleep => "sleep",
            DoseContext::Mood => "mood",
            DoseContext::Energy => "energy",
            DoseContext::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DoseContext::WithdrawalRelief => "Withdrawal relief",
            DoseContext::Pain => "Pain",
            DoseContext::Sleep => "Sleep / before bed",
            DoseContext::Mood => "Mood",
            DoseContext::Energy => "Energy",
            DoseContext::Other => "Other",
        }
    }
}

impl FromStr for DoseContext {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DoseContext::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                "context must be one of withdrawal_relief, pain, sleep, mood, energy, other"
                    .to_owned()
            })
    }
}

/// Doses this far in the past need an explicit confirmation, since late entries are
/// more often mistakes (wrong date) than real recall.
pub const BACKDATE_CONFIRMATION_AFTER: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Device clocks drift; a dose a few minutes "in the future" is a clock, not a plan.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// Untrusted dose fields from the API, a form or an import row.
#[derive(Clone, Debug, Default)]
pub struct DoseFields<'a> {
    /// RFC 3339 with an offset; `None` means now.
    pub taken_at: Option<&'a str>,
    /// A number, or text as typed (`1,5`), read by [`crate::amount::parse_amount`].
    pub amount: AmountInput,
    pub unit: &'a str,
    pub contexts: &'a [String],
    pub note: Option<&'a str>,
    pub confirm_backdated: bool,
}

/// A checked dose entry.
#[derive(Clone, Debug, PartialEq)]
pub struct DoseEntry {
    pub taken_at: Timestamp,
    pub amount: f64,
    pub unit: DoseUnit,
    pub contexts: Vec<DoseContext>,
    pub note: Option<String>,
}

impl DoseEntry {
    pub fn parse(fields: &DoseFields<'_>, now: Timestamp) -> Result<Self, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::new();
        let taken_at = match fields.taken_at.map(str::trim).filter(|t| !t.is_empty()) {
            None => Some(now),
            Some(text) => errors
                .check("taken_at", crate::time::ClinicalInstant::parse(text))
                .map(crate::time::ClinicalInstant::get),
        };
        if let Some(at) = taken_at {
            if at > now + CLOCK_SKEW {
                errors.push(
                    "taken_at",
                    "a dose cannot be logged for a time in the future",
                );
            } else if now.duration_since(at) > BACKDATE_CONFIRMATION_AFTER
                && !fields.confirm_backdated
            {
                errors.push(
                    "confirm_backdated",
                    "this dose is more than 7 days old; confirm the date is right (confirm_backdated: true)",
                );
            }
        }
        let unit = errors.check("unit", fields.unit.parse::<DoseUnit>());
        let amount = match errors.check("amount", fields.amount.value()) {
            Some(amount) if amount.is_finite() && amount > 0.0 => Some(amount),
            Some(_) => {
                errors.push("amount", "amount must be a positive number");
                None
            }
            None => None,
        };
        let mut contexts = Vec::new();
        for (index, raw) in fields.contexts.iter().enumerate() {
            if let Some(context) =
                errors.check(&format!("contexts[{index}]"), raw.parse::<DoseContext>())
                && !contexts.contains(&context)
            {
                contexts.push(context);
            }
        }
        let note = fields.note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > 500) {
            errors.push("note", "a note must be at most 500 characters");
        }
        match (taken_at, unit, amount) {
            (Some(taken_at), Some(unit), Some(amount)) if errors.is_empty() => Ok(DoseEntry {
                taken_at,
                amount,
                unit,
                contexts,
                note: note.map(str::to_owned),
            }),
            _ => Err(errors),
        }
    }
}

/// What converting a dose needs to know about its product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DoseProduct {
    pub form: ProductForm,
    /// Fill mass of one capsule or tablet, g.
    pub unit_mass_g: Option<f64>,
    /// Grams in one level teaspoon of this product, measured by the patient or clinic.
    pub teaspoon_g: Option<f64>,
}

/// How much material a dose was: grams, or mL for liquids.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Material {
    pub grams: Option<f64>,
    pub millilitres: Option<f64>,
}

impl Material {
    /// The quantity the assay's per-g (per-mL for liquids) content multiplies.
    pub fn assay_quantity(&self) -> f64 {
        self.grams.or(self.millilitres).unwrap_or(0.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DoseError {
    #[error("amount must be a positive number")]
    NotPositive,
    #[error("amount {amount} {unit} is implausibly large (at most {max} {unit} per dose)")]
    TooLarge {
        amount: f64,
        unit: DoseUnit,
        max: f64,
    },
    #[error("{unit} does not fit a {form} product; use {allowed}")]
    WrongUnit {
        unit: DoseUnit,
        form: &'static str,
        allowed: &'static str,
    },
    #[error("this product has no {what} on record, so {unit} cannot be converted to grams")]
    MissingCalibration { unit: DoseUnit, what: &'static str },
}

/// Largest single dose accepted per unit, to catch typos (e.g. 300 for 3.00 g); well
/// above the heaviest reported use (mean 92 g/day in a buprenorphine case series,
/// pharmacology.md §3).
fn max_amount(unit: DoseUnit) -> f64 {
    match unit {
        DoseUnit::Grams => 100.0,
        DoseUnit::Capsule | DoseUnit::Tablet => 100.0,
        DoseUnit::Millilitres => 1000.0,
        DoseUnit::Teaspoons => 40.0,
    }
}

fn allowed_units(form: ProductForm) -> (&'static [DoseUnit], &'static str) {
    match form {
        ProductForm::Capsule => (&[DoseUnit::Capsule, DoseUnit::Grams], "capsule or g"),
        ProductForm::Tablet => (&[DoseUnit::Tablet, DoseUnit::Grams], "tablet or g"),
        ProductForm::Liquid => (&[DoseUnit::Millilitres], "ml"),
        ProductForm::LeafPowder | ProductForm::ExtractPowder | ProductForm::Other => {
            (&[DoseUnit::Grams, DoseUnit::Teaspoons], "g or tsp")
        }
    }
}

impl DoseProduct {
    /// Converts an amount in `unit` into grams (mL for liquids).
    pub fn material(&self, amount: f64, unit: DoseUnit) -> Result<Material, DoseError> {
        if !(amount.is_finite() && amount > 0.0) {
            return Err(DoseError::NotPositive);
        }
        let max = max_amount(unit);
        if amount > max {
            return Err(DoseError::TooLarge { amount, unit, max });
        }
        let (allowed, allowed_text) = allowed_units(self.form);
        if !allowed.contains(&unit) {
            return Err(DoseError::WrongUnit {
                unit,
                form: self.form.as_str(),
                allowed: allowed_text,
            });
        }
        let grams = |g: f64| {
            Ok(Material {
                grams: Some(g),
                millilitres: None,
            })
        };
        match unit {
            DoseUnit::Grams => grams(amount),
            DoseUnit::Millilitres => Ok(Material {
                grams: None,
                millilitres: Some(amount),
            }),
            DoseUnit::Capsule | DoseUnit::Tablet => match self.unit_mass_g {
                Some(mass) => grams(amount * mass),
                None => Err(DoseError::MissingCalibration {
                    unit,
                    what: "fill mass per unit",
                }),
            },
            DoseUnit::Teaspoons => match self.teaspoon_g {
                Some(per_teaspoon) => grams(amount * per_teaspoon),
                None => Err(DoseError::MissingCalibration {
                    unit,
                    what: "teaspoon-to-gram calibration",
                }),
            },
        }
    }
}

/// Where a dose's milligrams come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExposureBasis {
    /// The batch's certificate of analysis.
    Assay,
    /// Natural-leaf ranges (no assay): a typical value with low and high bounds.
    Estimate,
    /// No assay and no natural-leaf basis for this form: milligrams are unknown.
    Unknown,
}

impl ExposureBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            ExposureBasis::Assay => "assay",
            ExposureBasis::Estimate => "estimate",
            ExposureBasis::Unknown => "unknown",
        }
    }
}

impl FromStr for ExposureBasis {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "assay" => Ok(ExposureBasis::Assay),
            "estimate" => Ok(ExposureBasis::Estimate),
            "unknown" => Ok(ExposureBasis::Unknown),
            other => Err(format!("unknown exposure basis {other:?}")),
        }
    }
}

/// Milligrams of alkaloid in one dose.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Exposure {
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    pub basis: ExposureBasis,
    /// For estimates: the range the natural-leaf figures allow.
    pub mitragynine_mg_low: Option<f64>,
    pub mitragynine_mg_high: Option<f64>,
    pub hydroxymitragynine_mg_low: Option<f64>,
    pub hydroxymitragynine_mg_high: Option<f64>,
}

impl Exposure {
    /// From the batch's assay when there is one, else from natural-leaf ranges
    /// (`data/product-quality.toml`, `natural_leaf_estimate`) for plain-leaf forms.
    pub fn of(
        material: &Material,
        form: ProductForm,
        assay: Option<&Assay>,
        standards: &QualityStandards,
    ) -> Exposure {
        let quantity = material.assay_quantity();
        if let Some(assay) = assay {
            return Exposure {
                mitragynine_mg: assay.alkaloids.mitragynine_mg_per_g.map(|c| c * quantity),
                hydroxymitragynine_mg: assay
                    .alkaloids
                    .hydroxymitragynine_mg_per_g
                    .map(|c| c * quantity),
                basis: ExposureBasis::Assay,
                mitragynine_mg_low: None,
                mitragynine_mg_high: None,
                hydroxymitragynine_mg_low: None,
                hydroxymitragynine_mg_high: None,
            };
        }
        let leaf = &standards.natural_leaf_estimate;
        if leaf.forms.contains(&form) {
            let (mg, oh) = (leaf.mitragynine_mg_per_g, leaf.hydroxymitragynine_mg_per_g);
            return Exposure {
                mitragynine_mg: Some(mg.typical * quantity),
                hydroxymitragynine_mg: Some(oh.typical * quantity),
                basis: ExposureBasis::Estimate,
                mitragynine_mg_low: Some(mg.low * quantity),
                mitragynine_mg_high: Some(mg.high * quantity),
                hydroxymitragynine_mg_low: Some(oh.low * quantity),
                hydroxymitragynine_mg_high: Some(oh.high * quantity),
            };
        }
        Exposure {
            mitragynine_mg: None,
            hydroxymitragynine_mg: None,
            basis: ExposureBasis::Unknown,
            mitragynine_mg_low: None,
            mitragynine_mg_high: None,
            hydroxymitragynine_mg_low: None,
            hydroxymitragynine_mg_high: None,
        }
    }
}

/// When a dose's mitragynine is far above what the patient usually takes in one dose,
/// it is asked about before it is saved: a slipped decimal mark multiplies a dose by
/// ten ("1,5" read as 15 g). The numbers are a clinic convention guarding against typing
/// errors, not a clinical threshold; no published source sets them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnusualAmountRule {
    /// A dose above this many times the usual (median) single dose is unusual.
    pub factor: f64,
    /// The usual dose is the median over the patient's doses this far back.
    pub window: SignedDuration,
    /// Below this many recent doses with known milligrams there is no usual dose.
    pub min_doses: usize,
}

/// The clinic convention: more than 3 times the median single dose of the last 14 days,
/// once there are at least 3 such doses.
pub const UNUSUAL_AMOUNT: UnusualAmountRule = UnusualAmountRule {
    factor: 3.0,
    window: SignedDuration::from_hours(14 * 24),
    min_doses: 3,
};

/// A dose well above the patient's usual one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnusualAmount {
    /// This dose's mitragynine, mg.
    pub dose_mg: f64,
    /// The median single dose's mitragynine over the window, mg.
    pub usual_mg: f64,
    pub factor: f64,
}

impl UnusualAmountRule {
    /// Whether a dose of `dose_mg` mitragynine is unusual against the patient's recent
    /// single doses. Doses without known (positive) milligrams neither count nor are checked.
    pub fn check(&self, dose_mg: Option<f64>, recent_mg: &[f64]) -> Option<UnusualAmount> {
        let dose_mg = dose_mg.filter(|mg| mg.is_finite() && *mg > 0.0)?;
        let known: Vec<f64> = recent_mg
            .iter()
            .copied()
            .filter(|mg| mg.is_finite() && *mg > 0.0)
            .collect();
        if known.len() < self.min_doses {
            return None;
        }
        let usual_mg = median(&known)?;
        (dose_mg > self.factor * usual_mg).then_some(UnusualAmount {
            dose_mg,
            usual_mg,
            factor: self.factor,
        })
    }
}

/// The median of the finite values; the mean of the middle two for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    })
}

/// Whether a dose taken at local time `taken` falls within `window` before the
/// patient's usual bedtime (which may be after midnight). The window is a clinic
/// setting; no published cut-off exists.
pub fn is_bedtime_dose(taken: Time, usual_bedtime: Option<Time>, window: SignedDuration) -> bool {
    let Some(bedtime) = usual_bedtime else {
        return false;
    };
    let minutes = |t: Time| i64::from(t.hour()) * 60 + i64::from(t.minute());
    let before_bedtime = (minutes(bedtime) - minutes(taken)).rem_euclid(24 * 60);
    before_bedtime <= window.as_mins()
}

/// One dose as the daily summary sees it.
#[derive(Clone, Debug)]
pub struct DoseForDay {
    pub taken_at: Timestamp,
    /// The zone the patient was in when they took it, so a trip abroad lands on the right day.
    pub time_zone: TimeZone,
    pub grams: Option<f64>,
    pub millilitres: Option<f64>,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    pub estimated: bool,
    pub bedtime: bool,
}

/// Totals for one patient-local calendar day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DailyExposure {
    pub date: Date,
    pub mitragynine_mg: f64,
    pub hydroxymitragynine_mg: f64,
    pub grams: f64,
    pub millilitres: f64,
    pub dose_count: u32,
    pub bedtime_dose: bool,
    /// Some of the day's milligrams are natural-leaf estimates, not assays.
    pub includes_estimates: bool,
    /// Some doses could not be converted to milligrams at all.
    pub includes_unknown: bool,
}

/// The local calendar date of an instant in a zone: correct across DST changes,
/// since the zone's rules at that instant decide the offset.
pub fn local_date(at: Timestamp, zone: &TimeZone) -> Date {
    at.to_zoned_datetime(zone.clone()).date()
}

/// Sums doses per patient-local day, for the days in `from..=to` that have doses.
pub fn daily_exposure(doses: &[DoseForDay], from: Date, to: Date) -> Vec<DailyExposure> {
    let mut days: BTreeMap<Date, DailyExposure> = BTreeMap::new();
    for dose in doses {
        let date = local_date(dose.taken_at, &dose.time_zone);
        if date < from || date > to {
            continue;
        }
        let day = days.entry(date).or_insert_with(|| DailyExposure {
            date,
            mitragynine_mg: 0.0,
            hydroxymitragynine_mg: 0.0,
            grams: 0.0,
            millilitres: 0.0,
            dose_count: 0,
            bedtime_dose: false,
            includes_estimates: false,
            includes_unknown: false,
        });
        day.mitragynine_mg += dose.mitragynine_mg.unwrap_or(0.0);
        day.hydroxymitragynine_mg += dose.hydroxymitragynine_mg.unwrap_or(0.0);
        day.grams += dose.grams.unwrap_or(0.0);
        day.millilitres += dose.millilitres.unwrap_or(0.0);
        day.dose_count += 1;
        day.bedtime_dose |= dose.bedtime;
        day.includes_estimates |= dose.estimated;
        day.includes_unknown |= dose.mitragynine_mg.is_none();
    }
    days.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::Alkaloids;
    use jiff::civil::{date, time};

    fn standards() -> QualityStandards {
        QualityStandards::bundled().unwrap()
    }

    fn product(form: ProductForm) -> DoseProduct {
        DoseProduct {
            form,
            unit_mass_g: Some(0.5),
            teaspoon_g: Some(2.5),
        }
    }

    #[test]
    fn future_times_are_refused_and_old_ones_need_confirmation() {
        let now: Timestamp = "2026-11-24T18:00:00Z".parse().unwrap();
        let fields = |taken_at: &'static str, confirm: bool| DoseFields {
            taken_at: Some(taken_at),
            amount: 3.0.into(),
            unit: "g",
            confirm_backdated: confirm,
            ..Default::default()
        };
        let field_of = |f: DoseFields<'_>| {
            DoseEntry::parse(&f, now).unwrap_err().errors[0]
                .field
                .clone()
        };
        assert_eq!(field_of(fields("2026-11-24T19:00:00Z", false)), "taken_at");
        assert!(
            DoseEntry::parse(&fields("2026-11-24T18:03:00Z", false), now).is_ok(),
            "small clock skew is tolerated"
        );
        assert_eq!(
            field_of(fields("2026-11-10T12:00:00-06:00", false)),
            "confirm_backdated"
        );
        assert!(DoseEntry::parse(&fields("2026-11-10T12:00:00-06:00", true), now).is_ok());
        assert_eq!(field_of(fields("2026-11-24 12:00", false)), "taken_at");
    }

    #[test]
    fn a_dose_without_a_time_is_taken_now_and_contexts_are_deduplicated() {
        let now = Timestamp::now();
        let contexts = vec!["sleep".to_owned(), "pain".to_owned(), "sleep".to_owned()];
        let entry = DoseEntry::parse(
            &DoseFields {
                amount: 2.5.into(),
                unit: "g",
                contexts: &contexts,
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(entry.taken_at, now);
        assert_eq!(entry.contexts, [DoseContext::Sleep, DoseContext::Pain]);
        let bad = vec!["boredom".to_owned()];
        let errors = DoseEntry::parse(
            &DoseFields {
                amount: 0.0.into(),
                unit: "kg",
                contexts: &bad,
                ..Default::default()
            },
            now,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["unit", "amount", "contexts[0]"]);
    }

    #[test]
    fn amounts_convert_to_grams_by_unit() {
        assert_eq!(
            product(ProductForm::LeafPowder)
                .material(3.0, DoseUnit::Grams)
                .unwrap()
                .grams,
            Some(3.0)
        );
        assert_eq!(
            product(ProductForm::LeafPowder)
                .material(2.0, DoseUnit::Teaspoons)
                .unwrap()
                .grams,
            Some(5.0)
        );
        assert_eq!(
            product(ProductForm::Capsule)
                .material(6.0, DoseUnit::Capsule)
                .unwrap()
                .grams,
            Some(3.0)
        );
        let shot = product(ProductForm::Liquid)
            .material(15.0, DoseUnit::Millilitres)
            .unwrap();
        assert_eq!((shot.grams, shot.millilitres), (None, Some(15.0)));
    }

    #[test]
    fn units_that_do_not_fit_the_product_are_refused() {
        assert!(matches!(
            product(ProductForm::Liquid).material(3.0, DoseUnit::Grams),
            Err(DoseError::WrongUnit { .. })
        ));
        assert!(matches!(
            product(ProductForm::LeafPowder).material(3.0, DoseUnit::Capsule),
            Err(DoseError::WrongUnit { .. })
        ));
        let uncalibrated = DoseProduct {
            form: ProductForm::Capsule,
            unit_mass_g: None,
            teaspoon_g: None,
        };
        assert!(matches!(
            uncalibrated.material(2.0, DoseUnit::Capsule),
            Err(DoseError::MissingCalibration { .. })
        ));
    }

    #[test]
    fn zero_negative_and_implausible_amounts_are_refused() {
        let leaf = product(ProductForm::LeafPowder);
        assert_eq!(
            leaf.material(0.0, DoseUnit::Grams),
            Err(DoseError::NotPositive)
        );
        assert_eq!(
            leaf.material(-1.0, DoseUnit::Grams),
            Err(DoseError::NotPositive)
        );
        assert_eq!(
            leaf.material(f64::NAN, DoseUnit::Grams),
            Err(DoseError::NotPositive)
        );
        assert!(matches!(
            leaf.material(300.0, DoseUnit::Grams),
            Err(DoseError::TooLarge { .. })
        ));
    }

    #[test]
    fn assayed_doses_multiply_the_certificate_content() {
        // 3 g of a leaf at 19.5 mg/g MG and 0.1 mg/g 7-OH.
        let assay = Assay {
            alkaloids: Alkaloids {
                mitragynine_mg_per_g: Some(19.5),
                hydroxymitragynine_mg_per_g: Some(0.1),
                ..Default::default()
            },
            ..Default::default()
        };
        let material = Material {
            grams: Some(3.0),
            millilitres: None,
        };
        let exposure = Exposure::of(
            &material,
            ProductForm::LeafPowder,
            Some(&assay),
            &standards(),
        );
        assert_eq!(exposure.basis, ExposureBasis::Assay);
        assert!((exposure.mitragynine_mg.unwrap() - 58.5).abs() < 1e-9);
        assert!((exposure.hydroxymitragynine_mg.unwrap() - 0.3).abs() < 1e-9);
    }

    #[test]
    fn unassayed_leaf_is_estimated_with_a_range_and_other_forms_are_unknown() {
        let material = Material {
            grams: Some(4.0),
            millilitres: None,
        };
        let leaf = Exposure::of(&material, ProductForm::LeafPowder, None, &standards());
        assert_eq!(leaf.basis, ExposureBasis::Estimate);
        assert_eq!(
            (
                leaf.mitragynine_mg_low,
                leaf.mitragynine_mg,
                leaf.mitragynine_mg_high
            ),
            (Some(40.0), Some(64.0), Some(100.0))
        );
        let tablet = Exposure::of(&material, ProductForm::Tablet, None, &standards());
        assert_eq!(
            (tablet.basis, tablet.mitragynine_mg),
            (ExposureBasis::Unknown, None)
        );
    }

    #[test]
    fn bedtime_doses_fall_in_the_window_before_bedtime_even_across_midnight() {
        let window = SignedDuration::from_mins(120);
        assert!(is_bedtime_dose(
            time(21, 0, 0, 0),
            Some(time(22, 30, 0, 0)),
            window
        ));
        assert!(is_bedtime_dose(
            time(22, 30, 0, 0),
            Some(time(22, 30, 0, 0)),
            window
        ));
        assert!(!is_bedtime_dose(
            time(22, 45, 0, 0),
            Some(time(22, 30, 0, 0)),
            window
        ));
        assert!(!is_bedtime_dose(
            time(14, 0, 0, 0),
            Some(time(22, 30, 0, 0)),
            window
        ));
        assert!(is_bedtime_dose(
            time(23, 15, 0, 0),
            Some(time(0, 30, 0, 0)),
            window
        ));
        assert!(!is_bedtime_dose(time(21, 0, 0, 0), None, window));
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[4.0]), Some(4.0));
        assert_eq!(median(&[9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&[1.0, 2.0, 10.0, 4.0]), Some(3.0));
        assert_eq!(median(&[f64::NAN, 2.0, 6.0]), Some(4.0));
    }

    #[test]
    fn a_dose_over_three_times_the_usual_median_is_unusual() {
        let recent = [50.0, 55.0, 60.0];
        // 15 g of a 19.5 mg/g leaf against a usual ~2.8 g: the "1,5" read as 15.
        let unusual = UNUSUAL_AMOUNT.check(Some(292.5), &recent).unwrap();
        assert_eq!((unusual.dose_mg, unusual.usual_mg), (292.5, 55.0));
        assert_eq!(unusual.factor, 3.0);
        assert_eq!(
            UNUSUAL_AMOUNT.check(Some(165.0), &recent),
            None,
            "exactly 3 times is not more than 3 times"
        );
        assert!(UNUSUAL_AMOUNT.check(Some(165.1), &recent).is_some());
        assert_eq!(UNUSUAL_AMOUNT.check(Some(20.0), &recent), None);
    }

    #[test]
    fn without_three_recent_doses_with_known_milligrams_nothing_is_unusual() {
        assert_eq!(UNUSUAL_AMOUNT.check(Some(1000.0), &[50.0, 50.0]), None);
        assert_eq!(
            UNUSUAL_AMOUNT.check(Some(1000.0), &[50.0, 50.0, 0.0, f64::NAN]),
            None,
            "zero and unknown milligrams give no scale"
        );
        assert_eq!(
            UNUSUAL_AMOUNT.check(None, &[50.0, 50.0, 50.0]),
            None,
            "a dose of unknown milligrams cannot be compared"
        );
        assert!(
            UNUSUAL_AMOUNT
                .check(Some(1000.0), &[50.0, 50.0, 50.0])
                .is_some()
        );
    }

    #[test]
    fn amounts_typed_with_a_decimal_comma_are_decimals_and_grouping_is_refused() {
        let now = Timestamp::now();
        let parse = |amount: &str| {
            DoseEntry::parse(
                &DoseFields {
                    amount: AmountInput::Text(amount.to_owned()),
                    unit: "g",
                    ..Default::default()
                },
                now,
            )
        };
        assert_eq!(parse("1,5").unwrap().amount, 1.5);
        for grouped in ["1,500", "1.500", "1 500", "1.500,5", "1,500.5"] {
            let errors = parse(grouped).unwrap_err();
            assert_eq!(errors.errors.len(), 1, "{grouped}");
            assert_eq!(errors.errors[0].field, "amount");
            assert!(
                errors.errors[0].detail.contains("no thousands separators"),
                "{grouped}: {}",
                errors.errors[0].detail
            );
        }
        let negative = parse("-2").unwrap_err();
        assert_eq!(
            negative.errors[0].detail,
            "amount must be a positive number"
        );
        let zero = parse("0,0").unwrap_err();
        assert_eq!(zero.errors[0].detail, "amount must be a positive number");
    }

    fn dose(at: &str, zone: &str, mg: f64) -> DoseForDay {
        DoseForDay {
            taken_at: at.parse().unwrap(),
            time_zone: jiff::tz::TimeZone::get(zone).unwrap(),
            grams: Some(mg / 20.0),
            millilitres: None,
            mitragynine_mg: Some(mg),
            hydroxymitragynine_mg: Some(0.1),
            estimated: false,
            bedtime: false,
        }
    }

    #[test]
    fn days_are_patient_local_across_a_daylight_saving_change() {
        // US clocks fell back on 2026-11-01. 23:30 local on 31 Oct (CDT, UTC-5) is 04:30Z on
        // 1 Nov; 23:30 local on 1 Nov (CST, UTC-6) is 05:30Z on 2 Nov.
        let doses = [
            dose("2026-11-01T04:30:00Z", "America/Chicago", 60.0),
            dose("2026-11-01T14:00:00Z", "America/Chicago", 40.0),
            dose("2026-11-02T05:30:00Z", "America/Chicago", 20.0),
        ];
        let days = daily_exposure(&doses, date(2026, 10, 31), date(2026, 11, 2));
        let summary: Vec<(Date, f64, u32)> = days
            .iter()
            .map(|d| (d.date, d.mitragynine_mg, d.dose_count))
            .collect();
        assert_eq!(
            summary,
            [(date(2026, 10, 31), 60.0, 1), (date(2026, 11, 1), 60.0, 2)]
        );
    }

    #[test]
    fn a_time_zone_move_counts_each_dose_on_the_day_it_was_where_it_was_taken() {
        // The same instant is 1 Nov in Chicago and 2 Nov in Bangkok.
        let doses = [
            dose("2026-11-01T20:00:00Z", "America/Chicago", 30.0),
            dose("2026-11-02T03:00:00Z", "Asia/Bangkok", 50.0),
        ];
        let days = daily_exposure(&doses, date(2026, 11, 1), date(2026, 11, 2));
        assert_eq!(
            days.iter().map(|d| d.date).collect::<Vec<_>>(),
            [date(2026, 11, 1), date(2026, 11, 2)]
        );
    }

    #[test]
    fn the_range_is_inclusive_and_filters_by_local_date() {
        let doses = [
            dose("2026-11-10T12:00:00Z", "UTC", 10.0),
            dose("2026-11-12T12:00:00Z", "UTC", 10.0),
        ];
        assert_eq!(
            daily_exposure(&doses, date(2026, 11, 10), date(2026, 11, 10)).len(),
            1
        );
        assert_eq!(
            daily_exposure(&doses, date(2026, 11, 10), date(2026, 11, 12)).len(),
            2
        );
        assert!(daily_exposure(&doses, date(2026, 11, 11), date(2026, 11, 11)).is_empty());
    }
}
