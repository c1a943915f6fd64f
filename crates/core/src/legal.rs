//! Kratom's legal status by jurisdiction, as cited data (`data/legal/status.toml`).
//!
//! The schema follows legal-and-products.md §4: jurisdictions form a hierarchy (a city
//! inside its state, a state inside its country), instruments carry their own status
//! (a pending bill never counts), and each rule names its substance scope, status,
//! conditions, effective dates, sources with grades and when it was last verified.
//! Conflicts between sources are stored, never resolved silently. Nothing here is
//! legal advice; the dataset must be re-verified against primary texts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

pub mod clinic;

/// The bundled dataset.
pub const BUNDLED: &str = include_str!("../../../data/legal/status.toml");

/// The schema version this build reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A pending bill or a rule that expires soon is shown as "coming up" this many days ahead
/// (legal-and-products.md §4.2, "rules expiring within 60 days").
pub const UPCOMING_DAYS: i64 = 60;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $code)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let codes: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!("{s:?} is not one of {}", codes.join(", "))
                    })
            }
        }
    };
}

vocabulary! {
    /// What a rule is about (legal-and-products.md §4.2).
    SubstanceScope {
        KratomLeaf => "kratom_leaf",
        KratomExtract => "kratom_extract",
        Mitragynine => "mitragynine",
        Hydroxymitragynine => "7_OH",
        HydroxymitragynineConcentrated => "7_OH_concentrated",
        MitragyninePseudoindoxyl => "mitragynine_pseudoindoxyl",
        SyntheticKratomAlkaloids => "synthetic_kratom_alkaloids",
        AllKratomAlkaloids => "all_kratom_alkaloids",
    }
}

vocabulary! {
    /// A rule's status, least to most restrictive in declaration order after `unclear`.
    LegalStatus {
        LegalUnregulated => "legal_unregulated",
        Unclear => "unclear",
        Regulated => "regulated",
        PrescriptionOnly => "prescription_only",
        RestrictedSupply => "restricted_supply",
        ControlledBanned => "controlled_banned",
    }
}

vocabulary! {
    /// How much a source weighs (legal-and-products.md §4.1).
    SourceGrade {
        PrimaryLaw => "primary_law",
        GovernmentNotice => "government_notice",
        Court => "court",
        OfficialPress => "official_press",
        LegalAnalysis => "legal_analysis",
        UnOrAcademic => "un_or_academic",
        News => "news",
        IndustryOrAdvocacy => "industry_or_advocacy",
        Vendor => "vendor",
    }
}

vocabulary! {
    JurisdictionLevel {
        Supranational => "supranational",
        Country => "country",
        Subdivision => "subdivision",
        County => "county",
        Municipality => "municipality",
        SpecialRegion => "special_region",
    }
}

vocabulary! {
    InstrumentType {
        Statute => "statute",
        Regulation => "regulation",
        EmergencyRule => "emergency_rule",
        ExecutiveOrder => "executive_order",
        MinisterialDecree => "ministerial_decree",
        CourtDecision => "court_decision",
        AgencyGuidance => "agency_guidance",
        ImportAlert => "import_alert",
        Ordinance => "ordinance",
        BillPending => "bill_pending",
    }
}

vocabulary! {
    InstrumentStatus {
        Pending => "pending",
        Enacted => "enacted",
        InForce => "in_force",
        Expired => "expired",
        Repealed => "repealed",
        Vetoed => "vetoed",
        Died => "died",
        Enjoined => "enjoined",
    }
}

vocabulary! {
    Stance {
        Supports => "supports",
        Contradicts => "contradicts",
        Partial => "partial",
    }
}

vocabulary! {
    Confidence {
        High => "high",
        Medium => "medium",
        Low => "low",
    }
}

vocabulary! {
    /// Where a rule comes from: the shipped dataset, or an organization's own row that adds
    /// one or replaces a shipped one (curated on `/admin/knowledge`).
    RuleOrigin {
        Shipped => "shipped",
        Clinic => "clinic",
        ClinicOverride => "clinic_override",
    }
}

vocabulary! {
    VerificationMethod {
        PrimaryTextRead => "primary_text_read",
        SecondaryOnly => "secondary_only",
        AutomatedDiff => "automated_diff",
    }
}

impl LegalStatus {
    /// Supply or possession is prohibited or limited to prescribers: a dose of a product in
    /// this scope is a legal risk to the patient.
    pub fn restricts_use(self) -> bool {
        matches!(
            self,
            LegalStatus::ControlledBanned
                | LegalStatus::RestrictedSupply
                | LegalStatus::PrescriptionOnly
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            LegalStatus::LegalUnregulated => "legal, unregulated",
            LegalStatus::Unclear => "unclear",
            LegalStatus::Regulated => "regulated",
            LegalStatus::PrescriptionOnly => "prescription only",
            LegalStatus::RestrictedSupply => "supply banned",
            LegalStatus::ControlledBanned => "controlled / banned",
        }
    }
}

impl SubstanceScope {
    pub fn label(self) -> &'static str {
        match self {
            SubstanceScope::KratomLeaf => "kratom leaf",
            SubstanceScope::KratomExtract => "kratom extract",
            SubstanceScope::Mitragynine => "mitragynine",
            SubstanceScope::Hydroxymitragynine => "7-OH",
            SubstanceScope::HydroxymitragynineConcentrated => "concentrated 7-OH",
            SubstanceScope::MitragyninePseudoindoxyl => "mitragynine pseudoindoxyl",
            SubstanceScope::SyntheticKratomAlkaloids => "synthetic kratom alkaloids",
            SubstanceScope::AllKratomAlkaloids => "all kratom products",
        }
    }
}

/// What a product holds, as far as legal scopes go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProductScopeFacts {
    /// An extract, liquid, tablet, shot or gummy rather than plain leaf.
    pub extract: bool,
    /// Concentrated 7-OH: marketed as 7-OH or "enhanced", or its assay is over natural levels.
    pub concentrated_hydroxy: bool,
    pub pseudoindoxyl: bool,
    pub semi_synthetic: bool,
}

/// The scopes a kratom product falls under. Every kratom product holds mitragynine and
/// (at least trace) 7-OH, so rules on those, and on all kratom alkaloids, apply to all.
pub fn product_scopes(facts: ProductScopeFacts) -> Vec<SubstanceScope> {
    let mut scopes = vec![
        SubstanceScope::Mitragynine,
        SubstanceScope::Hydroxymitragynine,
        SubstanceScope::AllKratomAlkaloids,
    ];
    scopes.push(if facts.extract || facts.concentrated_hydroxy {
        SubstanceScope::KratomExtract
    } else {
        SubstanceScope::KratomLeaf
    });
    if facts.concentrated_hydroxy {
        scopes.push(SubstanceScope::HydroxymitragynineConcentrated);
    }
    if facts.pseudoindoxyl {
        scopes.push(SubstanceScope::MitragyninePseudoindoxyl);
    }
    if facts.semi_synthetic {
        scopes.push(SubstanceScope::SyntheticKratomAlkaloids);
    }
    scopes.sort();
    scopes
}

vocabulary! {
    DatePrecision {
        Day => "day",
        Month => "month",
        Year => "year",
    }
}

/// A date as precise as its source: `2016`, `2016-05` or `2016-05-26`. Never invents a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialDate {
    pub text: String,
    pub precision: DatePrecision,
    /// The first day of the period.
    pub first_day: Date,
}

impl PartialDate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let error = || format!("{text:?} is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD");
        let parts: Vec<&str> = text.split('-').collect();
        let number = |s: &str, len: usize| {
            (s.len() == len && s.chars().all(|c| c.is_ascii_digit()))
                .then(|| s.parse::<i16>().ok())
                .flatten()
        };
        let (year, month, day, precision) = match parts.as_slice() {
            [y] => (number(y, 4), Some(1), Some(1), DatePrecision::Year),
            [y, m] => (number(y, 4), number(m, 2), Some(1), DatePrecision::Month),
            [y, m, d] => (number(y, 4), number(m, 2), number(d, 2), DatePrecision::Day),
            _ => return Err(error()),
        };
        let (Some(year), Some(month), Some(day)) = (year, month, day) else {
            return Err(error());
        };
        let first_day = Date::new(
            year,
            i8::try_from(month).map_err(|_| error())?,
            i8::try_from(day).map_err(|_| error())?,
        )
        .map_err(|_| error())?;
        Ok(PartialDate {
            text: text.to_owned(),
            precision,
            first_day,
        })
    }

    /// The day after the period ends: a rule effective "2014" is certainly in force from 2015.
    pub fn after_last_day(&self) -> Date {
        let next = match self.precision {
            DatePrecision::Day => self.first_day.checked_add(1.day()),
            DatePrecision::Month => self.first_day.checked_add(1.month()),
            DatePrecision::Year => self.first_day.checked_add(1.year()),
        };
        next.unwrap_or(self.first_day)
    }
}

impl Serialize for PartialDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

// ----- the file as written -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    schema_version: u32,
    version: String,
    compiled: Date,
    notice: String,
    review_interval_days: i64,
    urgent_review_interval_days: i64,
    #[serde(default)]
    source: Vec<Source>,
    #[serde(default)]
    jurisdiction: Vec<RawJurisdiction>,
    #[serde(default)]
    instrument: Vec<RawInstrument>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJurisdiction {
    id: String,
    name: String,
    level: JurisdictionLevel,
    parent: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstrument {
    id: String,
    jurisdiction: String,
    #[serde(rename = "type")]
    kind: InstrumentType,
    citation: String,
    status: InstrumentStatus,
    adopted: Option<String>,
    effective_from: Option<String>,
    expires_on: Option<String>,
    sources: Vec<String>,
    summary: Option<String>,
    last_verified: Date,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    jurisdiction: String,
    substance_scope: SubstanceScope,
    status: LegalStatus,
    instrument: Option<String>,
    effective_from: Option<String>,
    effective_to: Option<String>,
    expires_on: Option<String>,
    #[serde(default)]
    conditions: Conditions,
    sources: Vec<SourceLink>,
    last_verified: Date,
    method: VerificationMethod,
    confidence: Confidence,
    next_review_due: Option<Date>,
    #[serde(default)]
    conflicts: Vec<Conflict>,
    notes: Option<String>,
}

// ----- the validated dataset -----

/// A cited document.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub id: String,
    pub url: String,
    pub title: String,
    pub grade: SourceGrade,
    /// As precise as the source states (`2025`, `2025-07`, `2025-07-29`); absent if undated.
    pub published: Option<String>,
    pub accessed: Date,
    #[serde(default = "english")]
    pub language: String,
}

fn english() -> String {
    "en".to_owned()
}

/// A source tied to the fields of a rule it supports or contradicts.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceLink {
    pub source: String,
    #[serde(default = "supports")]
    pub stance: Stance,
    #[serde(default)]
    pub fields: Vec<String>,
}

fn supports() -> Stance {
    Stance::Supports
}

/// Where sources disagree about a rule: kept and shown, never resolved silently.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Conflict {
    pub field: String,
    pub description: String,
    pub source: Option<String>,
}

/// Conditions a regulated status sets (legal-and-products.md §4.2).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sales_channel_limits: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_or_registration_required: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub testing_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labeling_requirements: Vec<String>,
    #[serde(rename = "max_7OH_fraction_of_alkaloids")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hydroxy_fraction_of_alkaloids: Option<f64>,
    #[serde(rename = "max_7OH_w_w")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hydroxy_w_w: Option<f64>,
    #[serde(rename = "max_7OH_mg_per_serving")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hydroxy_mg_per_serving: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_mitragynine_mg_per_unit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic_alkaloids_prohibited: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excise_tax_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub penalty_summary: Option<String>,
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// The conditions in plain words, for pages and the CLI.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(age) = self.min_age {
            out.push(format!("sale only to people aged {age} or over"));
        }
        if !self.excluded_groups.is_empty() {
            out.push(format!("not to {}", self.excluded_groups.join(", ")));
        }
        if !self.sales_channel_limits.is_empty() {
            out.push(self.sales_channel_limits.join(", ").replace('_', " "));
        }
        if let Some(licence) = &self.license_or_registration_required {
            out.push(format!("{} required", licence.replace('_', " ")));
        }
        if self.testing_required == Some(true) {
            out.push("lab testing required".into());
        }
        if !self.labeling_requirements.is_empty() {
            out.push(format!(
                "label must show {}",
                self.labeling_requirements.join(", ").replace('_', " ")
            ));
        }
        if let Some(f) = self.max_hydroxy_fraction_of_alkaloids {
            out.push(format!("7-OH at most {}% of alkaloids", f * 100.0));
        }
        if let Some(w) = self.max_hydroxy_w_w {
            out.push(format!("7-OH at most {}% by weight", w * 100.0));
        }
        if let Some(mg) = self.max_hydroxy_mg_per_serving {
            out.push(format!("7-OH at most {mg} mg per serving"));
        }
        if let Some(mg) = self.max_mitragynine_mg_per_unit {
            out.push(format!("mitragynine at most {mg} mg per unit"));
        }
        if self.synthetic_alkaloids_prohibited == Some(true) {
            out.push("synthetic alkaloids prohibited".into());
        }
        if let Some(tax) = self.excise_tax_pct {
            out.push(format!("{tax}% excise tax"));
        }
        if let Some(p) = &self.penalty_summary {
            out.push(format!("penalties: {p}"));
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Jurisdiction {
    pub id: String,
    pub name: String,
    pub level: JurisdictionLevel,
    pub parent: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Instrument {
    pub id: String,
    pub jurisdiction: String,
    pub kind: InstrumentType,
    pub citation: String,
    pub status: InstrumentStatus,
    pub adopted: Option<PartialDate>,
    pub effective_from: Option<PartialDate>,
    pub expires_on: Option<PartialDate>,
    pub sources: Vec<String>,
    pub summary: Option<String>,
    pub last_verified: Date,
}

impl Instrument {
    /// Bills not yet law: listed apart, never counted as a ban.
    pub fn is_pending(&self) -> bool {
        self.status == InstrumentStatus::Pending
    }

    fn counts(&self) -> bool {
        matches!(
            self.status,
            InstrumentStatus::InForce | InstrumentStatus::Enacted
        ) && self.kind != InstrumentType::BillPending
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LegalRule {
    pub id: String,
    pub jurisdiction: String,
    pub substance_scope: SubstanceScope,
    pub status: LegalStatus,
    pub instrument: Option<String>,
    pub effective_from: Option<PartialDate>,
    /// Exclusive: the first day the rule no longer applies.
    pub effective_to: Option<PartialDate>,
    pub expires_on: Option<PartialDate>,
    pub conditions: Conditions,
    pub sources: Vec<SourceLink>,
    pub last_verified: Date,
    pub method: VerificationMethod,
    pub confidence: Confidence,
    pub next_review_due: Date,
    pub conflicts: Vec<Conflict>,
    pub notes: Option<String>,
    pub origin: RuleOrigin,
}

impl LegalRule {
    /// A rule's identity beside its id: one row per jurisdiction × substance scope ×
    /// instrument (legal-and-products.md §4.2).
    fn key(&self) -> (String, SubstanceScope, Option<String>) {
        (
            self.jurisdiction.clone(),
            self.substance_scope,
            self.instrument.clone(),
        )
    }

    /// In force on `date`: started (an undated start counts as started), not ended, not
    /// expired. A period-precision start counts from the period's first day.
    fn applies_on(&self, date: Date) -> bool {
        self.effective_from
            .as_ref()
            .is_none_or(|from| from.first_day <= date)
            && self
                .effective_to
                .as_ref()
                .is_none_or(|to| date < to.first_day)
            && self
                .expires_on
                .as_ref()
                .is_none_or(|end| date < end.after_last_day())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LegalDataError {
    #[error("the legal dataset is not valid TOML for this version of Speciosa: {0}")]
    Parse(String),
    #[error(
        "the legal dataset is schema version {found}; this build reads version {SCHEMA_VERSION}"
    )]
    SchemaVersion { found: u32 },
    #[error("duplicate {kind} {id:?}")]
    Duplicate { kind: &'static str, id: String },
    #[error("{owner}: unknown {kind} {id:?}")]
    Unknown {
        owner: String,
        kind: &'static str,
        id: String,
    },
    #[error("{owner}: {problem}")]
    Invalid { owner: String, problem: String },
}

/// The validated legal dataset.
#[derive(Clone, Debug)]
pub struct LegalDataset {
    pub version: String,
    pub compiled: Date,
    pub notice: String,
    pub review_interval_days: i64,
    pub urgent_review_interval_days: i64,
    pub sources: BTreeMap<String, Source>,
    pub jurisdictions: BTreeMap<String, Jurisdiction>,
    pub instruments: BTreeMap<String, Instrument>,
    pub rules: Vec<LegalRule>,
}

/// Normalises a jurisdiction code: `us-al` → `US-AL`; `US-CA:city:san-diego` keeps its
/// locality part in lower case.
pub fn normalize_code(raw: &str) -> String {
    let raw = raw.trim();
    match raw.split_once(':') {
        Some((iso, rest)) => format!("{}:{}", iso.to_ascii_uppercase(), rest.to_lowercase()),
        None => raw.to_ascii_uppercase(),
    }
}

fn invalid(owner: &str, problem: impl Into<String>) -> LegalDataError {
    LegalDataError::Invalid {
        owner: owner.to_owned(),
        problem: problem.into(),
    }
}

fn partial(
    owner: &str,
    field: &str,
    text: Option<&String>,
) -> Result<Option<PartialDate>, LegalDataError> {
    text.map(|t| PartialDate::parse(t).map_err(|e| invalid(owner, format!("{field}: {e}"))))
        .transpose()
}

impl LegalDataset {
    pub fn bundled() -> Result<Self, LegalDataError> {
        Self::parse(BUNDLED)
    }

    /// Reads and validates a dataset: the schema, every referenced source, jurisdiction and
    /// instrument present, dates well formed and ordered, no duplicate ids or rules.
    pub fn parse(text: &str) -> Result<Self, LegalDataError> {
        let raw: RawDataset =
            toml::from_str(text).map_err(|e| LegalDataError::Parse(e.to_string()))?;
        if raw.schema_version != SCHEMA_VERSION {
            return Err(LegalDataError::SchemaVersion {
                found: raw.schema_version,
            });
        }
        if raw.review_interval_days <= 0 || raw.urgent_review_interval_days <= 0 {
            return Err(invalid("dataset", "review intervals must be positive"));
        }
        let mut sources = BTreeMap::new();
        for source in raw.source {
            let owner = format!("source {}", source.id);
            if !(source.url.starts_with("https://") || source.url.starts_with("http://")) {
                return Err(invalid(&owner, "url must be an http(s) address"));
            }
            if source.title.trim().is_empty() {
                return Err(invalid(&owner, "title is required"));
            }
            if let Some(published) = &source.published {
                PartialDate::parse(published).map_err(|e| invalid(&owner, e))?;
            }
            let id = source.id.clone();
            if sources.insert(id.clone(), source).is_some() {
                return Err(LegalDataError::Duplicate { kind: "source", id });
            }
        }
        let mut jurisdictions = BTreeMap::new();
        for j in raw.jurisdiction {
            let id = normalize_code(&j.id);
            if id != j.id {
                return Err(invalid(
                    &format!("jurisdiction {}", j.id),
                    format!("write the code as {id}"),
                ));
            }
            let jurisdiction = Jurisdiction {
                id: id.clone(),
                name: j.name,
                level: j.level,
                parent: j.parent,
            };
            if jurisdictions.insert(id.clone(), jurisdiction).is_some() {
                return Err(LegalDataError::Duplicate {
                    kind: "jurisdiction",
                    id,
                });
            }
        }
        for j in jurisdictions.values() {
            let mut seen = BTreeSet::from([j.id.as_str()]);
            let mut parent = j.parent.as_deref();
            while let Some(p) = parent {
                let Some(next) = jurisdictions.get(p) else {
                    return Err(LegalDataError::Unknown {
                        owner: format!("jurisdiction {}", j.id),
                        kind: "parent jurisdiction",
                        id: p.to_owned(),
                    });
                };
                if !seen.insert(p) {
                    return Err(invalid(
                        &format!("jurisdiction {}", j.id),
                        "parents form a cycle",
                    ));
                }
                parent = next.parent.as_deref();
            }
        }
        let known_source = |owner: &str, id: &str| {
            if sources.contains_key(id) {
                Ok(())
            } else {
                Err(LegalDataError::Unknown {
                    owner: owner.to_owned(),
                    kind: "source",
                    id: id.to_owned(),
                })
            }
        };
        let known_jurisdiction = |owner: &str, id: &str| {
            if jurisdictions.contains_key(id) {
                Ok(())
            } else {
                Err(LegalDataError::Unknown {
                    owner: owner.to_owned(),
                    kind: "jurisdiction",
                    id: id.to_owned(),
                })
            }
        };
        let mut instruments = BTreeMap::new();
        for i in raw.instrument {
            let owner = format!("instrument {}", i.id);
            known_jurisdiction(&owner, &i.jurisdiction)?;
            if i.sources.is_empty() {
                return Err(invalid(&owner, "at least one source is required"));
            }
            for s in &i.sources {
                known_source(&owner, s)?;
            }
            if i.citation.trim().is_empty() {
                return Err(invalid(&owner, "citation is required"));
            }
            if i.kind == InstrumentType::BillPending
                && matches!(
                    i.status,
                    InstrumentStatus::InForce | InstrumentStatus::Enacted
                )
            {
                return Err(invalid(
                    &owner,
                    "a bill_pending instrument cannot be in force; record the enacted law instead",
                ));
            }
            let instrument = Instrument {
                id: i.id.clone(),
                jurisdiction: i.jurisdiction,
                kind: i.kind,
                citation: i.citation,
                status: i.status,
                adopted: partial(&owner, "adopted", i.adopted.as_ref())?,
                effective_from: partial(&owner, "effective_from", i.effective_from.as_ref())?,
                expires_on: partial(&owner, "expires_on", i.expires_on.as_ref())?,
                sources: i.sources,
                summary: i.summary,
                last_verified: i.last_verified,
            };
            if instruments.insert(i.id.clone(), instrument).is_some() {
                return Err(LegalDataError::Duplicate {
                    kind: "instrument",
                    id: i.id,
                });
            }
        }
        let mut dataset = LegalDataset {
            version: raw.version,
            compiled: raw.compiled,
            notice: raw.notice,
            review_interval_days: raw.review_interval_days,
            urgent_review_interval_days: raw.urgent_review_interval_days,
            sources,
            jurisdictions,
            instruments,
            rules: Vec::new(),
        };
        let mut ids = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for r in raw.rule {
            if !ids.insert(r.id.clone()) {
                return Err(LegalDataError::Duplicate {
                    kind: "rule",
                    id: r.id,
                });
            }
            let rule = dataset.build_rule(r, RuleOrigin::Shipped)?;
            // One row per jurisdiction × substance scope × instrument (§4.2).
            if !keys.insert(rule.key()) {
                return Err(LegalDataError::Duplicate {
                    kind: "rule for this jurisdiction, scope and instrument",
                    id: rule.id,
                });
            }
            dataset.rules.push(rule);
        }
        Ok(dataset)
    }

    /// Validates one rule against the dataset's sources, jurisdictions and instruments:
    /// references resolve, dates parse and are ordered, the review date is set.
    fn build_rule(&self, r: RawRule, origin: RuleOrigin) -> Result<LegalRule, LegalDataError> {
        let owner = format!("rule {}", r.id);
        if !self.jurisdictions.contains_key(&r.jurisdiction) {
            return Err(LegalDataError::Unknown {
                owner,
                kind: "jurisdiction",
                id: r.jurisdiction,
            });
        }
        let known_source = |id: &str| {
            if self.sources.contains_key(id) {
                Ok(())
            } else {
                Err(LegalDataError::Unknown {
                    owner: owner.clone(),
                    kind: "source",
                    id: id.to_owned(),
                })
            }
        };
        if let Some(instrument) = &r.instrument {
            let Some(found) = self.instruments.get(instrument) else {
                return Err(LegalDataError::Unknown {
                    owner,
                    kind: "instrument",
                    id: instrument.clone(),
                });
            };
            if found.jurisdiction != r.jurisdiction {
                return Err(invalid(
                    &owner,
                    format!("its instrument belongs to {}", found.jurisdiction),
                ));
            }
        }
        if r.sources.is_empty() {
            return Err(invalid(&owner, "at least one source is required"));
        }
        for link in &r.sources {
            known_source(&link.source)?;
        }
        for conflict in &r.conflicts {
            if let Some(s) = &conflict.source {
                known_source(s)?;
            }
        }
        let effective_from = partial(&owner, "effective_from", r.effective_from.as_ref())?;
        let effective_to = partial(&owner, "effective_to", r.effective_to.as_ref())?;
        let expires_on = partial(&owner, "expires_on", r.expires_on.as_ref())?;
        if let (Some(from), Some(to)) = (&effective_from, &effective_to)
            && from.first_day >= to.first_day
        {
            return Err(invalid(&owner, "effective_to must be after effective_from"));
        }
        if origin == RuleOrigin::Shipped
            && r.last_verified > self.compiled.checked_add(1.year()).unwrap_or(self.compiled)
        {
            return Err(invalid(
                &owner,
                "last_verified is implausibly far after compiled",
            ));
        }
        let urgent = expires_on.is_some()
            || r.instrument
                .as_ref()
                .and_then(|i| self.instruments.get(i))
                .is_some_and(|i| i.kind == InstrumentType::EmergencyRule || i.is_pending());
        let interval = if urgent {
            self.urgent_review_interval_days
        } else {
            self.review_interval_days
        };
        let next_review_due = r.next_review_due.unwrap_or_else(|| {
            r.last_verified
                .checked_add(interval.days())
                .unwrap_or(r.last_verified)
        });
        if next_review_due < r.last_verified {
            return Err(invalid(&owner, "next_review_due is before last_verified"));
        }
        Ok(LegalRule {
            id: r.id,
            jurisdiction: r.jurisdiction,
            substance_scope: r.substance_scope,
            status: r.status,
            instrument: r.instrument,
            effective_from,
            effective_to,
            expires_on,
            conditions: r.conditions,
            sources: r.sources,
            last_verified: r.last_verified,
            method: r.method,
            confidence: r.confidence,
            next_review_due,
            conflicts: r.conflicts,
            notes: r.notes,
            origin,
        })
    }

    pub fn jurisdiction(&self, code: &str) -> Option<&Jurisdiction> {
        self.jurisdictions.get(&normalize_code(code))
    }

    /// The jurisdiction and its parents, nearest first (a city, its state, its country).
    pub fn chain(&self, code: &str) -> Option<Vec<&Jurisdiction>> {
        let mut chain = vec![self.jurisdiction(code)?];
        while let Some(parent) = chain
            .last()
            .and_then(|j| j.parent.as_deref())
            .and_then(|p| self.jurisdictions.get(p))
        {
            chain.push(parent);
        }
        Some(chain)
    }

    /// The best known jurisdiction for a patient's ISO code: the subdivision when the
    /// dataset has it, else its country.
    pub fn resolve_patient(&self, code: &str) -> Option<&Jurisdiction> {
        self.jurisdiction(code).or_else(|| {
            let country = normalize_code(code);
            let country = country.split(['-', ':']).next().unwrap_or_default();
            self.jurisdiction(country)
        })
    }

    /// What applies in `code` on `date`: the rules in force there and in every enclosing
    /// jurisdiction (US-TN includes US federal rules; a city includes its state), the
    /// pending bills listed apart, and the conflicts between sources. `None` when the
    /// jurisdiction is unknown.
    pub fn rules_in_force(&self, code: &str, date: Date) -> Option<LegalAnswer> {
        let chain = self.chain(code)?;
        let ids: Vec<&str> = chain.iter().map(|j| j.id.as_str()).collect();
        let mut rules = Vec::new();
        let mut expiring = Vec::new();
        for rule in self
            .rules
            .iter()
            .filter(|r| ids.contains(&r.jurisdiction.as_str()))
        {
            let instrument = rule
                .instrument
                .as_ref()
                .and_then(|i| self.instruments.get(i));
            if instrument.is_some_and(|i| !i.counts()) || !rule.applies_on(date) {
                continue;
            }
            let view = self.view(rule, date);
            if rule.expires_on.as_ref().is_some_and(|end| {
                end.first_day <= date.checked_add(UPCOMING_DAYS.days()).unwrap_or(date)
            }) {
                expiring.push(view.id.clone());
            }
            rules.push(view);
        }
        rules.sort_by(|a, b| {
            depth(&ids, &a.jurisdiction)
                .cmp(&depth(&ids, &b.jurisdiction))
                .then(a.substance_scope.cmp(&b.substance_scope))
                .then(b.status.cmp(&a.status))
        });
        let pending_bills = self
            .instruments
            .values()
            .filter(|i| ids.contains(&i.jurisdiction.as_str()) && i.is_pending())
            .map(|i| PendingBill {
                id: i.id.clone(),
                jurisdiction: i.jurisdiction.clone(),
                citation: i.citation.clone(),
                summary: i.summary.clone(),
                proposed: self
                    .rules
                    .iter()
                    .filter(|r| r.instrument.as_deref() == Some(i.id.as_str()))
                    .map(|r| ProposedRule {
                        substance_scope: r.substance_scope,
                        status: r.status,
                    })
                    .collect(),
                sources: i
                    .sources
                    .iter()
                    .filter_map(|s| self.sources.get(s))
                    .cloned()
                    .collect(),
                last_verified: i.last_verified,
            })
            .collect();
        let conflicts = rules
            .iter()
            .flat_map(|r| {
                r.conflicts.iter().map(move |c| ConflictView {
                    rule_id: r.id.clone(),
                    field: c.field.clone(),
                    description: c.description.clone(),
                    source: c.source.clone(),
                })
            })
            .collect();
        let jurisdiction = chain[0];
        Some(LegalAnswer {
            jurisdiction: jurisdiction.id.clone(),
            name: jurisdiction.name.clone(),
            date,
            chain: ids.iter().map(|s| (*s).to_owned()).collect(),
            rules,
            pending_bills,
            conflicts,
            expiring_soon: expiring,
            dataset_version: self.version.clone(),
            notice: self.notice.clone(),
        })
    }

    fn view(&self, rule: &LegalRule, date: Date) -> RuleView {
        let instrument = rule
            .instrument
            .as_ref()
            .and_then(|i| self.instruments.get(i));
        let sources: Vec<SourceView> = rule
            .sources
            .iter()
            .filter_map(|link| {
                self.sources.get(&link.source).map(|s| SourceView {
                    id: s.id.clone(),
                    url: s.url.clone(),
                    title: s.title.clone(),
                    grade: s.grade,
                    published: s.published.clone(),
                    stance: link.stance,
                })
            })
            .collect();
        let vendor_only = sources
            .iter()
            .filter(|s| s.stance != Stance::Contradicts)
            .all(|s| {
                matches!(
                    s.grade,
                    SourceGrade::Vendor | SourceGrade::IndustryOrAdvocacy
                )
            });
        RuleView {
            id: rule.id.clone(),
            jurisdiction: rule.jurisdiction.clone(),
            substance_scope: rule.substance_scope,
            status: rule.status,
            effective_from: rule.effective_from.clone(),
            effective_from_precision: rule.effective_from.as_ref().map(|d| d.precision),
            effective_to: rule.effective_to.clone(),
            expires_on: rule.expires_on.clone(),
            instrument: instrument.map(|i| i.citation.clone()),
            instrument_type: instrument.map(|i| i.kind),
            conditions: rule.conditions.clone(),
            conditions_text: rule.conditions.describe(),
            sources,
            unverified: vendor_only,
            last_verified: rule.last_verified,
            next_review_due: rule.next_review_due,
            stale: rule.next_review_due < date,
            confidence: rule.confidence,
            method: rule.method,
            conflicts: rule.conflicts.clone(),
            notes: rule.notes.clone(),
            origin: rule.origin,
        }
    }
}

fn depth(chain: &[&str], jurisdiction: &str) -> usize {
    // Widest first: the country, then the state, then the locality.
    chain.len() - chain.iter().position(|j| *j == jurisdiction).unwrap_or(0)
}

/// A rule as shown: everything a clinician needs to judge it, with its sources.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RuleView {
    pub id: String,
    pub jurisdiction: String,
    pub substance_scope: SubstanceScope,
    pub status: LegalStatus,
    pub effective_from: Option<PartialDate>,
    pub effective_from_precision: Option<DatePrecision>,
    pub effective_to: Option<PartialDate>,
    pub expires_on: Option<PartialDate>,
    pub instrument: Option<String>,
    pub instrument_type: Option<InstrumentType>,
    pub conditions: Conditions,
    pub conditions_text: Vec<String>,
    pub sources: Vec<SourceView>,
    /// Only vendor or advocacy pages support it (shown as "unverified").
    pub unverified: bool,
    pub last_verified: Date,
    pub next_review_due: Date,
    /// Past its review date on the date asked about.
    pub stale: bool,
    pub confidence: Confidence,
    pub method: VerificationMethod,
    pub conflicts: Vec<Conflict>,
    pub notes: Option<String>,
    /// `shipped`, or an organization's own row (`clinic`, `clinic_override`).
    pub origin: RuleOrigin,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SourceView {
    pub id: String,
    pub url: String,
    pub title: String,
    pub grade: SourceGrade,
    pub published: Option<String>,
    pub stance: Stance,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProposedRule {
    pub substance_scope: SubstanceScope,
    pub status: LegalStatus,
}

/// A bill not yet law: shown apart and never counted.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PendingBill {
    pub id: String,
    pub jurisdiction: String,
    pub citation: String,
    pub summary: Option<String>,
    pub proposed: Vec<ProposedRule>,
    pub sources: Vec<Source>,
    pub last_verified: Date,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConflictView {
    pub rule_id: String,
    pub field: String,
    pub description: String,
    pub source: Option<String>,
}

/// What applies in a jurisdiction on a date.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LegalAnswer {
    pub jurisdiction: String,
    pub name: String,
    pub date: Date,
    /// The jurisdiction and its parents, nearest first.
    pub chain: Vec<String>,
    pub rules: Vec<RuleView>,
    pub pending_bills: Vec<PendingBill>,
    pub conflicts: Vec<ConflictView>,
    /// Ids of rules in force that expire within [`UPCOMING_DAYS`].
    pub expiring_soon: Vec<String>,
    pub dataset_version: String,
    pub notice: String,
}

impl LegalAnswer {
    /// The rules in force that restrict any of `scopes` (banned, supply banned, prescription only).
    pub fn restricting<'a>(
        &'a self,
        scopes: &'a [SubstanceScope],
    ) -> impl Iterator<Item = &'a RuleView> {
        self.rules
            .iter()
            .filter(move |r| r.status.restricts_use() && scopes.contains(&r.substance_scope))
    }

    /// The most restrictive status per scope (legal-and-products.md §4.2, "the most
    /// restrictive rule per substance scope wins").
    pub fn strictest(&self) -> BTreeMap<SubstanceScope, LegalStatus> {
        let mut out: BTreeMap<SubstanceScope, LegalStatus> = BTreeMap::new();
        for rule in &self.rules {
            let entry = out.entry(rule.substance_scope).or_insert(rule.status);
            *entry = (*entry).max(rule.status);
        }
        out
    }

    /// Readable lines saying what applies and why (the CLI's `legal check`).
    pub fn explain(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} ({}) on {}: checked {}",
            self.name,
            self.jurisdiction,
            self.date,
            self.chain.join(" → ")
        )];
        if self.rules.is_empty() {
            lines.push("No rule is in force here on this date.".into());
        }
        for rule in &self.rules {
            lines.push(format!(
                "- {} in {}: {} since {}{}{}",
                rule.substance_scope.label(),
                rule.jurisdiction,
                rule.status.label(),
                rule.effective_from
                    .as_ref()
                    .map_or("an unknown date".to_owned(), |d| d.text.clone()),
                rule.instrument
                    .as_ref()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default(),
                if rule.stale {
                    " [stale: past review]"
                } else {
                    ""
                },
            ));
            if !rule.conditions_text.is_empty() {
                lines.push(format!(
                    "    conditions: {}",
                    rule.conditions_text.join("; ")
                ));
            }
            for s in &rule.sources {
                lines.push(format!("    source ({}, {}): {}", s.grade, s.stance, s.url));
            }
            lines.push(format!(
                "    last verified {} ({} confidence{})",
                rule.last_verified,
                rule.confidence,
                if rule.unverified {
                    "; vendor sources only"
                } else {
                    ""
                }
            ));
        }
        for c in &self.conflicts {
            lines.push(format!(
                "Conflict on {} ({}): {}",
                c.rule_id, c.field, c.description
            ));
        }
        for bill in &self.pending_bills {
            lines.push(format!(
                "Pending, not law (never counted): {} in {}",
                bill.citation, bill.jurisdiction
            ));
        }
        lines.push(self.notice.clone());
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn bundled() -> LegalDataset {
        LegalDataset::bundled().expect("the bundled legal dataset is valid")
    }

    fn statuses(answer: &LegalAnswer) -> Vec<(String, LegalStatus)> {
        answer
            .rules
            .iter()
            .map(|r| (r.jurisdiction.clone(), r.status))
            .collect()
    }

    #[test]
    fn the_bundled_dataset_loads_with_sources_for_every_rule() {
        let data = bundled();
        assert!(data.rules.len() > 60);
        assert!(data.rules.iter().all(|r| !r.sources.is_empty()));
        assert!(data.jurisdiction("us-tn").is_some());
        assert_eq!(data.compiled, date(2026, 11, 24));
    }

    #[test]
    fn a_state_includes_the_federal_rules_and_a_city_its_state() {
        let data = bundled();
        let tn = data.rules_in_force("US-TN", date(2026, 1, 15)).unwrap();
        assert_eq!(tn.chain, ["US-TN", "US"]);
        let jurisdictions: Vec<_> = statuses(&tn).into_iter().map(|(j, _)| j).collect();
        assert!(jurisdictions.contains(&"US".to_owned()));
        assert!(jurisdictions.contains(&"US-TN".to_owned()));
        let sd = data
            .rules_in_force("US-CA:city:san-diego", date(2026, 1, 15))
            .unwrap();
        assert_eq!(sd.chain, ["US-CA:city:san-diego", "US-CA", "US"]);
        assert!(
            sd.rules
                .iter()
                .any(|r| r.jurisdiction == "US-CA:city:san-diego"
                    && r.status == LegalStatus::ControlledBanned)
        );
        // The state does not inherit its city's ban.
        let ca = data.rules_in_force("US-CA", date(2026, 1, 15)).unwrap();
        assert!(
            ca.rules
                .iter()
                .all(|r| r.status != LegalStatus::ControlledBanned)
        );
    }

    #[test]
    fn louisianas_ban_starts_on_its_effective_day_and_not_the_day_before() {
        let data = bundled();
        let banned = |d| {
            data.rules_in_force("US-LA", d)
                .unwrap()
                .rules
                .iter()
                .any(|r| r.jurisdiction == "US-LA" && r.status == LegalStatus::ControlledBanned)
        };
        assert!(!banned(date(2025, 7, 31)));
        assert!(banned(date(2025, 8, 1)));
    }

    #[test]
    fn rhode_island_changes_from_a_ban_to_regulation_on_april_first_2026() {
        let data = bundled();
        let ri = |d| statuses(&data.rules_in_force("US-RI", d).unwrap());
        assert!(ri(date(2026, 3, 31)).contains(&("US-RI".into(), LegalStatus::ControlledBanned)));
        assert!(!ri(date(2026, 3, 31)).contains(&("US-RI".into(), LegalStatus::Regulated)));
        assert!(ri(date(2026, 4, 1)).contains(&("US-RI".into(), LegalStatus::Regulated)));
        assert!(!ri(date(2026, 4, 1)).contains(&("US-RI".into(), LegalStatus::ControlledBanned)));
    }

    #[test]
    fn an_emergency_rule_stops_counting_after_it_expires_and_is_listed_while_it_nears_expiry() {
        let data = bundled();
        let ohio = |d| data.rules_in_force("US-OH", d).unwrap();
        let before = ohio(date(2026, 6, 1));
        assert!(before.rules.iter().any(|r| r.id == "US-OH.7oh"));
        assert_eq!(before.expiring_soon, ["US-OH.7oh"]);
        assert!(
            ohio(date(2026, 6, 10))
                .rules
                .iter()
                .any(|r| r.id == "US-OH.7oh")
        );
        assert!(
            !ohio(date(2026, 6, 11))
                .rules
                .iter()
                .any(|r| r.id == "US-OH.7oh")
        );
    }

    #[test]
    fn pending_bills_are_listed_apart_and_never_count_as_bans() {
        let data = bundled();
        let iowa = data.rules_in_force("US-IA", date(2026, 11, 24)).unwrap();
        assert!(
            iowa.rules
                .iter()
                .all(|r| r.status != LegalStatus::ControlledBanned)
        );
        assert_eq!(
            iowa.pending_bills.len(),
            2,
            "Iowa's bill and the federal 7-OH proposal"
        );
        assert!(
            iowa.pending_bills
                .iter()
                .any(|b| b.id == "ia-hf-2133"
                    && b.proposed[0].status == LegalStatus::ControlledBanned)
        );
        // A bill that died is neither in force nor pending.
        let texas = data.rules_in_force("US-TX", date(2026, 11, 24)).unwrap();
        assert!(
            texas
                .pending_bills
                .iter()
                .all(|b| b.id != "tx-sb-1868-2025")
        );
    }

    #[test]
    fn conflicts_between_sources_are_kept_and_shown() {
        let data = bundled();
        let vt = data.rules_in_force("US-VT", date(2026, 11, 24)).unwrap();
        assert_eq!(vt.conflicts.len(), 2);
        assert_eq!(vt.conflicts[0].rule_id, "US-VT.all");
        let tn = data.rules_in_force("US-TN", date(2026, 11, 24)).unwrap();
        assert!(
            tn.rules
                .iter()
                .find(|r| r.id == "US-TN.all")
                .unwrap()
                .unverified
        );
        assert!(
            !vt.rules
                .iter()
                .find(|r| r.id == "US-VT.all")
                .unwrap()
                .unverified
        );
    }

    #[test]
    fn a_rule_is_stale_after_its_review_date() {
        let data = bundled();
        let al = |d| data.rules_in_force("US-AL", d).unwrap().rules;
        let rule = |d| al(d).into_iter().find(|r| r.id == "US-AL.all").unwrap();
        assert_eq!(rule(date(2026, 12, 1)).next_review_due, date(2027, 2, 22));
        assert!(!rule(date(2027, 2, 22)).stale);
        assert!(rule(date(2027, 2, 23)).stale);
    }

    #[test]
    fn an_unknown_jurisdiction_has_no_answer_but_a_patients_subdivision_falls_back_to_its_country()
    {
        let data = bundled();
        assert!(data.rules_in_force("ZZ", date(2026, 1, 1)).is_none());
        assert!(data.rules_in_force("US-ZZ", date(2026, 1, 1)).is_none());
        assert_eq!(data.resolve_patient("GB-ENG").unwrap().id, "GB");
        assert_eq!(data.resolve_patient("us-tn").unwrap().id, "US-TN");
    }

    #[test]
    fn partial_dates_keep_their_precision() {
        let year = PartialDate::parse("2014").unwrap();
        assert_eq!(year.precision, DatePrecision::Year);
        assert_eq!(year.first_day, date(2014, 1, 1));
        assert_eq!(year.after_last_day(), date(2015, 1, 1));
        assert_eq!(
            PartialDate::parse("2016-05").unwrap().first_day,
            date(2016, 5, 1)
        );
        for bad in ["2016-13", "16", "2016-05-32", "2016/05/01", ""] {
            assert!(PartialDate::parse(bad).is_err(), "{bad}");
        }
    }

    const MINIMAL: &str = r#"
schema_version = 1
version = "t"
compiled = "2026-11-24"
notice = "n"
review_interval_days = 90
urgent_review_interval_days = 30
[[source]]
id = "s"
url = "https://example.org"
title = "t"
grade = "news"
accessed = "2026-11-24"
[[jurisdiction]]
id = "XX"
name = "X"
level = "country"
[[rule]]
id = "r"
jurisdiction = "XX"
substance_scope = "kratom_leaf"
status = "regulated"
effective_from = "2020-01-01"
sources = [{ source = "s" }]
last_verified = "2026-11-24"
method = "secondary_only"
confidence = "low"
"#;

    #[test]
    fn a_minimal_dataset_parses_and_broken_ones_name_the_problem() {
        assert!(LegalDataset::parse(MINIMAL).is_ok());
        let unknown_source = MINIMAL.replace("{ source = \"s\" }", "{ source = \"missing\" }");
        assert!(matches!(
            LegalDataset::parse(&unknown_source),
            Err(LegalDataError::Unknown { kind: "source", .. })
        ));
        let no_sources = MINIMAL.replace("sources = [{ source = \"s\" }]", "sources = []");
        assert!(matches!(
            LegalDataset::parse(&no_sources),
            Err(LegalDataError::Invalid { .. })
        ));
        let bad_date = MINIMAL.replace("\"2020-01-01\"", "\"2020-02-30\"");
        assert!(matches!(
            LegalDataset::parse(&bad_date),
            Err(LegalDataError::Invalid { .. })
        ));
        let bad_status = MINIMAL.replace("status = \"regulated\"", "status = \"banned\"");
        assert!(matches!(
            LegalDataset::parse(&bad_status),
            Err(LegalDataError::Parse(_))
        ));
        let duplicate_rule = format!(
            "{MINIMAL}\n[[rule]]\nid = \"r\"\njurisdiction = \"XX\"\nsubstance_scope = \"7_OH\"\nstatus = \"regulated\"\nsources = [{{ source = \"s\" }}]\nlast_verified = \"2026-11-24\"\nmethod = \"secondary_only\"\nconfidence = \"low\"\n"
        );
        assert!(matches!(
            LegalDataset::parse(&duplicate_rule),
            Err(LegalDataError::Duplicate { kind: "rule", .. })
        ));
        let duplicate_key = duplicate_rule.replace(
            "id = \"r\"\njurisdiction = \"XX\"\nsubstance_scope = \"7_OH\"",
            "id = \"r2\"\njurisdiction = \"XX\"\nsubstance_scope = \"kratom_leaf\"",
        );
        assert!(matches!(
            LegalDataset::parse(&duplicate_key),
            Err(LegalDataError::Duplicate { .. })
        ));
        let ordered = MINIMAL.replace(
            "effective_from = \"2020-01-01\"",
            "effective_from = \"2020-01-01\"\neffective_to = \"2019\"",
        );
        assert!(LegalDataset::parse(&ordered).is_err());
        let cycle = MINIMAL.replace(
            "level = \"country\"",
            "level = \"country\"\nparent = \"XX\"",
        );
        assert!(LegalDataset::parse(&cycle).is_err());
        assert!(matches!(
            LegalDataset::parse(&MINIMAL.replace("schema_version = 1", "schema_version = 2")),
            Err(LegalDataError::SchemaVersion { found: 2 })
        ));
    }

    #[test]
    fn product_scopes_name_what_a_product_holds() {
        let leaf = product_scopes(ProductScopeFacts::default());
        assert!(leaf.contains(&SubstanceScope::KratomLeaf));
        assert!(!leaf.contains(&SubstanceScope::HydroxymitragynineConcentrated));
        let tablet = product_scopes(ProductScopeFacts {
            concentrated_hydroxy: true,
            ..Default::default()
        });
        assert!(tablet.contains(&SubstanceScope::HydroxymitragynineConcentrated));
        assert!(tablet.contains(&SubstanceScope::KratomExtract));
    }

    #[test]
    fn the_explanation_says_what_applies_and_why() {
        let data = bundled();
        let text = data
            .rules_in_force("US-TN", date(2026, 1, 15))
            .unwrap()
            .explain()
            .join("\n");
        assert!(text.contains("US-TN → US"), "{text}");
        assert!(text.contains("regulated"), "{text}");
        assert!(text.contains("aged 21"), "{text}");
        assert!(text.contains("Pending, not law"), "{text}");
    }
}
