//! Validated instruments as data: each is a file in `data/instruments/` (items, answer
//! options, scoring rule, bands, codes, attribution). This module loads and checks them
//! and scores responses; it never branches on an instrument's code.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::patient::SexAtBirth;
use crate::validation::FieldErrors;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rater {
    Patient,
    Clinician,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loinc {
    pub panel: Option<String>,
    pub total: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringMethod {
    /// The total is the sum of the scored items.
    Sum,
    /// The total is the mean of the scored items (PEG-3).
    Mean,
    /// No total: a diary whose metrics are derived elsewhere.
    None,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    pub method: ScoringMethod,
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerOption {
    pub value: f64,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionSet {
    options: Vec<AnswerOption>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub min: f64,
    pub max: f64,
    pub min_label: String,
    pub max_label: String,
}

/// Unscored diary entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// "HH:MM", 24-hour local time.
    ClockTime,
    /// Whole minutes, 0 to 1440.
    Minutes,
    /// A whole number of times.
    Count,
    /// Free text (at most 1000 characters).
    Text,
}

/// What an item accepts, once option sets are resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    Options(Vec<AnswerOption>),
    Scale(Scale),
    Entry(EntryKind),
}

impl Item {
    /// The label of the option `value` picks, for items answered from a list.
    pub fn option_label(&self, value: f64) -> Option<&str> {
        match &self.response {
            Response::Options(options) => options
                .iter()
                .find(|o| o.value == value)
                .map(|o| o.label.as_str()),
            _ => None,
        }
    }
}

impl Response {
    fn numeric_range(&self) -> Option<(f64, f64)> {
        match self {
            Response::Options(options) => {
                let values = options.iter().map(|o| o.value);
                Some((
                    values.clone().fold(f64::INFINITY, f64::min),
                    values.fold(f64::NEG_INFINITY, f64::max),
                ))
            }
            Response::Scale(scale) => Some((scale.min, scale.max)),
            Response::Entry(_) => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: String,
    text: String,
    option_set: Option<String>,
    options: Option<Vec<AnswerOption>>,
    scale: Option<Scale>,
    kind: Option<EntryKind>,
    scored: Option<bool>,
    required: Option<bool>,
    safety: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The item's number in the published order ("1", "2", …) or a name for extras.
    pub id: String,
    pub text: String,
    pub response: Response,
    pub scored: bool,
    pub required: bool,
    /// A safety rule raised when the answer is above 0.
    pub safety: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub code: String,
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub sex: Option<SexAtBirth>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstrument {
    code: String,
    name: String,
    short_name: String,
    rater: Rater,
    instructions: String,
    attribution: String,
    licence: String,
    source: String,
    evidence: Option<String>,
    loinc: Option<Loinc>,
    #[serde(default)]
    bands_configurable: bool,
    scoring: Scoring,
    #[serde(default)]
    option_sets: BTreeMap<String, OptionSet>,
    items: Vec<RawItem>,
    #[serde(default)]
    bands: Vec<Band>,
}

/// A checked instrument definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Instrument {
    pub code: String,
    pub name: String,
    pub short_name: String,
    pub rater: Rater,
    pub instructions: String,
    pub attribution: String,
    pub licence: String,
    pub source: String,
    pub evidence: Option<String>,
    pub loinc: Option<Loinc>,
    /// Whether an organization may set its own bands (SOWS has no published ones).
    pub bands_configurable: bool,
    pub scoring: Scoring,
    pub items: Vec<Item>,
    pub bands: Vec<Band>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstrumentError {
    #[error("{file}: not a valid instrument file: {source}")]
    Parse {
        file: String,
        source: toml::de::Error,
    },
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
}

impl Instrument {
    /// Parses and checks one instrument file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, InstrumentError> {
        let raw: RawInstrument = toml::from_str(text).map_err(|source| InstrumentError::Parse {
            file: file.to_owned(),
            source,
        })?;
        let invalid = |problem: String| InstrumentError::Invalid {
            file: file.to_owned(),
            problem,
        };
        let mut items = Vec::new();
        let mut seen = BTreeSet::new();
        for raw_item in raw.items {
            if !seen.insert(raw_item.id.clone()) {
                return Err(invalid(format!("item {} appears twice", raw_item.id)));
            }
            let response = match (
                &raw_item.option_set,
                raw_item.options,
                raw_item.scale,
                raw_item.kind,
            ) {
                (Some(set), None, None, None) => Response::Options(
                    raw.option_sets
                        .get(set)
                        .ok_or_else(|| {
                            invalid(format!(
                                "item {} uses unknown option set {set:?}",
                                raw_item.id
                            ))
                        })?
                        .options
                        .clone(),
                ),
                (None, Some(options), None, None) => Response::Options(options),
                (None, None, Some(scale), None) => Response::Scale(scale),
                (None, None, None, Some(kind)) => Response::Entry(kind),
                _ => {
                    return Err(invalid(format!(
                        "item {} must have exactly one of option_set, options, scale or kind",
                        raw_item.id
                    )));
                }
            };
            if let Response::Options(options) = &response {
                let values: BTreeSet<u64> = options.iter().map(|o| o.value.to_bits()).collect();
                if options.is_empty() || values.len() != options.len() {
                    return Err(invalid(format!(
                        "item {} needs distinct answer options",
                        raw_item.id
                    )));
                }
            }
            if let Response::Scale(scale) = &response
                && scale.min.partial_cmp(&scale.max) != Some(std::cmp::Ordering::Less)
            {
                return Err(invalid(format!(
                    "item {}'s scale must have min < max",
                    raw_item.id
                )));
            }
            let scored = raw_item
                .scored
                .unwrap_or(!matches!(response, Response::Entry(_)));
            if scored && matches!(response, Response::Entry(_)) {
                return Err(invalid(format!(
                    "item {} is a diary entry and cannot be scored",
                    raw_item.id
                )));
            }
            items.push(Item {
                id: raw_item.id,
                text: raw_item.text,
                response,
                scored,
                required: raw_item.required.unwrap_or(true),
                safety: raw_item.safety,
            });
        }
        if items.is_empty() {
            return Err(invalid("an instrument needs items".into()));
        }
        let instrument = Instrument {
            code: raw.code,
            name: raw.name,
            short_name: raw.short_name,
            rater: raw.rater,
            instructions: raw.instructions,
            attribution: raw.attribution,
            licence: raw.licence,
            source: raw.source,
            evidence: raw.evidence,
            loinc: raw.loinc,
            bands_configurable: raw.bands_configurable,
            scoring: raw.scoring,
            items,
            bands: raw.bands,
        };
        instrument.check_range().map_err(invalid)?;
        instrument.check_bands().map_err(invalid)?;
        Ok(instrument)
    }

    /// The declared total range must be what the scored items can actually produce.
    fn check_range(&self) -> Result<(), String> {
        let ranges: Vec<(f64, f64)> = self
            .scored_items()
            .filter_map(|i| i.response.numeric_range())
            .collect();
        let (low, high) = ranges
            .iter()
            .fold((0.0, 0.0), |(l, h), (a, b)| (l + a, h + b));
        let (low, high) = match self.scoring.method {
            ScoringMethod::Sum => (low, high),
            ScoringMethod::Mean if !ranges.is_empty() => {
                (low / ranges.len() as f64, high / ranges.len() as f64)
            }
            ScoringMethod::Mean => return Err("a mean needs scored items".into()),
            ScoringMethod::None => {
                return if ranges.is_empty() {
                    Ok(())
                } else {
                    Err("a diary has no scored items".into())
                };
            }
        };
        if (low - self.scoring.min).abs() > 1e-9 || (high - self.scoring.max).abs() > 1e-9 {
            return Err(format!(
                "scoring.min..max is {}..{} but the items give {low}..{high}",
                self.scoring.min, self.scoring.max
            ));
        }
        Ok(())
    }

    /// Each set of bands (one per sex, plus the default) must tile min..max without gaps.
    fn check_bands(&self) -> Result<(), String> {
        let groups: BTreeSet<Option<&'static str>> = self
            .bands
            .iter()
            .map(|b| b.sex.map(|s| s.as_str()))
            .collect();
        for group in groups {
            let mut bands: Vec<&Band> = self
                .bands
                .iter()
                .filter(|b| b.sex.map(|s| s.as_str()) == group)
                .collect();
            bands.sort_by(|a, b| a.min.total_cmp(&b.min));
            let name = group.unwrap_or("default");
            if bands.first().is_some_and(|b| b.min != self.scoring.min)
                || bands.last().is_some_and(|b| b.max != self.scoring.max)
            {
                return Err(format!(
                    "the {name} bands must start at {} and end at {}",
                    self.scoring.min, self.scoring.max
                ));
            }
            for pair in bands.windows(2) {
                if pair[1].min != pair[0].max + 1.0 {
                    return Err(format!(
                        "the {name} bands {} and {} leave a gap or overlap",
                        pair[0].code, pair[1].code
                    ));
                }
            }
        }
        if !self.bands.is_empty()
            && self.bands.iter().any(|b| b.sex.is_some())
            && !self.bands.iter().any(|b| b.sex.is_none())
        {
            return Err("sex-specific bands need a default set for when sex is unknown".into());
        }
        Ok(())
    }

    /// This instrument with an organization's own bands, checked like the shipped ones.
    pub fn with_bands(&self, bands: Vec<Band>) -> Result<Instrument, String> {
        if !self.bands_configurable {
            return Err(format!(
                "{} uses its published bands, which cannot be changed",
                self.short_name
            ));
        }
        let configured = Instrument {
            bands,
            ..self.clone()
        };
        configured.check_bands()?;
        Ok(configured)
    }

    pub fn scored_items(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.scored)
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    /// The band a total falls in, using sex-specific cut-offs where the instrument has them.
    pub fn band(&self, total: f64, sex: Option<SexAtBirth>) -> Option<&Band> {
        let has_sex_set = |s: SexAtBirth| self.bands.iter().any(|b| b.sex == Some(s));
        let set = match sex {
            Some(s) if has_sex_set(s) => Some(s),
            _ => None,
        };
        self.bands
            .iter()
            .filter(|b| b.sex == set)
            .find(|b| b.min <= total && total <= b.max)
    }
}

/// One answer as submitted: a number for scored items, text for diary times and notes.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Answer {
    Number(f64),
    Text(String),
}

/// A scored response.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// `None` for diaries.
    pub total: Option<f64>,
    pub band: Option<Band>,
    /// Safety rules the answers raised (e.g. `phq9_item9`).
    pub safety: Vec<String>,
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

impl Instrument {
    /// Checks every answer and computes the total and band. Missing required answers,
    /// unknown items and values the item does not offer are errors naming the items.
    pub fn score(
        &self,
        answers: &BTreeMap<String, Answer>,
        sex: Option<SexAtBirth>,
    ) -> Result<Scored, FieldErrors> {
        let mut errors = FieldErrors::new();
        for id in answers.keys() {
            if self.item(id).is_none() {
                errors.push(
                    format!("answers.{id}"),
                    format!("{} has no item {id:?}", self.short_name),
                );
            }
        }
        let mut values = Vec::new();
        let mut safety = Vec::new();
        for item in &self.items {
            let field = format!("answers.{}", item.id);
            let Some(answer) = answers.get(&item.id) else {
                if item.required {
                    errors.push(field, format!("item {} is required", item.id));
                }
                continue;
            };
            match check_answer(item, answer) {
                Ok(Some(value)) => {
                    if item.scored {
                        values.push(value);
                    }
                    // One rule per submission, however many of its items fired.
                    if let Some(rule) = item
                        .safety
                        .as_ref()
                        .filter(|r| value > 0.0 && !safety.contains(*r))
                    {
                        safety.push(rule.clone());
                    }
                }
                Ok(None) => {}
                Err(problem) => errors.push(field, problem),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let total = match self.scoring.method {
            ScoringMethod::Sum => Some(values.iter().sum()),
            ScoringMethod::Mean => Some(values.iter().sum::<f64>() / values.len().max(1) as f64),
            ScoringMethod::None => None,
        };
        let band = total.and_then(|t| self.band(t, sex)).cloned();
        Ok(Scored {
            total,
            band,
            safety,
        })
    }
}

/// The numeric value of a valid answer (`None` for diary entries), or why it is invalid.
fn check_answer(item: &Item, answer: &Answer) -> Result<Option<f64>, String> {
    match (&item.response, answer) {
        (Response::Options(options), Answer::Number(value)) => {
            if options.iter().any(|o| o.value == *value) {
                Ok(Some(*value))
            } else {
                let allowed: Vec<String> = options.iter().map(|o| format_value(o.value)).collect();
                Err(format!(
                    "item {} must be one of {}",
                    item.id,
                    allowed.join(", ")
                ))
            }
        }
        (Response::Scale(scale), Answer::Number(value)) => {
            if value.fract() == 0.0 && scale.min <= *value && *value <= scale.max {
                Ok(Some(*value))
            } else {
                Err(format!(
                    "item {} must be a whole number from {} to {}",
                    item.id,
                    format_value(scale.min),
                    format_value(scale.max)
                ))
            }
        }
        (Response::Entry(EntryKind::ClockTime), Answer::Text(text)) => {
            jiff::civil::Time::strptime("%H:%M", text.trim())
                .map(|_| None)
                .map_err(|_| format!("item {} must be a time of day as HH:MM (24-hour)", item.id))
        }
        (Response::Entry(EntryKind::Minutes), Answer::Number(value)) => {
            if value.fract() == 0.0 && (0.0..=1440.0).contains(value) {
                Ok(None)
            } else {
                Err(format!(
                    "item {} must be whole minutes from 0 to 1440",
                    item.id
                ))
            }
        }
        (Response::Entry(EntryKind::Count), Answer::Number(value)) => {
            if value.fract() == 0.0 && (0.0..=100.0).contains(value) {
                Ok(None)
            } else {
                Err(format!(
                    "item {} must be a whole number from 0 to 100",
                    item.id
                ))
            }
        }
        (Response::Entry(EntryKind::Text), Answer::Text(text)) => {
            if text.chars().count() <= 1000 {
                Ok(None)
            } else {
                Err(format!("item {} must be at most 1000 characters", item.id))
            }
        }
        (Response::Entry(EntryKind::ClockTime | EntryKind::Text), Answer::Number(_)) => {
            Err(format!("item {} must be text", item.id))
        }
        (_, Answer::Text(_)) => Err(format!("item {} must be a number", item.id)),
    }
}

/// The instruments shipped in `data/instruments/`, in display order.
const BUNDLED: [(&str, &str); 12] = [
    (
        "phq9.toml",
        include_str!("../../../data/instruments/phq9.toml"),
    ),
    (
        "gad7.toml",
        include_str!("../../../data/instruments/gad7.toml"),
    ),
    (
        "cows.toml",
        include_str!("../../../data/instruments/cows.toml"),
    ),
    (
        "sows.toml",
        include_str!("../../../data/instruments/sows.toml"),
    ),
    (
        "sleep_diary.toml",
        include_str!("../../../data/instruments/sleep_diary.toml"),
    ),
    (
        "craving.toml",
        include_str!("../../../data/instruments/craving.toml"),
    ),
    (
        "pain_nrs.toml",
        include_str!("../../../data/instruments/pain_nrs.toml"),
    ),
    (
        "peg3.toml",
        include_str!("../../../data/instruments/peg3.toml"),
    ),
    (
        "auditc.toml",
        include_str!("../../../data/instruments/auditc.toml"),
    ),
    (
        "red_flags.toml",
        include_str!("../../../data/instruments/red_flags.toml"),
    ),
    (
        "kud_dsm5.toml",
        include_str!("../../../data/instruments/kud_dsm5.toml"),
    ),
    (
        "opioid_use.toml",
        include_str!("../../../data/instruments/opioid_use.toml"),
    ),
];

/// Every instrument Speciosa knows, checked.
#[derive(Clone, Debug)]
pub struct Instruments {
    instruments: Vec<Instrument>,
}

impl Instruments {
    pub fn bundled() -> Result<Self, InstrumentError> {
        let mut instruments = Vec::new();
        for (file, text) in BUNDLED {
            let instrument = Instrument::parse(file, text)?;
            if file.trim_end_matches(".toml") != instrument.code {
                return Err(InstrumentError::Invalid {
                    file: file.to_owned(),
                    problem: format!(
                        "the file name does not match its code {:?}",
                        instrument.code
                    ),
                });
            }
            instruments.push(instrument);
        }
        Ok(Instruments { instruments })
    }

    pub fn all(&self) -> &[Instrument] {
        &self.instruments
    }

    pub fn get(&self, code: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.code == code)
    }
}

#[cfg(test)]
mod bundled_tests {
    use super::*;

    fn bundled(code: &str) -> Instrument {
        Instruments::bundled()
            .expect("the bundled instruments load")
            .get(code)
            .expect(code)
            .clone()
    }

    /// Answers all scored items, spreading `total` over them in order within each item's range.
    fn answers_totalling(instrument: &Instrument, total: f64) -> BTreeMap<String, Answer> {
        let mut left = total;
        let mut answers = BTreeMap::new();
        for item in instrument.scored_items() {
            let values: Vec<f64> = match &item.response {
                Response::Options(options) => options.iter().map(|o| o.value).collect(),
                Response::Scale(scale) => (scale.min as i64..=scale.max as i64)
                    .map(|v| v as f64)
                    .collect(),
                Response::Entry(_) => unreachable!("scored items are numeric"),
            };
            let pick = values
                .iter()
                .copied()
                .filter(|v| *v <= left)
                .fold(0.0, f64::max);
            left -= pick;
            answers.insert(item.id.clone(), Answer::Number(pick));
        }
        assert_eq!(
            left, 0.0,
            "{} cannot reach {total} this way",
            instrument.code
        );
        answers
    }

    fn band_at(code: &str, total: f64, sex: Option<SexAtBirth>) -> Option<String> {
        let instrument = bundled(code);
        let scored = instrument
            .score(&answers_totalling(&instrument, total), sex)
            .unwrap();
        assert_eq!(scored.total, Some(total));
        scored.band.map(|b| b.code)
    }

    #[test]
    fn every_shipped_instrument_loads_with_its_published_code() {
        let instruments = Instruments::bundled().unwrap();
        let codes: Vec<&str> = instruments.all().iter().map(|i| i.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "phq9",
                "gad7",
                "cows",
                "sows",
                "sleep_diary",
                "craving",
                "pain_nrs",
                "peg3",
                "auditc",
                "red_flags",
                "kud_dsm5",
                "opioid_use"
            ]
        );
    }

    #[test]
    fn phq9_bands_change_exactly_at_the_published_boundaries() {
        // Kroenke 2001: 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe.
        let expected = [
            (0.0, "minimal"),
            (4.0, "minimal"),
            (5.0, "mild"),
            (9.0, "mild"),
            (10.0, "moderate"),
            (14.0, "moderate"),
            (15.0, "moderately_severe"),
            (19.0, "moderately_severe"),
            (20.0, "severe"),
            (27.0, "severe"),
        ];
        for (total, band) in expected {
            assert_eq!(
                band_at("phq9", total, None).as_deref(),
                Some(band),
                "PHQ-9 {total}"
            );
        }
    }

    #[test]
    fn phq9_item_nine_raises_the_safety_rule_and_difficulty_is_optional_and_unscored() {
        let phq9 = bundled("phq9");
        let mut answers = answers_totalling(&phq9, 0.0);
        answers.insert("9".into(), Answer::Number(1.0));
        answers.insert("difficulty".into(), Answer::Number(3.0));
        let scored = phq9.score(&answers, None).unwrap();
        assert_eq!(scored.total, Some(1.0));
        assert_eq!(scored.safety, ["phq9_item9"]);
        answers.remove("3");
        let missing = phq9.score(&answers, None).unwrap_err();
        assert_eq!(missing.errors[0].field, "answers.3");
    }

    #[test]
    fn gad7_bands_change_exactly_at_the_published_boundaries() {
        let expected = [
            (0.0, "minimal"),
            (4.0, "minimal"),
            (5.0, "mild"),
            (9.0, "mild"),
            (10.0, "moderate"),
            (14.0, "moderate"),
            (15.0, "severe"),
            (21.0, "severe"),
        ];
        for (total, band) in expected {
            assert_eq!(
                band_at("gad7", total, None).as_deref(),
                Some(band),
                "GAD-7 {total}"
            );
        }
    }

    #[test]
    fn cows_bands_and_item_scores_follow_wesson_and_ling() {
        let expected = [
            (0.0, "none"),
            (4.0, "none"),
            (5.0, "mild"),
            (12.0, "mild"),
            (13.0, "moderate"),
            (24.0, "moderate"),
            (25.0, "moderately_severe"),
            (36.0, "moderately_severe"),
            (37.0, "severe"),
            (48.0, "severe"),
        ];
        for (total, band) in expected {
            assert_eq!(
                band_at("cows", total, None).as_deref(),
                Some(band),
                "COWS {total}"
            );
        }
        // Pulse scores 0, 1, 2 or 4: 3 is not a COWS pulse score.
        let cows = bundled("cows");
        let mut answers = answers_totalling(&cows, 0.0);
        answers.insert("1".into(), Answer::Number(3.0));
        let error = cows.score(&answers, None).unwrap_err();
        assert_eq!(error.errors[0].field, "answers.1");
        assert!(
            error.errors[0].detail.contains("0, 1, 2, 4"),
            "{}",
            error.errors[0].detail
        );
        assert_eq!(cows.rater, Rater::Clinician);
    }

    #[test]
    fn sows_sums_sixteen_items_without_bands() {
        let sows = bundled("sows");
        assert_eq!(sows.scored_items().count(), 16);
        assert_eq!(band_at("sows", 13.0, None), None);
        assert_eq!(band_at("sows", 64.0, None), None);
    }

    #[test]
    fn an_organization_may_band_sows_but_not_phq9() {
        let band = |code: &str, min: f64, max: f64| Band {
            code: code.into(),
            label: code.into(),
            min,
            max,
            sex: None,
        };
        let sows = bundled("sows")
            .with_bands(vec![
                band("mild", 0.0, 10.0),
                band("moderate", 11.0, 20.0),
                band("severe", 21.0, 64.0),
            ])
            .unwrap();
        let scored = sows.score(&answers_totalling(&sows, 15.0), None).unwrap();
        assert_eq!(scored.band.unwrap().code, "moderate");
        assert!(
            bundled("sows")
                .with_bands(vec![band("mild", 0.0, 10.0), band("severe", 12.0, 64.0)])
                .is_err()
        );
        assert!(
            bundled("phq9")
                .with_bands(vec![band("all", 0.0, 27.0)])
                .is_err()
        );
    }

    #[test]
    fn peg3_is_the_mean_of_its_three_items() {
        let peg = bundled("peg3");
        let answers: BTreeMap<String, Answer> = [("1", 7.0), ("2", 4.0), ("3", 5.0)]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Answer::Number(*v)))
            .collect();
        let scored = peg.score(&answers, None).unwrap();
        assert!((scored.total.unwrap() - 16.0 / 3.0).abs() < 1e-12);
        let out_of_range: BTreeMap<String, Answer> = [("1", 11.0), ("2", 4.0), ("3", 5.5)]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Answer::Number(*v)))
            .collect();
        let fields: Vec<String> = peg
            .score(&out_of_range, None)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["answers.1", "answers.3"]);
    }

    #[test]
    fn auditc_uses_sex_specific_cut_offs() {
        // US/VA: positive at 4 or more for men, 3 or more for women; unknown sex uses the lower cut-off.
        assert_eq!(
            band_at("auditc", 3.0, Some(SexAtBirth::Male)).as_deref(),
            Some("negative")
        );
        assert_eq!(
            band_at("auditc", 4.0, Some(SexAtBirth::Male)).as_deref(),
            Some("positive")
        );
        assert_eq!(
            band_at("auditc", 2.0, Some(SexAtBirth::Female)).as_deref(),
            Some("negative")
        );
        assert_eq!(
            band_at("auditc", 3.0, Some(SexAtBirth::Female)).as_deref(),
            Some("positive")
        );
        assert_eq!(band_at("auditc", 3.0, None).as_deref(), Some("positive"));
        assert_eq!(
            band_at("auditc", 3.0, Some(SexAtBirth::Intersex)).as_deref(),
            Some("positive")
        );
        assert_eq!(
            band_at("auditc", 12.0, Some(SexAtBirth::Male)).as_deref(),
            Some("positive")
        );
    }

    #[test]
    fn pain_nrs_and_craving_are_single_items() {
        let expected = [
            (0.0, "none"),
            (1.0, "mild"),
            (3.0, "mild"),
            (4.0, "moderate"),
            (6.0, "moderate"),
            (7.0, "severe"),
            (10.0, "severe"),
        ];
        for (total, band) in expected {
            assert_eq!(
                band_at("pain_nrs", total, None).as_deref(),
                Some(band),
                "pain {total}"
            );
        }
        assert_eq!(band_at("craving", 8.0, None), None);
    }

    #[test]
    fn kratom_use_disorder_is_mild_from_two_criteria_moderate_from_four_and_severe_from_six() {
        let bands: Vec<Option<String>> = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 11.0]
            .into_iter()
            .map(|total| band_at("kud_dsm5", total, None))
            .collect();
        let expected = [
            "none", "mild", "mild", "moderate", "moderate", "severe", "severe",
        ];
        assert_eq!(
            bands,
            expected.map(|b| Some(b.to_owned())).to_vec(),
            "DSM-5 severity by criteria met"
        );
        assert_eq!(bundled("kud_dsm5").rater, Rater::Clinician);
    }

    #[test]
    fn any_red_flag_answered_yes_raises_one_red_flag_rule() {
        let flags = bundled("red_flags");
        let answers: BTreeMap<String, Answer> =
            [("1", 0.0), ("2", 1.0), ("3", 0.0), ("4", 1.0), ("5", 0.0)]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Answer::Number(*v)))
                .collect();
        let scored = flags.score(&answers, None).unwrap();
        assert_eq!(scored.total, None);
        assert_eq!(scored.safety, ["red_flag_symptom"]);
    }

    #[test]
    fn a_sleep_diary_checks_its_entries_and_has_no_total() {
        let diary = bundled("sleep_diary");
        let answers: BTreeMap<String, Answer> = [
            ("1", Answer::Text("22:30".into())),
            ("2", Answer::Text("23:00".into())),
            ("3", Answer::Number(20.0)),
            ("4", Answer::Number(2.0)),
            ("5", Answer::Number(40.0)),
            ("6", Answer::Text("06:30".into())),
            ("7", Answer::Text("07:00".into())),
            ("8", Answer::Number(3.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let scored = diary.score(&answers, None).unwrap();
        assert_eq!((scored.total, scored.band), (None, None));
        let mut wrong = answers.clone();
        wrong.insert("1".into(), Answer::Text("half ten".into()));
        wrong.insert("3".into(), Answer::Number(-5.0));
        let fields: Vec<String> = diary
            .score(&wrong, None)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["answers.1", "answers.3"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"
        code = "tiny"
        name = "Tiny scale"
        short_name = "TINY"
        rater = "patient"
        instructions = "Answer both."
        attribution = "test"
        licence = "test"
        source = "test"
        [scoring]
        method = "sum"
        min = 0
        max = 6
        [option_sets.three]
        options = [ { value = 0, label = "No" }, { value = 1, label = "Some" }, { value = 3, label = "Lots" } ]
        [[items]]
        id = "1"
        text = "First"
        option_set = "three"
        [[items]]
        id = "2"
        text = "Second"
        option_set = "three"
        safety = "tiny_item2"
        [[items]]
        id = "extra"
        text = "Unscored"
        options = [ { value = 0, label = "A" }, { value = 1, label = "B" } ]
        scored = false
        required = false
        [[bands]]
        code = "low"
        label = "Low"
        min = 0
        max = 2
        [[bands]]
        code = "high"
        label = "High"
        min = 3
        max = 6
    "#;

    fn answers(pairs: &[(&str, f64)]) -> BTreeMap<String, Answer> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Answer::Number(*v)))
            .collect()
    }

    #[test]
    fn a_valid_file_loads_and_scores_with_its_bands() {
        let tiny = Instrument::parse("tiny.toml", TINY).unwrap();
        let scored = tiny
            .score(&answers(&[("1", 0.0), ("2", 1.0)]), None)
            .unwrap();
        assert_eq!(
            (scored.total, scored.band.unwrap().code.as_str()),
            (Some(1.0), "low")
        );
        assert_eq!(scored.safety, ["tiny_item2"]);
        let scored = tiny
            .score(&answers(&[("1", 3.0), ("2", 0.0), ("extra", 1.0)]), None)
            .unwrap();
        assert_eq!(
            (scored.total, scored.band.unwrap().code.as_str()),
            (Some(3.0), "high")
        );
        assert!(scored.safety.is_empty());
    }

    #[test]
    fn missing_unknown_and_impossible_answers_name_their_items() {
        let tiny = Instrument::parse("tiny.toml", TINY).unwrap();
        let errors = tiny
            .score(&answers(&[("2", 2.0), ("7", 1.0)]), None)
            .unwrap_err();
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["answers.7", "answers.1", "answers.2"]);
        assert!(errors.errors[2].detail.contains("0, 1, 3"));
    }

    #[test]
    fn a_declared_range_the_items_cannot_produce_is_refused() {
        let wrong = TINY.replace("max = 6\n", "max = 9\n");
        assert!(matches!(
            Instrument::parse("tiny.toml", &wrong),
            Err(InstrumentError::Invalid { .. })
        ));
    }

    #[test]
    fn bands_with_a_gap_are_refused() {
        let gap = TINY.replace("min = 3\n        max = 6", "min = 4\n        max = 6");
        let error = Instrument::parse("tiny.toml", &gap)
            .unwrap_err()
            .to_string();
        assert!(error.contains("gap"), "{error}");
    }
}
