//! Medicines by name and their interactions with kratom: the drug lexicon
//! (`data/medicines/lexicon.toml`) resolves what people type to an ingredient and class,
//! and the interaction table (`data/medicines/interactions.toml`) says how each
//! ingredient or class interacts with kratom, citing shared/reference/pharmacology.md §4–§5.
//! A clinic's own rows ([`MedicineKnowledge::with_overrides`]) add to or replace shipped
//! ones by key, without changing the shipped files.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::medication::MedicationClass;

/// The shipped lexicon.
pub const BUNDLED_LEXICON: &str = include_str!("../../../data/medicines/lexicon.toml");
/// The shipped interaction table.
pub const BUNDLED_INTERACTIONS: &str = include_str!("../../../data/medicines/interactions.toml");

/// How a medicine interacts with kratom (the words the alerts' evidence uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    CnsDepression,
    Cyp3aInhibition,
    Cyp2d6Inhibition,
    Serotonergic,
    QtProlongation,
    SeizureThreshold,
    PrecipitatedWithdrawal,
    Potentiator,
}

impl Mechanism {
    pub const ALL: [Mechanism; 8] = [
        Mechanism::CnsDepression,
        Mechanism::Cyp3aInhibition,
        Mechanism::Cyp2d6Inhibition,
        Mechanism::Serotonergic,
        Mechanism::QtProlongation,
        Mechanism::SeizureThreshold,
        Mechanism::PrecipitatedWithdrawal,
        Mechanism::Potentiator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::CnsDepression => "cns_depression",
            Mechanism::Cyp3aInhibition => "cyp3a_inhibition",
            Mechanism::Cyp2d6Inhibition => "cyp2d6_inhibition",
            Mechanism::Serotonergic => "serotonergic",
            Mechanism::QtProlongation => "qt_prolongation",
            Mechanism::SeizureThreshold => "seizure_threshold",
            Mechanism::PrecipitatedWithdrawal => "precipitated_withdrawal",
            Mechanism::Potentiator => "potentiator",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mechanism::CnsDepression => "Additive CNS and respiratory depression",
            Mechanism::Cyp3aInhibition => "CYP3A inhibition (raised exposure)",
            Mechanism::Cyp2d6Inhibition => "CYP2D6 inhibition (in vitro)",
            Mechanism::Serotonergic => "Serotonergic",
            Mechanism::QtProlongation => "QT prolongation",
            Mechanism::SeizureThreshold => "Lowered seizure threshold",
            Mechanism::PrecipitatedWithdrawal => "Precipitated withdrawal",
            Mechanism::Potentiator => "Taken to \"potentiate\" kratom",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text.trim())
    }
}

/// How serious an interaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionSeverity {
    Major,
    Moderate,
    Minor,
}

impl InteractionSeverity {
    pub const ALL: [InteractionSeverity; 3] = [Self::Major, Self::Moderate, Self::Minor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Major => "major",
            Self::Moderate => "moderate",
            Self::Minor => "minor",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }
}

/// What an interaction row rests on, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceGrade {
    ClinicalStudy,
    Surveillance,
    CaseReports,
    InVitro,
    Mechanistic,
    Anecdotal,
}

impl EvidenceGrade {
    pub const ALL: [EvidenceGrade; 6] = [
        Self::ClinicalStudy,
        Self::Surveillance,
        Self::CaseReports,
        Self::InVitro,
        Self::Mechanistic,
        Self::Anecdotal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClinicalStudy => "clinical_study",
            Self::Surveillance => "surveillance",
            Self::CaseReports => "case_reports",
            Self::InVitro => "in_vitro",
            Self::Mechanistic => "mechanistic",
            Self::Anecdotal => "anecdotal",
        }
    }

    /// In plain words, for clinicians.
    pub fn label(self) -> &'static str {
        match self {
            Self::ClinicalStudy => "clinical study",
            Self::Surveillance => "death and poison-centre surveillance",
            Self::CaseReports => "case reports",
            Self::InVitro => "laboratory (in vitro) data only",
            Self::Mechanistic => "inferred from pharmacology",
            Self::Anecdotal => "anecdotal (community reports)",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }
}

/// One entry of the lexicon: an ingredient, its class, and the names people use for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexiconEntry {
    pub ingredient: String,
    pub class: MedicationClass,
    /// A medicine for opioid use disorder: never advised to be tapered because of kratom.
    #[serde(default)]
    pub oud_medicine: bool,
    #[serde(default)]
    pub brands: Vec<String>,
    #[serde(default)]
    pub misspellings: Vec<String>,
}

/// One row of the interaction table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionRow {
    /// Unique key, e.g. `quetiapine-cyp3a`.
    pub id: String,
    /// The ingredient the row is about, or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drug: Option<String>,
    /// the class it is about (exactly one of the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<MedicationClass>,
    pub mechanism: Mechanism,
    pub severity: InteractionSeverity,
    pub evidence: EvidenceGrade,
    /// What happens, in a sentence.
    pub effect: String,
    /// What the clinician should consider.
    pub consider: String,
    /// Where it comes from (a section of shared/reference).
    pub source: String,
}

impl InteractionRow {
    /// The row as an alert's evidence lists it.
    pub fn evidence_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "mechanism": self.mechanism.as_str(),
            "drug": self.drug,
            "class": self.class.map(MedicationClass::as_str),
            "severity": self.severity.as_str(),
            "evidence": self.evidence.as_str(),
            "effect": self.effect,
            "consider": self.consider,
            "source": self.source,
        })
    }

    /// What the row is about: the ingredient or the class code.
    pub fn subject(&self) -> &str {
        match (&self.drug, self.class) {
            (Some(drug), _) => drug,
            (None, Some(class)) => class.as_str(),
            (None, None) => "",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    version: String,
    date: String,
    source: String,
    medicine: Vec<LexiconEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractionFile {
    version: String,
    date: String,
    row: Vec<InteractionRow>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MedicinesError {
    #[error("{file}: {message}")]
    Syntax { file: &'static str, message: String },
    #[error("{file}: {message}")]
    Invalid { file: &'static str, message: String },
}

fn invalid(file: &'static str, message: impl Into<String>) -> MedicinesError {
    MedicinesError::Invalid {
        file,
        message: message.into(),
    }
}

const LEXICON_FILE: &str = "lexicon.toml";
const INTERACTIONS_FILE: &str = "interactions.toml";

/// How a typed name was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    Generic,
    Brand,
    Misspelling,
    /// One or two letters from a known name: shown for confirmation.
    CloseSpelling,
}

/// A typed name resolved to a lexicon entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recognised {
    pub ingredient: String,
    pub class: MedicationClass,
    pub oud_medicine: bool,
    /// The known name that matched, as the lexicon spells it.
    pub matched: String,
    pub how: MatchKind,
}

/// What the resolver makes of a typed name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The strength as typed (`0.5 mg`, `8/2mg`), kept as text.
    pub strength: Option<String>,
    /// `None`: not in the lexicon (kept as typed, not checked against interactions).
    pub recognised: Option<Recognised>,
}

/// The lexicon and the interaction table, checked against each other.
#[derive(Clone, Debug)]
pub struct MedicineKnowledge {
    pub lexicon_version: String,
    pub lexicon_date: Date,
    pub lexicon_source: String,
    pub interactions_version: String,
    pub interactions_date: Date,
    entries: Vec<LexiconEntry>,
    rows: Vec<InteractionRow>,
    /// Normalised name → (entry index, how).
    names: HashMap<String, (usize, MatchKind)>,
}

impl MedicineKnowledge {
    /// The shipped files.
    pub fn bundled() -> Result<Self, MedicinesError> {
        Self::parse(BUNDLED_LEXICON, BUNDLED_INTERACTIONS)
    }

    /// Parses and checks both files: versions and dates present, every row cited, no
    /// duplicate ingredient, name or row id, every row's drug in the lexicon, and every
    /// CNS-depressant class covered by a `cns_depression` row.
    pub fn parse(lexicon: &str, interactions: &str) -> Result<Self, MedicinesError> {
        let lexicon: LexiconFile = toml::from_str(lexicon).map_err(|e| MedicinesError::Syntax {
            file: LEXICON_FILE,
            message: e.to_string(),
        })?;
        let table: InteractionFile =
            toml::from_str(interactions).map_err(|e| MedicinesError::Syntax {
                file: INTERACTIONS_FILE,
                message: e.to_string(),
            })?;
        let lexicon_date = parse_date(LEXICON_FILE, &lexicon.date)?;
        let interactions_date = parse_date(INTERACTIONS_FILE, &table.date)?;
        for (file, version) in [
            (LEXICON_FILE, &lexicon.version),
            (INTERACTIONS_FILE, &table.version),
        ] {
            if version.trim().is_empty() {
                return Err(invalid(file, "version is empty"));
            }
        }
        if lexicon.source.trim().is_empty() {
            return Err(invalid(LEXICON_FILE, "source is empty"));
        }
        let knowledge = Self::build(
            lexicon.version,
            lexicon_date,
            lexicon.source,
            table.version,
            interactions_date,
            lexicon.medicine,
            table.row,
            true,
        )?;
        for class in MedicationClass::ALL
            .into_iter()
            .filter(|c| c.is_cns_depressant())
        {
            let covered = knowledge
                .rows
                .iter()
                .any(|r| r.class == Some(class) && r.mechanism == Mechanism::CnsDepression);
            if !covered {
                return Err(invalid(
                    INTERACTIONS_FILE,
                    format!(
                        "class {} is a CNS depressant but has no cns_depression row",
                        class.as_str()
                    ),
                ));
            }
        }
        Ok(knowledge)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        lexicon_version: String,
        lexicon_date: Date,
        lexicon_source: String,
        interactions_version: String,
        interactions_date: Date,
        entries: Vec<LexiconEntry>,
        rows: Vec<InteractionRow>,
        strict_names: bool,
    ) -> Result<Self, MedicinesError> {
        let mut ingredients = BTreeSet::new();
        let mut names: HashMap<String, (usize, MatchKind)> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            check_entry(entry)?;
            if !ingredients.insert(entry.ingredient.clone()) {
                return Err(invalid(
                    LEXICON_FILE,
                    format!("ingredient {:?} appears twice", entry.ingredient),
                ));
            }
            let all = std::iter::once((&entry.ingredient, MatchKind::Generic))
                .chain(entry.brands.iter().map(|b| (b, MatchKind::Brand)))
                .chain(
                    entry
                        .misspellings
                        .iter()
                        .map(|m| (m, MatchKind::Misspelling)),
                );
            for (name, how) in all {
                let key = normalise(name);
                match names.get(&key) {
                    Some((other, _)) if *other != index && strict_names => {
                        return Err(invalid(
                            LEXICON_FILE,
                            format!(
                                "the name {name:?} is given for both {} and {}",
                                entries[*other].ingredient, entry.ingredient
                            ),
                        ));
                    }
                    Some((other, _)) if *other == index => {}
                    _ => {
                        names.insert(key, (index, how));
                    }
                }
            }
        }
        let mut ids = BTreeSet::new();
        for row in &rows {
            check_row(row, &ingredients)?;
            if !ids.insert(row.id.clone()) {
                return Err(invalid(
                    INTERACTIONS_FILE,
                    format!("row id {:?} appears twice", row.id),
                ));
            }
        }
        let mut pairs = BTreeSet::new();
        for row in &rows {
            if !pairs.insert((row.subject().to_owned(), row.mechanism)) {
                return Err(invalid(
                    INTERACTIONS_FILE,
                    format!(
                        "{} has two {} rows (row {:?})",
                        row.subject(),
                        row.mechanism.as_str(),
                        row.id
                    ),
                ));
            }
        }
        Ok(Self {
            lexicon_version,
            lexicon_date,
            lexicon_source,
            interactions_version,
            interactions_date,
            entries,
            rows,
            names,
        })
    }

    /// The same knowledge with a clinic's rows: an entry with a shipped ingredient (a row
    /// with a shipped id) replaces it; others are added. A clinic's name wins over a
    /// shipped entry's identical name.
    pub fn with_overrides(
        &self,
        entries: &[LexiconEntry],
        rows: &[InteractionRow],
    ) -> Result<Self, MedicinesError> {
        if entries.is_empty() && rows.is_empty() {
            return Ok(self.clone());
        }
        let overridden: BTreeSet<&str> = entries.iter().map(|e| e.ingredient.as_str()).collect();
        // Shipped entries first (minus replaced ones), then the clinic's: later names win.
        let mut merged: Vec<LexiconEntry> = self
            .entries
            .iter()
            .filter(|e| !overridden.contains(e.ingredient.as_str()))
            .cloned()
            .collect();
        merged.extend(entries.iter().cloned());
        let replaced: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut merged_rows: Vec<InteractionRow> = self
            .rows
            .iter()
            .filter(|r| !replaced.contains(r.id.as_str()))
            .cloned()
            .collect();
        merged_rows.extend(rows.iter().cloned());
        Self::build(
            self.lexicon_version.clone(),
            self.lexicon_date,
            self.lexicon_source.clone(),
            self.interactions_version.clone(),
            self.interactions_date,
            merged,
            merged_rows,
            false,
        )
    }

    pub fn entries(&self) -> &[LexiconEntry] {
        &self.entries
    }

    pub fn rows(&self) -> &[InteractionRow] {
        &self.rows
    }

    pub fn entry(&self, ingredient: &str) -> Option<&LexiconEntry> {
        self.entries.iter().find(|e| e.ingredient == ingredient)
    }

    pub fn row(&self, id: &str) -> Option<&InteractionRow> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// The rows that apply to a medicine of this ingredient (if known) and class: the
    /// ingredient's own rows, and its class's rows for mechanisms the ingredient has no
    /// row for. Ordered by mechanism.
    pub fn rows_for(
        &self,
        ingredient: Option<&str>,
        class: MedicationClass,
    ) -> Vec<InteractionRow> {
        let mut by_mechanism: BTreeMap<Mechanism, &InteractionRow> = BTreeMap::new();
        for row in self.rows.iter().filter(|r| r.class == Some(class)) {
            by_mechanism.insert(row.mechanism, row);
        }
        if let Some(ingredient) = ingredient {
            for row in self
                .rows
                .iter()
                .filter(|r| r.drug.as_deref() == Some(ingredient))
            {
                by_mechanism.insert(row.mechanism, row);
            }
        }
        by_mechanism.into_values().cloned().collect()
    }

    /// The interaction rows with alcohol (for the AUDIT-C part of the CNS rule).
    pub fn alcohol_rows(&self) -> Vec<InteractionRow> {
        self.rows_for(Some("alcohol"), MedicationClass::Other)
    }

    /// Resolves what someone typed ("Xanax 0.5 mg", "suboxone", "xanex",
    /// "Gabapentin 300mg tablets") to an ingredient, keeping the strength as text.
    pub fn resolve(&self, typed: &str) -> Resolution {
        let text = normalise(typed);
        let tokens: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
        let strength = strength_text(typed);
        let found = self
            .lookup(&text)
            .or_else(|| {
                let name: Vec<&str> = tokens
                    .iter()
                    .copied()
                    .filter(|t| !is_strength(t) && !FORM_WORDS.contains(t))
                    .collect();
                self.lookup(&name.join(" ")).or_else(|| self.ngram(&name))
            })
            .map(|(index, how)| (index, how, None))
            .or_else(|| self.close_spelling(&tokens));
        let recognised = found.map(|(index, how, matched)| {
            let entry = &self.entries[index];
            Recognised {
                ingredient: entry.ingredient.clone(),
                class: entry.class,
                oud_medicine: entry.oud_medicine,
                matched: matched.unwrap_or_else(|| entry.ingredient.clone()),
                how,
            }
        });
        Resolution {
            strength,
            recognised,
        }
    }

    fn lookup(&self, key: &str) -> Option<(usize, MatchKind)> {
        if key.is_empty() {
            return None;
        }
        self.names.get(key).copied()
    }

    /// The longest run of words that is a known name ("buprenorphine naloxone film").
    fn ngram(&self, tokens: &[&str]) -> Option<(usize, MatchKind)> {
        for len in (1..tokens.len()).rev() {
            for window in tokens.windows(len) {
                if let Some(found) = self.lookup(&window.join(" ")) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// A single word one letter from a known one-word name (two for long names), when only
    /// one ingredient is that close.
    fn close_spelling(&self, tokens: &[&str]) -> Option<(usize, MatchKind, Option<String>)> {
        let mut best: Option<(usize, usize, &str)> = None;
        let mut tied = false;
        for token in tokens.iter().filter(|t| t.chars().count() >= 5) {
            let limit = if token.chars().count() >= 9 { 2 } else { 1 };
            for (name, (index, _)) in &self.names {
                if name.contains(' ') {
                    continue;
                }
                let distance = strsim::damerau_levenshtein(token, name);
                if distance == 0 || distance > limit {
                    continue;
                }
                match best {
                    Some((d, i, _)) if distance > d || (distance == d && i == *index) => {}
                    Some((d, _, _)) if distance == d => tied = true,
                    _ => {
                        best = Some((distance, *index, name));
                        tied = false;
                    }
                }
            }
        }
        match best {
            Some((_, index, name)) if !tied => {
                Some((index, MatchKind::CloseSpelling, Some(name.to_owned())))
            }
            _ => None,
        }
    }
}

/// Words that describe a form or schedule, not the medicine.
const FORM_WORDS: &[&str] = &[
    "tablet",
    "tablets",
    "tab",
    "tabs",
    "capsule",
    "capsules",
    "cap",
    "caps",
    "film",
    "films",
    "strip",
    "strips",
    "sublingual",
    "sl",
    "er",
    "xr",
    "sr",
    "cr",
    "ir",
    "xl",
    "la",
    "dr",
    "odt",
    "hcl",
    "hydrochloride",
    "oral",
    "solution",
    "liquid",
    "syrup",
    "patch",
    "patches",
    "injection",
    "inj",
    "depot",
    "extended",
    "release",
    "immediate",
    "daily",
    "once",
    "twice",
    "a",
    "day",
    "bd",
    "bid",
    "tds",
    "tid",
    "qds",
    "od",
    "nocte",
    "prn",
    "po",
    "as",
    "needed",
    "at",
    "night",
    "bedtime",
    "mane",
    "morning",
    "every",
    "per",
    "x",
    "with",
    "and",
];

const UNITS: &[&str] = &[
    "mg", "mcg", "µg", "ug", "g", "ml", "%", "iu", "units", "unit", "mg/ml", "mcg/h", "mcg/hr",
    "µg/h", "mg/h", "mg/day", "mg/d",
];

/// Lowercase words, punctuation other than `.`, `/` and `%` read as spaces.
fn normalise(text: &str) -> String {
    let lowered: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '/' | '%' | 'µ') {
                c
            } else {
                ' '
            }
        })
        .collect();
    lowered
        .split_whitespace()
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A number with or without its unit ("0.5", "300mg", "8/2mg"), or a unit alone.
fn is_strength(token: &str) -> bool {
    UNITS.contains(&token) || token.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// The strength as typed: the first number and the unit words that follow it.
fn strength_text(typed: &str) -> Option<String> {
    let words: Vec<&str> = typed.split_whitespace().collect();
    let start = words
        .iter()
        .position(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let mut end = start + 1;
    while end < words.len() {
        let word = words[end].to_lowercase();
        let word = word.trim_matches(|c: char| c == ',' || c == ';');
        if UNITS.contains(&word) || word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            end += 1;
        } else {
            break;
        }
    }
    let text = words[start..end]
        .join(" ")
        .trim_end_matches([',', ';'])
        .to_owned();
    // A bare number with no unit ("Tylenol 3") is part of a name, not a strength.
    let has_unit = text.chars().any(|c| c.is_alphabetic() || c == '%');
    has_unit.then_some(text)
}

fn parse_date(file: &'static str, text: &str) -> Result<Date, MedicinesError> {
    text.parse()
        .map_err(|_| invalid(file, format!("date {text:?} is not YYYY-MM-DD")))
}

fn check_entry(entry: &LexiconEntry) -> Result<(), MedicinesError> {
    let valid = |s: &str| {
        !s.trim().is_empty() && s.chars().count() <= 80 && s.chars().all(|c| !c.is_control())
    };
    if !valid(&entry.ingredient) || entry.ingredient != entry.ingredient.to_lowercase().trim() {
        return Err(invalid(
            LEXICON_FILE,
            format!(
                "ingredient {:?} must be lowercase, without surrounding spaces",
                entry.ingredient
            ),
        ));
    }
    for name in entry.brands.iter().chain(&entry.misspellings) {
        if !valid(name) || normalise(name).is_empty() {
            return Err(invalid(
                LEXICON_FILE,
                format!(
                    "{}: the name {name:?} is empty or too long",
                    entry.ingredient
                ),
            ));
        }
    }
    Ok(())
}

fn check_row(row: &InteractionRow, ingredients: &BTreeSet<String>) -> Result<(), MedicinesError> {
    let fail = |message: String| {
        Err(invalid(
            INTERACTIONS_FILE,
            format!("row {:?}: {message}", row.id),
        ))
    };
    if row.id.trim().is_empty() {
        return fail("the id is empty".into());
    }
    match (&row.drug, row.class) {
        (Some(_), Some(_)) | (None, None) => {
            return fail("give exactly one of drug or class".into());
        }
        (Some(drug), None) if !ingredients.contains(drug) => {
            return fail(format!("drug {drug:?} is not in the lexicon"));
        }
        _ => {}
    }
    for (field, text) in [
        ("effect", &row.effect),
        ("consider", &row.consider),
        ("source", &row.source),
    ] {
        if text.trim().is_empty() {
            return fail(format!("{field} is empty"));
        }
    }
    if !row.source.contains(".md") {
        return fail("the source must point into shared/reference (a .md section)".into());
    }
    if row.mechanism == Mechanism::Cyp3aInhibition
        && row.evidence == EvidenceGrade::ClinicalStudy
        && !row.source.contains("1.39")
    {
        return fail("a clinical CYP3A row must cite the observed midazolam AUC ratio 1.39".into());
    }
    Ok(())
}

/// An entry or row as typed on the curation page, before it is checked.
#[derive(Clone, Debug, Default)]
pub struct EntryFields<'a> {
    pub ingredient: &'a str,
    pub class: &'a str,
    pub oud_medicine: bool,
    /// Comma- or newline-separated.
    pub brands: &'a str,
    pub misspellings: &'a str,
}

#[derive(Clone, Debug, Default)]
pub struct RowFields<'a> {
    pub id: &'a str,
    pub drug: &'a str,
    pub class: &'a str,
    pub mechanism: &'a str,
    pub severity: &'a str,
    pub evidence: &'a str,
    pub effect: &'a str,
    pub consider: &'a str,
    pub source: &'a str,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n', ';'])
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

fn one_of(errors: &mut crate::FieldErrors, field: &str, text: &str, codes: &[&str]) {
    errors.push(
        field,
        format!("{text:?} is not one of {}", codes.join(", ")),
    );
}

impl LexiconEntry {
    pub fn from_fields(fields: &EntryFields<'_>) -> Result<Self, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::default();
        let ingredient = fields.ingredient.trim().to_lowercase();
        if ingredient.is_empty() || ingredient.chars().count() > 80 {
            errors.push("ingredient", "enter the ingredient (up to 80 characters)");
        }
        let class = MedicationClass::parse(fields.class);
        if class.is_none() {
            let codes: Vec<&str> = MedicationClass::ALL.iter().map(|c| c.as_str()).collect();
            one_of(&mut errors, "class", fields.class, &codes);
        }
        let brands = list(fields.brands);
        let misspellings = list(fields.misspellings);
        if brands
            .iter()
            .chain(&misspellings)
            .any(|n| n.chars().count() > 80)
        {
            errors.push("brands", "keep each name under 80 characters");
        }
        errors.into_result(|| LexiconEntry {
            ingredient,
            class: class.unwrap_or(MedicationClass::Other),
            oud_medicine: fields.oud_medicine,
            brands,
            misspellings,
        })
    }
}

impl InteractionRow {
    pub fn from_fields(fields: &RowFields<'_>) -> Result<Self, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::default();
        let id = fields.id.trim().to_lowercase();
        if id.is_empty() || id.chars().count() > 80 || id.chars().any(char::is_whitespace) {
            errors.push(
                "id",
                "enter a key without spaces, e.g. sertraline-serotonergic",
            );
        }
        let drug = Some(fields.drug.trim().to_lowercase()).filter(|d| !d.is_empty());
        let class = match fields.class.trim() {
            "" => None,
            text => {
                let parsed = MedicationClass::parse(text);
                if parsed.is_none() {
                    let codes: Vec<&str> =
                        MedicationClass::ALL.iter().map(|c| c.as_str()).collect();
                    one_of(&mut errors, "class", text, &codes);
                }
                parsed
            }
        };
        if drug.is_some() == (class.is_some() || !fields.class.trim().is_empty()) {
            errors.push("drug", "give either an ingredient or a class, not both");
        }
        let mechanism = Mechanism::parse(fields.mechanism);
        if mechanism.is_none() {
            let codes: Vec<&str> = Mechanism::ALL.iter().map(|m| m.as_str()).collect();
            one_of(&mut errors, "mechanism", fields.mechanism, &codes);
        }
        let severity = InteractionSeverity::parse(fields.severity);
        if severity.is_none() {
            one_of(
                &mut errors,
                "severity",
                fields.severity,
                &["major", "moderate", "minor"],
            );
        }
        let evidence = EvidenceGrade::parse(fields.evidence);
        if evidence.is_none() {
            let codes: Vec<&str> = EvidenceGrade::ALL.iter().map(|e| e.as_str()).collect();
            one_of(&mut errors, "evidence", fields.evidence, &codes);
        }
        for (field, text) in [
            ("effect", fields.effect),
            ("consider", fields.consider),
            ("source", fields.source),
        ] {
            if text.trim().is_empty() {
                errors.push(field, "this cannot be empty");
            } else if text.chars().count() > 2000 {
                errors.push(field, "keep this under 2000 characters");
            }
        }
        if !fields.source.trim().is_empty() && !fields.source.contains(".md") {
            errors.push(
                "source",
                "cite a section of shared/reference (e.g. pharmacology.md §4)",
            );
        }
        errors.into_result(|| InteractionRow {
            id,
            drug,
            class,
            mechanism: mechanism.unwrap_or(Mechanism::CnsDepression),
            severity: severity.unwrap_or(InteractionSeverity::Moderate),
            evidence: evidence.unwrap_or(EvidenceGrade::Mechanistic),
            effect: fields.effect.trim().to_owned(),
            consider: fields.consider.trim().to_owned(),
            source: fields.source.trim().to_owned(),
        })
    }
}

/// The retired free-text "Other medications" lines, split into one name per entry (on
/// commas, semicolons and line breaks), blanks dropped.
pub fn split_free_text(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|line| line.split([',', ';', '\n', '\r']))
        .map(|piece| piece.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|piece| !piece.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knowledge() -> MedicineKnowledge {
        MedicineKnowledge::bundled().expect("the shipped medicine data is valid")
    }

    fn resolved(typed: &str) -> (String, &'static str, Option<String>) {
        let resolution = knowledge().resolve(typed);
        let found = resolution
            .recognised
            .unwrap_or_else(|| panic!("{typed:?} should be recognised"));
        (found.ingredient, found.class.as_str(), resolution.strength)
    }

    #[test]
    fn brand_names_resolve_to_their_ingredient_and_keep_the_strength() {
        assert_eq!(
            resolved("Xanax 0.5 mg"),
            ("alprazolam".into(), "benzodiazepine", Some("0.5 mg".into()))
        );
        assert_eq!(
            resolved("suboxone"),
            ("buprenorphine".into(), "opioid", None)
        );
        assert_eq!(
            resolved("Suboxone 8/2mg film"),
            ("buprenorphine".into(), "opioid", Some("8/2mg".into()))
        );
        assert_eq!(resolved("Vivitrol 380 mg").0, "naltrexone");
        assert_eq!(resolved("Narcan nasal spray").0, "naloxone");
        assert_eq!(resolved("Sublocade").0, "buprenorphine");
        assert_eq!(resolved("Subutex").0, "buprenorphine");
    }

    #[test]
    fn generic_names_with_forms_and_strengths_resolve() {
        assert_eq!(
            resolved("Gabapentin 300mg tablets"),
            ("gabapentin".into(), "gabapentinoid", Some("300mg".into()))
        );
        assert_eq!(
            resolved("quetiapine XR 50 mg at night"),
            ("quetiapine".into(), "antipsychotic", Some("50 mg".into()))
        );
        assert_eq!(resolved("METHADONE 80mg/day").0, "methadone");
    }

    #[test]
    fn listed_misspellings_and_one_letter_slips_resolve_and_say_so() {
        let k = knowledge();
        let xanex = k.resolve("xanex").recognised.unwrap();
        assert_eq!(
            (xanex.ingredient.as_str(), xanex.how),
            ("alprazolam", MatchKind::Misspelling)
        );
        let slip = k.resolve("sertralinne 50 mg").recognised.unwrap();
        assert_eq!(
            (slip.ingredient.as_str(), slip.how),
            ("sertraline", MatchKind::CloseSpelling)
        );
    }

    #[test]
    fn unknown_names_are_not_recognised_but_keep_their_strength() {
        let k = knowledge();
        let unknown = k.resolve("Lisinopril 10 mg");
        assert_eq!(unknown.recognised, None);
        assert_eq!(unknown.strength.as_deref(), Some("10 mg"));
        assert_eq!(k.resolve("vitamin d").recognised, None);
        assert_eq!(k.resolve("").recognised, None);
        assert_eq!(k.resolve("300 mg").recognised, None);
    }

    #[test]
    fn a_number_that_is_part_of_a_brand_is_not_a_strength() {
        let k = knowledge();
        let tylenol = k.resolve("Tylenol 3");
        assert_eq!(tylenol.recognised.unwrap().ingredient, "codeine");
        assert_eq!(tylenol.strength, None);
    }

    #[test]
    fn quetiapine_has_both_cns_depression_and_cyp3a_rows() {
        let mechanisms: Vec<_> = knowledge()
            .rows_for(Some("quetiapine"), MedicationClass::Antipsychotic)
            .iter()
            .map(|r| r.mechanism)
            .collect();
        assert_eq!(
            mechanisms,
            [Mechanism::CnsDepression, Mechanism::Cyp3aInhibition]
        );
    }

    #[test]
    fn oud_medicines_are_never_advised_to_be_tapered() {
        let k = knowledge();
        for ingredient in ["buprenorphine", "methadone"] {
            assert!(k.entry(ingredient).unwrap().oud_medicine);
            let rows = k.rows_for(Some(ingredient), MedicationClass::Opioid);
            assert!(!rows.is_empty());
            for row in rows {
                let consider = row.consider.to_lowercase();
                assert!(
                    consider.contains("never") || consider.contains("do not taper"),
                    "{}: {}",
                    row.id,
                    row.consider
                );
                assert!(consider.contains("prescriber") || consider.contains("programme"));
            }
        }
    }

    #[test]
    fn an_ingredient_row_replaces_its_class_row_for_the_same_mechanism() {
        let rows = knowledge().rows_for(Some("buprenorphine"), MedicationClass::Opioid);
        let cns: Vec<_> = rows
            .iter()
            .filter(|r| r.mechanism == Mechanism::CnsDepression)
            .collect();
        assert_eq!(cns.len(), 1);
        assert_eq!(cns[0].id, "buprenorphine-cns");
        let tramadol = knowledge().rows_for(Some("tramadol"), MedicationClass::Opioid);
        let ids: Vec<_> = tramadol.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "opioid-cns",
                "tramadol-cyp2d6",
                "tramadol-serotonergic",
                "tramadol-seizure"
            ]
        );
    }

    #[test]
    fn every_mechanism_has_at_least_one_row_and_the_potentiators_are_named() {
        let k = knowledge();
        for mechanism in Mechanism::ALL {
            assert!(
                k.rows().iter().any(|r| r.mechanism == mechanism),
                "{mechanism:?}"
            );
        }
        for drug in ["cimetidine", "dextromethorphan", "diphenhydramine"] {
            assert!(
                k.rows()
                    .iter()
                    .any(|r| r.drug.as_deref() == Some(drug)
                        && r.mechanism == Mechanism::Potentiator)
            );
        }
        let midazolam = k.row("midazolam-cyp3a").unwrap();
        assert!(midazolam.effect.contains("1.39") && midazolam.source.contains("1.39"));
    }

    #[test]
    fn free_text_splits_on_commas_semicolons_and_lines_and_each_piece_resolves_or_not() {
        let lines = vec![
            " buprenorphine 8 mg; Xanax 0.5mg ".to_owned(),
            "sertraline 50 mg,  , grandma's tonic\nLyrica".to_owned(),
        ];
        let pieces = split_free_text(&lines);
        assert_eq!(
            pieces,
            [
                "buprenorphine 8 mg",
                "Xanax 0.5mg",
                "sertraline 50 mg",
                "grandma's tonic",
                "Lyrica"
            ]
        );
        let k = knowledge();
        let ingredients: Vec<_> = pieces
            .iter()
            .map(|p| k.resolve(p).recognised.map(|r| r.ingredient))
            .collect();
        assert_eq!(
            ingredients,
            [
                Some("buprenorphine".into()),
                Some("alprazolam".into()),
                Some("sertraline".into()),
                None,
                Some("pregabalin".into())
            ]
        );
    }

    #[test]
    fn a_curated_row_needs_one_subject_known_codes_and_a_citation() {
        let fields = RowFields {
            id: "sertraline-extra",
            drug: "sertraline",
            class: "antidepressant",
            mechanism: "serotonin",
            severity: "major",
            evidence: "mechanistic",
            effect: "e",
            consider: "c",
            source: "a blog",
        };
        let error = InteractionRow::from_fields(&fields).unwrap_err();
        let named: Vec<_> = error.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["drug", "mechanism", "source"]);
    }

    #[test]
    fn a_duplicate_name_across_ingredients_is_refused() {
        let lexicon = r#"
version = "1"
date = "2026-12-02"
source = "test"
[[medicine]]
ingredient = "alprazolam"
class = "benzodiazepine"
brands = ["Xanax"]
[[medicine]]
ingredient = "clonazepam"
class = "benzodiazepine"
brands = ["xanax"]
"#;
        let error = MedicineKnowledge::parse(lexicon, BUNDLED_INTERACTIONS).unwrap_err();
        assert!(error.to_string().contains("xanax"), "{error}");
    }

    #[test]
    fn rows_need_a_known_drug_a_source_and_a_parseable_date() {
        let lexicon = BUNDLED_LEXICON;
        let row = |extra: &str| {
            format!(
                "version = \"1\"\ndate = \"2026-12-02\"\n[[row]]\nid = \"x\"\nmechanism = \"serotonergic\"\nseverity = \"minor\"\nevidence = \"mechanistic\"\neffect = \"e\"\nconsider = \"c\"\n{extra}"
            )
        };
        let unknown = MedicineKnowledge::parse(
            lexicon,
            &row("drug = \"unobtainium\"\nsource = \"pharmacology.md §4\""),
        );
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("not in the lexicon")
        );
        let uncited =
            MedicineKnowledge::parse(lexicon, &row("drug = \"sertraline\"\nsource = \"a blog\""));
        assert!(
            uncited
                .unwrap_err()
                .to_string()
                .contains("shared/reference")
        );
        let bad_date =
            BUNDLED_INTERACTIONS.replacen("date = \"2026-12-02\"", "date = \"2 Dec\"", 1);
        assert!(MedicineKnowledge::parse(lexicon, &bad_date).is_err());
    }

    #[test]
    fn a_clinic_override_replaces_a_shipped_row_and_adds_a_name() {
        let k = knowledge();
        let mut row = k.row("sertraline-serotonergic").unwrap().clone();
        row.severity = InteractionSeverity::Major;
        let entry = LexiconEntry {
            ingredient: "sertraline".into(),
            class: MedicationClass::Antidepressant,
            oud_medicine: false,
            brands: vec!["Zoloft".into(), "Sertra-clinic".into()],
            misspellings: Vec::new(),
        };
        let merged = k.with_overrides(&[entry], &[row]).unwrap();
        assert_eq!(
            merged.row("sertraline-serotonergic").unwrap().severity,
            InteractionSeverity::Major
        );
        assert_eq!(
            merged
                .resolve("sertra-clinic")
                .recognised
                .unwrap()
                .ingredient,
            "sertraline"
        );
        assert_eq!(merged.rows().len(), k.rows().len());
        assert_eq!(k.resolve("sertra-clinic").recognised, None);
    }
}
