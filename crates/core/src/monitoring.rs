//! Clinical monitoring records beside doses and check-ins: liver tests and ECGs (liver
//! injury and QT prolongation are kratom's best-documented organ harms,
//! pharmacology.md §5), naloxone on hand, overdoses and non-prescribed opioid use.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::checkin::Frequency;
use crate::ids::{EcgId, LabResultId, OpioidUseId, OverdoseId};
use crate::patient::SexAtBirth;
use crate::time::{ClinicalInstant, Era, check_date};
use crate::validation::FieldErrors;

/// A recorded time may be this far ahead of the server's clock (device clocks drift).
const CLOCK_SLACK: SignedDuration = SignedDuration::from_mins(5);

/// The liver tests the rules read, by LOINC code (LOINC 2.8x, serum or plasma, mass or
/// enzymatic-activity concentration; INR in platelet-poor plasma).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabTest {
    Alt,
    Ast,
    AlkalinePhosphatase,
    TotalBilirubin,
    Inr,
}

impl LabTest {
    pub const ALL: [LabTest; 5] = [
        LabTest::Alt,
        LabTest::Ast,
        LabTest::AlkalinePhosphatase,
        LabTest::TotalBilirubin,
        LabTest::Inr,
    ];

    pub fn loinc(self) -> &'static str {
        match self {
            LabTest::Alt => "1742-6",
            LabTest::Ast => "1920-8",
            LabTest::AlkalinePhosphatase => "6768-6",
            LabTest::TotalBilirubin => "1975-2",
            LabTest::Inr => "6301-6",
        }
    }

    pub fn from_loinc(code: &str) -> Option<LabTest> {
        LabTest::ALL.into_iter().find(|t| t.loinc() == code.trim())
    }

    pub fn code(self) -> &'static str {
        match self {
            LabTest::Alt => "alt",
            LabTest::Ast => "ast",
            LabTest::AlkalinePhosphatase => "alp",
            LabTest::TotalBilirubin => "bilirubin",
            LabTest::Inr => "inr",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LabTest::Alt => "ALT (alanine aminotransferase)",
            LabTest::Ast => "AST (aspartate aminotransferase)",
            LabTest::AlkalinePhosphatase => "Alkaline phosphatase",
            LabTest::TotalBilirubin => "Total bilirubin",
            LabTest::Inr => "INR",
        }
    }

    /// The unit results are compared in.
    pub fn canonical_unit(self) -> &'static str {
        match self {
            LabTest::Alt | LabTest::Ast | LabTest::AlkalinePhosphatase => "U/L",
            LabTest::TotalBilirubin => "mg/dL",
            LabTest::Inr => "INR",
        }
    }

    /// The units accepted, as people write them, for forms and error messages.
    pub fn accepted_units(self) -> &'static [&'static str] {
        match self {
            LabTest::Alt | LabTest::Ast | LabTest::AlkalinePhosphatase => {
                &["U/L", "IU/L", "µkat/L"]
            }
            LabTest::TotalBilirubin => &["mg/dL", "µmol/L"],
            LabTest::Inr => &["INR", "{INR}", "1"],
        }
    }

    /// The factor turning a value in `unit` into the canonical unit, if `unit` is one
    /// this test is reported in. 1 µkat/L = 60 U/L; bilirubin 1 mg/dL = 17.1 µmol/L
    /// (molar mass 584.7 g/mol).
    pub fn factor(self, unit: &str) -> Option<f64> {
        let unit = unit.trim().replace(['µ', 'μ'], "u").to_ascii_lowercase();
        match (self, unit.as_str()) {
            (LabTest::Alt | LabTest::Ast | LabTest::AlkalinePhosphatase, "u/l" | "iu/l") => {
                Some(1.0)
            }
            (LabTest::Alt | LabTest::Ast | LabTest::AlkalinePhosphatase, "ukat/l") => Some(60.0),
            (LabTest::TotalBilirubin, "mg/dl") => Some(1.0),
            (LabTest::TotalBilirubin, "umol/l") => Some(1.0 / 17.1),
            (LabTest::Inr, "inr" | "{inr}" | "1" | "ratio" | "") => Some(1.0),
            _ => None,
        }
    }

    /// Upper limits of normal used when a result comes without its laboratory's range:
    /// typical adult reference intervals (they differ between laboratories and by sex,
    /// so the result's own range is always preferred and the page says which was used).
    pub fn typical_upper_limit(self) -> f64 {
        match self {
            LabTest::Alt | LabTest::Ast => 40.0,
            LabTest::AlkalinePhosphatase => 120.0,
            LabTest::TotalBilirubin => 1.2,
            LabTest::Inr => 1.1,
        }
    }

    /// Values beyond these (canonical units) are typing errors, not results.
    fn plausible_max(self) -> f64 {
        match self {
            LabTest::Alt | LabTest::Ast => 50_000.0,
            LabTest::AlkalinePhosphatase => 10_000.0,
            LabTest::TotalBilirubin => 80.0,
            LabTest::Inr => 20.0,
        }
    }
}

/// A laboratory result, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct NewLabResult {
    pub test: LabTest,
    pub value: f64,
    /// The unit as reported, tidied (`µmol/L`).
    pub unit: String,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub observed_at: Timestamp,
}

/// A lab result as it arrives from the API or a form.
#[derive(Clone, Debug, Default)]
pub struct LabResultFields<'a> {
    pub loinc: &'a str,
    pub value: Option<f64>,
    pub unit: &'a str,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub observed_at: &'a str,
}

fn not_in_future(at: Timestamp, now: Timestamp) -> Result<Timestamp, String> {
    if at > now + CLOCK_SLACK {
        Err("is in the future".to_owned())
    } else {
        Ok(at)
    }
}

fn instant(errors: &mut FieldErrors, field: &str, raw: &str, now: Timestamp) -> Option<Timestamp> {
    let at = errors.check(field, ClinicalInstant::parse(raw))?.get();
    errors.check(field, not_in_future(at, now))
}

impl NewLabResult {
    pub fn parse(fields: &LabResultFields<'_>, now: Timestamp) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let test = LabTest::from_loinc(fields.loinc);
        if test.is_none() {
            errors.push(
                "loinc",
                format!(
                    "{:?} is not a test Speciosa watches; use one of {}",
                    fields.loinc.trim(),
                    LabTest::ALL
                        .iter()
                        .map(|t| format!("{} ({})", t.loinc(), t.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let unit = fields.unit.trim().replace('μ', "µ");
        let mut value = None;
        if let Some(test) = test {
            match test.factor(&unit) {
                None => errors.push(
                    "unit",
                    format!(
                        "{:?} is not a unit {} is reported in; use {}",
                        unit,
                        test.name(),
                        test.accepted_units().join(", ")
                    ),
                ),
                Some(factor) => match fields.value {
                    None => errors.push("value", "the result is required"),
                    Some(v) if !v.is_finite() || v < 0.0 => {
                        errors.push("value", "must be a number of zero or more")
                    }
                    Some(v) if v * factor > test.plausible_max() => errors.push(
                        "value",
                        format!(
                            "{v} {unit} is beyond any measured {}: check the number and unit",
                            test.name()
                        ),
                    ),
                    Some(v) => value = Some(v),
                },
            }
        }
        for (field, limit) in [
            ("reference_low", fields.reference_low),
            ("reference_high", fields.reference_high),
        ] {
            if let Some(limit) = limit
                && (!limit.is_finite()
                    || limit < 0.0
                    || (field == "reference_high" && limit == 0.0))
            {
                errors.push(field, "must be a positive number in the result's unit");
            }
        }
        if let (Some(low), Some(high)) = (fields.reference_low, fields.reference_high)
            && low >= high
        {
            errors.push("reference_high", "must be above reference_low");
        }
        let observed_at = instant(&mut errors, "observed_at", fields.observed_at, now);
        match (test, value, observed_at) {
            (Some(test), Some(value), Some(observed_at)) if errors.is_empty() => Ok(Self {
                test,
                value,
                unit: if unit.is_empty() {
                    test.canonical_unit().to_owned()
                } else {
                    unit
                },
                reference_low: fields.reference_low,
                reference_high: fields.reference_high,
                observed_at,
            }),
            _ => Err(errors),
        }
    }
}

/// A stored lab result as the rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct LabFact {
    pub id: LabResultId,
    pub test: LabTest,
    pub value: f64,
    pub unit: String,
    pub reference_high: Option<f64>,
    pub observed_at: Timestamp,
}

impl LabFact {
    /// The result as a multiple of its upper limit of normal: its own laboratory's when
    /// given (same unit), else the typical one.
    pub fn times_upper_limit(&self) -> f64 {
        match self.reference_high {
            Some(high) if high > 0.0 => self.value / high,
            _ => {
                let factor = self.test.factor(&self.unit).unwrap_or(1.0);
                self.value * factor / self.test.typical_upper_limit()
            }
        }
    }

    pub fn uses_typical_limit(&self) -> bool {
        !self.reference_high.is_some_and(|h| h > 0.0)
    }
}

/// How a QT interval was corrected for heart rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QtcFormula {
    Bazett,
    Fridericia,
    Framingham,
    Hodges,
    Machine,
}

impl QtcFormula {
    pub const ALL: [QtcFormula; 5] = [
        QtcFormula::Bazett,
        QtcFormula::Fridericia,
        QtcFormula::Framingham,
        QtcFormula::Hodges,
        QtcFormula::Machine,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QtcFormula::Bazett => "bazett",
            QtcFormula::Fridericia => "fridericia",
            QtcFormula::Framingham => "framingham",
            QtcFormula::Hodges => "hodges",
            QtcFormula::Machine => "machine",
        }
    }

    pub fn parse(text: &str) -> Option<QtcFormula> {
        QtcFormula::ALL
            .into_iter()
            .find(|f| f.as_str() == text.trim().to_ascii_lowercase())
    }
}

/// LOINC for the corrected QT interval.
pub const QTC_LOINC: &str = "8636-3";

/// QTc values outside this range (ms) are typing errors.
pub const QTC_RANGE: std::ops::RangeInclusive<u32> = 250..=800;

#[derive(Clone, Debug, PartialEq)]
pub struct NewEcg {
    pub qtc_ms: u32,
    pub recorded_at: Timestamp,
    pub heart_rate_bpm: Option<u32>,
    pub formula: Option<QtcFormula>,
}

#[derive(Clone, Debug, Default)]
pub struct EcgFields<'a> {
    pub qtc_ms: Option<f64>,
    pub recorded_at: &'a str,
    pub heart_rate_bpm: Option<f64>,
    pub formula: Option<&'a str>,
}

fn whole_in(value: f64, range: std::ops::RangeInclusive<u32>, unit: &str) -> Result<u32, String> {
    if value.is_finite()
        && value.fract() == 0.0
        && value >= f64::from(*range.start())
        && value <= f64::from(*range.end())
    {
        // In range and whole, so the conversion is exact.
        Ok(value as u32)
    } else {
        Err(format!(
            "must be a whole number of {unit} between {} and {}",
            range.start(),
            range.end()
        ))
    }
}

impl NewEcg {
    pub fn parse(fields: &EcgFields<'_>, now: Timestamp) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let qtc_ms = match fields.qtc_ms {
            None => {
                errors.push("qtc_ms", "the corrected QT interval is required (ms)");
                None
            }
            Some(v) => errors.check("qtc_ms", whole_in(v, QTC_RANGE, "ms")),
        };
        let heart_rate_bpm = fields.heart_rate_bpm.and_then(|v| {
            errors.check("heart_rate_bpm", whole_in(v, 20..=300, "beats per minute"))
        });
        let formula = match fields.formula.map(str::trim).filter(|f| !f.is_empty()) {
            None => None,
            Some(text) => {
                let parsed = QtcFormula::parse(text);
                if parsed.is_none() {
                    errors.push(
                        "formula",
                        "use bazett, fridericia, framingham, hodges or machine",
                    );
                }
                parsed
            }
        };
        let recorded_at = instant(&mut errors, "recorded_at", fields.recorded_at, now);
        match (qtc_ms, recorded_at) {
            (Some(qtc_ms), Some(recorded_at)) if errors.is_empty() => Ok(Self {
                qtc_ms,
                recorded_at,
                heart_rate_bpm,
                formula,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EcgFact {
    pub id: EcgId,
    pub qtc_ms: u32,
    pub recorded_at: Timestamp,
}

/// How naloxone is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NaloxoneForm {
    NasalSpray,
    Injection,
    AutoInjector,
}

impl NaloxoneForm {
    pub const ALL: [NaloxoneForm; 3] = [
        NaloxoneForm::NasalSpray,
        NaloxoneForm::Injection,
        NaloxoneForm::AutoInjector,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NaloxoneForm::NasalSpray => "nasal_spray",
            NaloxoneForm::Injection => "injection",
            NaloxoneForm::AutoInjector => "auto_injector",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NaloxoneForm::NasalSpray => "Nasal spray",
            NaloxoneForm::Injection => "Injection (vial or syringe)",
            NaloxoneForm::AutoInjector => "Auto-injector",
        }
    }

    pub fn parse(text: &str) -> Option<NaloxoneForm> {
        NaloxoneForm::ALL
            .into_iter()
            .find(|f| f.as_str() == text.trim())
    }

    /// How to use it, in plain words, for the patient's home page and whoever is with
    /// them (the steps printed on the products' own instructions).
    pub fn how_to_use(self) -> &'static [&'static str] {
        match self {
            NaloxoneForm::NasalSpray => &[
                "Lay the person on their back. Tilt the head back.",
                "Put the nozzle in one nostril and press the plunger firmly.",
                "If there is no response after 2–3 minutes, give a second dose in the other nostril.",
            ],
            NaloxoneForm::Injection | NaloxoneForm::AutoInjector => &[
                "Inject into the outer thigh muscle (through clothing is fine).",
                "If there is no response after 2–3 minutes, give another dose.",
            ],
        }
    }
}

/// Steps for anyone who finds someone not breathing or not waking, whatever the form.
pub const OVERDOSE_STEPS: [&str; 4] = [
    "Call the emergency number now.",
    "Give naloxone.",
    "Keep them breathing: rescue breaths if trained; lay them on their side if they breathe.",
    "Stay with them: naloxone wears off sooner than many opioids, so they may stop breathing again.",
];

/// Where the patient stands on naloxone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaloxoneStatus {
    pub on_hand: bool,
    pub form: Option<NaloxoneForm>,
    pub obtained_on: Option<Date>,
    pub expires_on: Option<Date>,
    /// Where it is kept ("kitchen drawer, by the door"), for whoever needs it.
    pub location: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct NaloxoneFields<'a> {
    pub on_hand: Option<bool>,
    pub form: Option<&'a str>,
    pub obtained_on: Option<&'a str>,
    pub expires_on: Option<&'a str>,
    pub location: Option<&'a str>,
}

fn optional_text(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Option<String> {
    let text = raw.map(str::trim).filter(|t| !t.is_empty())?;
    if text.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
        return None;
    }
    Some(text.to_owned())
}

fn optional_date(errors: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<Date> {
    let raw = raw.map(str::trim).filter(|t| !t.is_empty())?;
    errors.check(field, crate::time::parse_date(raw, Era::Calendar))
}

impl NaloxoneStatus {
    pub fn parse(fields: &NaloxoneFields<'_>, today: Date) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let on_hand = fields.on_hand;
        if on_hand.is_none() {
            errors.push("on_hand", "say whether naloxone is on hand (true or false)");
        }
        let form = match fields.form.map(str::trim).filter(|f| !f.is_empty()) {
            None => None,
            Some(text) => {
                let form = NaloxoneForm::parse(text);
                if form.is_none() {
                    errors.push("form", "use nasal_spray, injection or auto_injector");
                }
                form
            }
        };
        let obtained_on = optional_date(&mut errors, "obtained_on", fields.obtained_on);
        if obtained_on.is_some_and(|d| d > today) {
            errors.push("obtained_on", "is in the future");
        }
        let expires_on = optional_date(&mut errors, "expires_on", fields.expires_on);
        if let (Some(obtained), Some(expires)) = (obtained_on, expires_on)
            && expires <= obtained
        {
            errors.push("expires_on", "must be after the date it was obtained");
        }
        let location = optional_text(&mut errors, "location", fields.location, 200);
        match on_hand {
            Some(on_hand) if errors.is_empty() => Ok(Self {
                on_hand,
                form,
                obtained_on,
                expires_on,
                location,
            }),
            _ => Err(errors),
        }
    }

    /// On hand and not past its expiry date (the kit is usable on its expiry date).
    pub fn usable_on(&self, today: Date) -> bool {
        self.on_hand && self.expires_on.is_none_or(|e| e >= today)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NaloxoneFact {
    pub status: NaloxoneStatus,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewOverdose {
    pub occurred_at: Timestamp,
    pub substances: Vec<String>,
    pub naloxone_used: bool,
    /// Whether emergency services or an emergency department were involved, if known.
    pub emergency_care: Option<bool>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct OverdoseFields<'a> {
    pub occurred_at: &'a str,
    pub substances: Option<&'a [String]>,
    pub naloxone_used: Option<bool>,
    pub emergency_care: Option<bool>,
    pub notes: Option<&'a str>,
}

/// Substances named for one event, at most.
pub const MAX_SUBSTANCES: usize = 20;

impl NewOverdose {
    pub fn parse(fields: &OverdoseFields<'_>, now: Timestamp) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let occurred_at = instant(&mut errors, "occurred_at", fields.occurred_at, now);
        let mut substances: Vec<String> = Vec::new();
        match fields.substances {
            None => errors.push(
                "substances",
                "list what was taken, or [\"unknown\"] when nobody knows",
            ),
            Some(list) if list.len() > MAX_SUBSTANCES => {
                errors.push("substances", format!("at most {MAX_SUBSTANCES} substances"))
            }
            Some(list) => {
                for (i, s) in list.iter().enumerate() {
                    let s = s.trim();
                    if s.is_empty() || s.chars().count() > 100 {
                        errors.push(
                            format!("substances[{i}]"),
                            "each substance is a name of 1 to 100 characters",
                        );
                    } else if !substances.iter().any(|k| k.eq_ignore_ascii_case(s)) {
                        substances.push(s.to_owned());
                    }
                }
            }
        }
        if fields.naloxone_used.is_none() {
            errors.push(
                "naloxone_used",
                "say whether naloxone was used (true or false)",
            );
        }
        let notes = optional_text(&mut errors, "notes", fields.notes, 2000);
        match (occurred_at, fields.naloxone_used) {
            (Some(occurred_at), Some(naloxone_used)) if errors.is_empty() => Ok(Self {
                occurred_at,
                substances,
                naloxone_used,
                emergency_care: fields.emergency_care,
                notes,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OverdoseFact {
    pub id: OverdoseId,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub substances: Vec<String>,
    pub naloxone_used: bool,
    pub emergency_care: Option<bool>,
    /// Whether the patient reported it themselves (rather than a clinician).
    pub reported_by_patient: bool,
}

/// Who knows about a non-prescribed opioid use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpioidUseSource {
    PatientReport,
    ClinicianObserved,
    DrugTest,
}

impl OpioidUseSource {
    pub const ALL: [OpioidUseSource; 3] = [
        OpioidUseSource::PatientReport,
        OpioidUseSource::ClinicianObserved,
        OpioidUseSource::DrugTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpioidUseSource::PatientReport => "patient_report",
            OpioidUseSource::ClinicianObserved => "clinician_observed",
            OpioidUseSource::DrugTest => "drug_test",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OpioidUseSource::PatientReport => "Patient told us",
            OpioidUseSource::ClinicianObserved => "Clinician observed",
            OpioidUseSource::DrugTest => "Drug test",
        }
    }

    pub fn parse(text: &str) -> Option<OpioidUseSource> {
        OpioidUseSource::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewOpioidUse {
    pub used_on: Date,
    pub substance: String,
    pub source: OpioidUseSource,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct OpioidUseFields<'a> {
    pub used_on: &'a str,
    pub substance: &'a str,
    pub source: &'a str,
    pub notes: Option<&'a str>,
}

impl NewOpioidUse {
    pub fn parse(fields: &OpioidUseFields<'_>, today: Date) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let used_on = errors.check(
            "used_on",
            crate::time::parse_date(fields.used_on, Era::Clinical)
                .map_err(|e| e.to_string())
                .and_then(|d| {
                    if d > today {
                        Err("is in the future".to_owned())
                    } else {
                        Ok(d)
                    }
                }),
        );
        let substance = fields.substance.trim();
        if substance.is_empty() || substance.chars().count() > 100 {
            errors.push(
                "substance",
                "name what was taken (1 to 100 characters), e.g. heroin, fentanyl, someone else's oxycodone",
            );
        }
        let source = OpioidUseSource::parse(fields.source);
        if source.is_none() {
            errors.push(
                "source",
                "use patient_report, clinician_observed or drug_test",
            );
        }
        let notes = optional_text(&mut errors, "notes", fields.notes, 2000);
        match (used_on, source) {
            (Some(used_on), Some(source)) if errors.is_empty() => Ok(Self {
                used_on,
                substance: substance.to_owned(),
                source,
                notes,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpioidUseFact {
    pub id: OpioidUseId,
    pub used_on: Date,
    pub substance: String,
}

/// Breastfeeding, recorded beside pregnancy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreastfeedingStatus {
    Yes,
    No,
    #[default]
    Unknown,
}

impl BreastfeedingStatus {
    pub const ALL: [BreastfeedingStatus; 3] = [
        BreastfeedingStatus::Yes,
        BreastfeedingStatus::No,
        BreastfeedingStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BreastfeedingStatus::Yes => "yes",
            BreastfeedingStatus::No => "no",
            BreastfeedingStatus::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<BreastfeedingStatus> {
        BreastfeedingStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim())
    }
}

/// What the monitoring rules read beyond doses and check-ins, each a bounded read.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitoringFacts {
    /// The latest results of each [`LabTest`] observed in [`LAB_WINDOW`] (at most
    /// [`LABS_PER_TEST`] each).
    pub labs: Vec<LabFact>,
    /// The two latest ECGs.
    pub ecgs: Vec<EcgFact>,
    pub naloxone: Option<NaloxoneFact>,
    /// Overdoses that occurred in [`OVERDOSE_HISTORY`] or were recorded in
    /// [`OVERDOSE_ALERT_WINDOW`] (at most [`OVERDOSES_READ`]).
    pub overdoses: Vec<OverdoseFact>,
    /// Non-prescribed opioid use recorded in [`OPIOID_USE_WINDOW`] (latest first).
    pub opioid_use: Vec<OpioidUseFact>,
    /// The latest check-in answering "yes" to non-prescribed opioid use within
    /// [`OPIOID_USE_WINDOW`], if any (its id and when).
    pub reported_opioid_use: Option<(crate::ids::AssessmentId, Timestamp)>,
    /// How often the patient is asked to check in: the most frequent of their scheduled
    /// patient-rated instruments (`Off` when none is scheduled).
    pub checkin_rhythm: Frequency,
    pub sex_at_birth: SexAtBirth,
    pub breastfeeding: BreastfeedingStatus,
}

impl Default for MonitoringFacts {
    fn default() -> Self {
        Self {
            labs: Vec::new(),
            ecgs: Vec::new(),
            naloxone: None,
            overdoses: Vec::new(),
            opioid_use: Vec::new(),
            reported_opioid_use: None,
            checkin_rhythm: Frequency::Daily,
            sex_at_birth: SexAtBirth::Unknown,
            breastfeeding: BreastfeedingStatus::Unknown,
        }
    }
}

/// Lab results older than this no longer describe the liver now.
pub const LAB_WINDOW: SignedDuration = SignedDuration::from_hours(90 * 24);
pub const LABS_PER_TEST: usize = 3;
/// An overdose in the last year makes the patient opioid-exposed for the naloxone prompt.
pub const OVERDOSE_HISTORY: SignedDuration = SignedDuration::from_hours(365 * 24);
/// An overdose recorded this recently (whenever it happened) is an alert.
pub const OVERDOSE_ALERT_WINDOW: SignedDuration = SignedDuration::from_hours(30 * 24);
pub const OVERDOSES_READ: usize = 20;
/// Non-prescribed opioid use this recent makes the patient opioid-exposed.
pub const OPIOID_USE_WINDOW: SignedDuration = SignedDuration::from_hours(90 * 24);

/// `expires_on` for an API caller that sent a date: rejects impossible calendar dates.
pub fn check_expiry(date: Date) -> Result<Date, String> {
    check_date(date, Era::Calendar).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_bilirubin_in_micromoles_is_compared_in_milligrams() {
        let fact = LabFact {
            id: LabResultId::new(),
            test: LabTest::TotalBilirubin,
            value: 41.04,
            unit: "µmol/L".into(),
            reference_high: None,
            observed_at: now(),
        };
        // 41.04 µmol/L = 2.4 mg/dL = 2 × the typical 1.2 mg/dL.
        assert!((fact.times_upper_limit() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_result_with_its_own_range_is_judged_against_it() {
        let fact = LabFact {
            id: LabResultId::new(),
            test: LabTest::Alt,
            value: 100.0,
            unit: "U/L".into(),
            reference_high: Some(25.0),
            observed_at: now(),
        };
        assert_eq!(fact.times_upper_limit(), 4.0);
        assert!(!fact.uses_typical_limit());
    }

    #[test]
    fn an_unknown_loinc_a_wrong_unit_and_a_future_time_are_each_named() {
        let errors = NewLabResult::parse(
            &LabResultFields {
                loinc: "2345-7",
                value: Some(5.0),
                unit: "mmol/L",
                observed_at: "2027-01-01T00:00:00Z",
                ..Default::default()
            },
            now(),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["loinc", "observed_at"]);
        let errors = NewLabResult::parse(
            &LabResultFields {
                loinc: "1742-6",
                value: Some(50.0),
                unit: "mg/dL",
                observed_at: "2026-11-30T08:00:00Z",
                ..Default::default()
            },
            now(),
        )
        .unwrap_err();
        assert_eq!(errors.errors[0].field, "unit");
    }

    #[test]
    fn an_alt_in_microkatal_is_accepted_and_an_impossible_value_is_not() {
        let ok = NewLabResult::parse(
            &LabResultFields {
                loinc: "1742-6",
                value: Some(2.0),
                unit: "μkat/L",
                reference_high: Some(0.7),
                observed_at: "2026-11-30T08:00:00Z",
                ..Default::default()
            },
            now(),
        )
        .unwrap();
        assert_eq!(ok.unit, "µkat/L");
        let too_big = NewLabResult::parse(
            &LabResultFields {
                loinc: "1742-6",
                value: Some(900_000.0),
                unit: "U/L",
                observed_at: "2026-11-30T08:00:00Z",
                ..Default::default()
            },
            now(),
        )
        .unwrap_err();
        assert_eq!(too_big.errors[0].field, "value");
    }

    #[test]
    fn a_qtc_must_be_whole_milliseconds_in_a_human_range() {
        let parse = |v: f64| {
            NewEcg::parse(
                &EcgFields {
                    qtc_ms: Some(v),
                    recorded_at: "2026-11-30T08:00:00Z",
                    ..Default::default()
                },
                now(),
            )
        };
        assert_eq!(parse(510.0).unwrap().qtc_ms, 510);
        assert!(parse(0.51).is_err(), "seconds typed for milliseconds");
        assert!(parse(249.0).is_err());
        assert!(parse(800.0).is_ok());
        assert!(parse(470.5).is_err());
    }

    #[test]
    fn naloxone_is_usable_through_its_expiry_date_and_not_after() {
        let today = jiff::civil::date(2026, 12, 1);
        let status = NaloxoneStatus::parse(
            &NaloxoneFields {
                on_hand: Some(true),
                expires_on: Some("2026-12-01"),
                ..Default::default()
            },
            today,
        )
        .unwrap();
        assert!(status.usable_on(today));
        assert!(!status.usable_on(today.tomorrow().unwrap()));
        let missing = NaloxoneStatus::parse(&NaloxoneFields::default(), today).unwrap_err();
        assert_eq!(missing.errors[0].field, "on_hand");
    }

    #[test]
    fn an_overdose_needs_its_time_what_was_taken_and_whether_naloxone_was_used() {
        let errors = NewOverdose::parse(&OverdoseFields::default(), now()).unwrap_err();
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["occurred_at", "substances", "naloxone_used"]);
        let list = vec![
            "Fentanyl".to_owned(),
            " fentanyl ".to_owned(),
            "kratom".to_owned(),
        ];
        let ok = NewOverdose::parse(
            &OverdoseFields {
                occurred_at: "2026-11-30T23:10:00-06:00",
                substances: Some(&list),
                naloxone_used: Some(true),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
        assert_eq!(ok.substances, ["Fentanyl", "kratom"]);
    }
}
