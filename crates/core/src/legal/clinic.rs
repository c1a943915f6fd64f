//! An organization's own legal rows, curated on `/admin/knowledge` beside the shipped
//! dataset (which never changes): a clinic adds a rule the dataset lacks (a county
//! ordinance, a law passed after the dataset was compiled) or overrides a shipped rule
//! it has re-verified. Each row cites its own source and carries its own last-verified
//! date, so the stale badge and the review interval work on it exactly as on shipped
//! rows (legal-and-products.md §4.2–§4.3).

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{
    Conditions, Confidence, LegalDataError, LegalDataset, LegalStatus, PartialDate, RawRule,
    RuleOrigin, Source, SourceGrade, SourceLink, Stance, SubstanceScope, VerificationMethod,
    normalize_code,
};
use crate::FieldErrors;
use crate::amount::parse_amount;

/// The prefix of the source ids a clinic's rows cite, so they never collide with shipped ones.
const SOURCE_PREFIX: &str = "clinic:";

/// The document a clinic's row rests on.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClinicSource {
    pub url: String,
    pub title: String,
    pub grade: SourceGrade,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

/// A clinic's own rule, stored as JSON in `knowledge_overrides` (kind `legal`). With the
/// id of a shipped rule it replaces that rule for the organization (keeping its
/// jurisdiction, scope and instrument); with any other id it adds one.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClinicRule {
    pub id: String,
    pub jurisdiction: String,
    pub substance_scope: SubstanceScope,
    pub status: LegalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_to: Option<String>,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    pub source: ClinicSource,
    pub last_verified: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The curation form as typed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClinicRuleFields<'a> {
    /// Empty to add a rule; a shipped rule's id to override it.
    pub id: &'a str,
    pub jurisdiction: &'a str,
    pub substance_scope: &'a str,
    pub status: &'a str,
    pub effective_from: &'a str,
    pub effective_to: &'a str,
    pub min_age: &'a str,
    pub max_hydroxy_mg_per_serving: &'a str,
    /// Percent by weight, as a certificate prints it (0.04 for 0.04 %).
    pub max_hydroxy_percent_w_w: &'a str,
    pub source_url: &'a str,
    pub source_title: &'a str,
    pub source_grade: &'a str,
    pub source_published: &'a str,
    pub last_verified: &'a str,
    pub notes: &'a str,
}

fn text(raw: &str) -> Option<String> {
    let joined = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

fn one_of<T: Copy>(
    errors: &mut FieldErrors,
    field: &str,
    raw: &str,
    all: &[T],
    code: impl Fn(T) -> &'static str,
) -> Option<T> {
    let raw = raw.trim();
    let found = all.iter().copied().find(|v| code(*v) == raw);
    if found.is_none() {
        if raw.is_empty() {
            errors.push(field, "choose one from the list");
        } else {
            let codes: Vec<&str> = all.iter().map(|v| code(*v)).collect();
            errors.push(field, format!("{raw:?} is not one of {}", codes.join(", ")));
        }
    }
    found
}

fn partial_date(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<PartialDate> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match PartialDate::parse(raw) {
        Ok(date) => Some(date),
        Err(message) => {
            errors.push(field, message);
            None
        }
    }
}

fn limit(errors: &mut FieldErrors, field: &str, raw: &str, max: f64, unit: &str) -> Option<f64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match parse_amount(raw) {
        Ok(value) if value > 0.0 && value <= max => Some(value),
        Ok(_) => {
            errors.push(
                field,
                format!("enter a limit above 0 and at most {max} {unit}"),
            );
            None
        }
        Err(error) => {
            errors.push(field, error.to_string());
            None
        }
    }
}

impl ClinicRule {
    /// Reads the curation form against the dataset as the organization sees it: the
    /// jurisdiction must be one the dataset knows, an override keeps the shipped rule's
    /// jurisdiction, scope and instrument (and the conditions the form does not edit),
    /// and every row cites a source and a verification date no later than `today`.
    pub fn from_fields(
        fields: &ClinicRuleFields<'_>,
        dataset: &LegalDataset,
        today: Date,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let id = fields.id.trim().to_owned();
        let shipped = (!id.is_empty())
            .then(|| {
                dataset
                    .rules
                    .iter()
                    .find(|r| r.id == id && r.origin == RuleOrigin::Shipped)
            })
            .flatten();
        if !id.is_empty()
            && shipped.is_none()
            && (id.chars().count() > 80
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            errors.push(
                "rule_id",
                "leave empty to add a rule, or give a shipped rule's id (letters, digits, - _ . : only)",
            );
        }
        let code = normalize_code(fields.jurisdiction);
        let jurisdiction = if code.is_empty() {
            errors.push(
                "jurisdiction",
                "give a jurisdiction code such as US-TN, TH or US-CA:city:san-diego",
            );
            None
        } else if dataset.jurisdictions.contains_key(&code) {
            Some(code)
        } else {
            errors.push(
                "jurisdiction",
                format!(
                    "{code:?} is not in the legal dataset; codes look like US-TN, TH or US-CA:city:san-diego"
                ),
            );
            None
        };
        let scope = one_of(
            &mut errors,
            "substance_scope",
            fields.substance_scope,
            SubstanceScope::ALL,
            SubstanceScope::as_str,
        );
        let status = one_of(
            &mut errors,
            "status",
            fields.status,
            LegalStatus::ALL,
            LegalStatus::as_str,
        );
        if let Some(shipped) = shipped {
            if jurisdiction
                .as_deref()
                .is_some_and(|j| j != shipped.jurisdiction)
            {
                errors.push(
                    "jurisdiction",
                    format!(
                        "an override keeps the shipped rule's jurisdiction ({}); leave the id empty to add a rule elsewhere",
                        shipped.jurisdiction
                    ),
                );
            }
            if scope.is_some_and(|s| s != shipped.substance_scope) {
                errors.push(
                    "substance_scope",
                    format!(
                        "an override keeps the shipped rule's scope ({}); leave the id empty to add a rule for another scope",
                        shipped.substance_scope
                    ),
                );
            }
        }
        let from = partial_date(&mut errors, "effective_from", fields.effective_from);
        let to = partial_date(&mut errors, "effective_to", fields.effective_to);
        if let (Some(from), Some(to)) = (&from, &to)
            && from.first_day >= to.first_day
        {
            errors.push("effective_to", "the end must be after the start");
        }
        let min_age = match fields.min_age.trim() {
            "" => None,
            raw => match raw.parse::<u8>() {
                Ok(age) if (1..=99).contains(&age) => Some(age),
                _ => {
                    errors.push("min_age", "enter an age in whole years, 1 to 99");
                    None
                }
            },
        };
        let max_mg = limit(
            &mut errors,
            "max_hydroxy_mg_per_serving",
            fields.max_hydroxy_mg_per_serving,
            1000.0,
            "mg",
        );
        let max_percent = limit(
            &mut errors,
            "max_hydroxy_percent_w_w",
            fields.max_hydroxy_percent_w_w,
            100.0,
            "%",
        );
        let url = fields.source_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(char::is_whitespace)
            || url.len() > 500
        {
            errors.push(
                "source_url",
                "give the address of the law, notice or analysis (https://…)",
            );
        }
        let title = text(fields.source_title);
        if title.as_ref().is_none_or(|t| t.chars().count() > 300) {
            errors.push(
                "source_title",
                "give the source's title (up to 300 characters)",
            );
        }
        let grade = one_of(
            &mut errors,
            "source_grade",
            fields.source_grade,
            SourceGrade::ALL,
            SourceGrade::as_str,
        );
        let published =
            partial_date(&mut errors, "source_published", fields.source_published).map(|d| d.text);
        let last_verified = match fields.last_verified.trim().parse::<Date>() {
            Ok(date) if date > today => {
                errors.push(
                    "last_verified",
                    "the verification date cannot be in the future",
                );
                None
            }
            Ok(date) if date.year() < 2000 => {
                errors.push("last_verified", "enter the date you checked the source");
                None
            }
            Ok(date) => Some(date),
            Err(_) => {
                errors.push(
                    "last_verified",
                    "enter the date you checked the source, as YYYY-MM-DD",
                );
                None
            }
        };
        let notes = text(fields.notes);
        if notes.as_ref().is_some_and(|n| n.chars().count() > 1000) {
            errors.push("notes", "keep the notes under 1,000 characters");
        }
        let mut conditions = shipped.map(|s| s.conditions.clone()).unwrap_or_default();
        conditions.min_age = min_age;
        conditions.max_hydroxy_mg_per_serving = max_mg;
        // Stored as a fraction, as the shipped dataset does (0.0004 for 0.04 %).
        conditions.max_hydroxy_w_w = max_percent.map(|p| p / 100.0);
        let (
            Some(jurisdiction),
            Some(substance_scope),
            Some(status),
            Some(title),
            Some(grade),
            Some(last_verified),
        ) = (jurisdiction, scope, status, title, grade, last_verified)
        else {
            return Err(errors);
        };
        let id = if id.is_empty() {
            format!(
                "clinic-{}-{}",
                jurisdiction.to_lowercase().replace(':', "-"),
                substance_scope.as_str().to_lowercase().replace('_', "-")
            )
        } else {
            id
        };
        errors.into_result(|| ClinicRule {
            id,
            jurisdiction,
            substance_scope,
            status,
            instrument: shipped.and_then(|s| s.instrument.clone()),
            effective_from: from.map(|d| d.text),
            effective_to: to.map(|d| d.text),
            conditions,
            source: ClinicSource {
                url: url.to_owned(),
                title,
                grade,
                published,
            },
            last_verified,
            notes,
        })
    }

    fn source_id(&self) -> String {
        format!("{SOURCE_PREFIX}{}", self.id)
    }

    fn raw(&self) -> RawRule {
        RawRule {
            id: self.id.clone(),
            jurisdiction: self.jurisdiction.clone(),
            substance_scope: self.substance_scope,
            status: self.status,
            instrument: self.instrument.clone(),
            effective_from: self.effective_from.clone(),
            effective_to: self.effective_to.clone(),
            expires_on: None,
            conditions: self.conditions.clone(),
            sources: vec![SourceLink {
                source: self.source_id(),
                stance: Stance::Supports,
                fields: Vec::new(),
            }],
            last_verified: self.last_verified,
            // A clinic reading the law itself is what the review asks for; the grade of
            // its source says how strong that reading is.
            method: VerificationMethod::PrimaryTextRead,
            confidence: match self.source.grade {
                SourceGrade::PrimaryLaw | SourceGrade::GovernmentNotice | SourceGrade::Court => {
                    Confidence::High
                }
                SourceGrade::OfficialPress | SourceGrade::LegalAnalysis => Confidence::Medium,
                _ => Confidence::Low,
            },
            next_review_due: None,
            conflicts: Vec::new(),
            notes: self.notes.clone(),
        }
    }
}

impl LegalDataset {
    /// The dataset with an organization's own rows: each replaces the shipped rule with
    /// its id, or is added. The shipped dataset is untouched, so reverting a row brings
    /// the shipped rule back. Fails when a row no longer fits (its jurisdiction gone from
    /// the dataset, or a second rule for the same jurisdiction, scope and instrument).
    pub fn with_clinic_rules(&self, rows: &[ClinicRule]) -> Result<LegalDataset, LegalDataError> {
        let mut merged = self.clone();
        for row in rows {
            let source_id = row.source_id();
            merged.sources.insert(
                source_id.clone(),
                Source {
                    id: source_id,
                    url: row.source.url.clone(),
                    title: row.source.title.clone(),
                    grade: row.source.grade,
                    published: row.source.published.clone(),
                    accessed: row.last_verified,
                    language: "en".to_owned(),
                },
            );
        }
        for row in rows {
            let replaces = merged
                .rules
                .iter()
                .position(|r| r.id == row.id && r.origin == RuleOrigin::Shipped);
            let origin = if replaces.is_some() {
                RuleOrigin::ClinicOverride
            } else {
                RuleOrigin::Clinic
            };
            let rule = merged.build_rule(row.raw(), origin)?;
            if let Some(clash) =
                merged.rules.iter().enumerate().find(|(i, r)| {
                    Some(*i) != replaces && (r.id == rule.id || r.key() == rule.key())
                })
            {
                return Err(LegalDataError::Invalid {
                    owner: format!("rule {}", rule.id),
                    problem: format!(
                        "rule {} already covers {} for {}; override that rule instead",
                        clash.1.id,
                        rule.substance_scope.label(),
                        rule.jurisdiction
                    ),
                });
            }
            match replaces {
                Some(i) => merged.rules[i] = rule,
                None => merged.rules.push(rule),
            }
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn dataset() -> LegalDataset {
        LegalDataset::bundled().expect("the bundled dataset is valid")
    }

    fn fields<'a>(jurisdiction: &'a str, scope: &'a str, status: &'a str) -> ClinicRuleFields<'a> {
        ClinicRuleFields {
            jurisdiction,
            substance_scope: scope,
            status,
            effective_from: "2026-10-01",
            source_url: "https://county.example.gov/ordinance-2026-14",
            source_title: "County ordinance 2026-14",
            source_grade: "primary_law",
            last_verified: "2026-11-20",
            ..ClinicRuleFields::default()
        }
    }

    fn any_shipped_rule(dataset: &LegalDataset) -> super::super::LegalRule {
        dataset
            .rules
            .iter()
            .find(|r| r.jurisdiction == "US-TN")
            .or_else(|| dataset.rules.first())
            .cloned()
            .expect("the dataset has rules")
    }

    #[test]
    fn a_clinic_rule_for_a_place_the_dataset_lacks_is_added_and_cited() {
        let shipped = dataset();
        let rule = ClinicRule::from_fields(
            &fields("us-tn", "7_OH_concentrated", "controlled_banned"),
            &shipped,
            date(2026, 12, 2),
        )
        .expect("valid");
        assert_eq!(rule.jurisdiction, "US-TN");
        let merged = shipped.with_clinic_rules(&[rule]).expect("fits");
        let answer = merged
            .rules_in_force("US-TN", date(2026, 12, 2))
            .expect("known");
        let added = answer
            .rules
            .iter()
            .find(|r| r.origin == RuleOrigin::Clinic)
            .expect("the clinic's rule is in force");
        assert_eq!(added.status, LegalStatus::ControlledBanned);
        assert_eq!(added.sources[0].title, "County ordinance 2026-14");
        assert!(!added.stale);
        // Before its start it does not apply.
        let before = merged
            .rules_in_force("US-TN", date(2026, 9, 30))
            .expect("known");
        assert!(before.rules.iter().all(|r| r.origin == RuleOrigin::Shipped));
        // The shipped dataset itself is unchanged.
        assert!(
            shipped
                .rules
                .iter()
                .all(|r| r.origin == RuleOrigin::Shipped)
        );
    }

    #[test]
    fn an_override_replaces_the_shipped_rule_and_keeps_its_jurisdiction_scope_and_instrument() {
        let shipped = dataset();
        let original = any_shipped_rule(&shipped);
        let mut form = fields(
            &original.jurisdiction,
            original.substance_scope.as_str(),
            "unclear",
        );
        form.id = &original.id;
        form.effective_from = "";
        let rule = ClinicRule::from_fields(&form, &shipped, date(2026, 12, 2)).expect("valid");
        assert_eq!(rule.instrument, original.instrument);
        let merged = shipped.with_clinic_rules(&[rule]).expect("fits");
        let replaced: Vec<_> = merged
            .rules
            .iter()
            .filter(|r| r.id == original.id)
            .collect();
        assert_eq!(replaced.len(), 1, "one rule with the id, not two");
        assert_eq!(replaced[0].origin, RuleOrigin::ClinicOverride);
        assert_eq!(replaced[0].status, LegalStatus::Unclear);
        assert_eq!(merged.rules.len(), shipped.rules.len());

        let mut moved = form;
        moved.jurisdiction = "TH";
        let errors = ClinicRule::from_fields(&moved, &shipped, date(2026, 12, 2))
            .expect_err("an override cannot move");
        assert!(errors.errors.iter().any(|e| e.field == "jurisdiction"));
    }

    #[test]
    fn a_second_rule_for_the_same_place_and_scope_is_refused_with_the_rule_to_override() {
        let shipped = dataset();
        let original = shipped
            .rules
            .iter()
            .find(|r| r.id == "US-AL.all")
            .cloned()
            .expect("Alabama's rule ships without an instrument");
        let rule = ClinicRule::from_fields(
            &fields(
                &original.jurisdiction,
                original.substance_scope.as_str(),
                "regulated",
            ),
            &shipped,
            date(2026, 12, 2),
        )
        .expect("valid form");
        let error = shipped
            .with_clinic_rules(&[rule])
            .expect_err("a duplicate key");
        assert!(error.to_string().contains(&original.id), "{error}");
    }

    #[test]
    fn the_form_names_each_field_that_is_wrong() {
        let shipped = dataset();
        let form = ClinicRuleFields {
            jurisdiction: "XX-NOPE",
            substance_scope: "leaf",
            status: "banned",
            effective_from: "2026-13",
            effective_to: "",
            min_age: "150",
            max_hydroxy_mg_per_serving: "1,500.5",
            max_hydroxy_percent_w_w: "0",
            source_url: "county website",
            source_title: " ",
            source_grade: "blog",
            source_published: "",
            last_verified: "2027-01-01",
            notes: "",
            id: "",
        };
        let errors =
            ClinicRule::from_fields(&form, &shipped, date(2026, 12, 2)).expect_err("invalid");
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        for field in [
            "jurisdiction",
            "substance_scope",
            "status",
            "effective_from",
            "min_age",
            "max_hydroxy_mg_per_serving",
            "max_hydroxy_percent_w_w",
            "source_url",
            "source_title",
            "source_grade",
            "last_verified",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn a_percent_limit_is_stored_as_the_datasets_fraction_and_reads_back_as_typed() {
        let shipped = dataset();
        let mut form = fields("US-TN", "7_OH", "regulated");
        form.max_hydroxy_percent_w_w = "0,04";
        form.min_age = "21";
        let rule = ClinicRule::from_fields(&form, &shipped, date(2026, 12, 2)).expect("valid");
        let stored = rule
            .conditions
            .max_hydroxy_w_w
            .expect("the limit is stored");
        assert!((stored - 0.0004).abs() < 1e-12);
        assert!(
            rule.conditions
                .describe()
                .iter()
                .any(|line| line.contains("0.04% by weight")),
            "{:?}",
            rule.conditions.describe()
        );
        let json = serde_json::to_string(&rule).expect("serialises");
        let back: ClinicRule = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, rule);
    }

    #[test]
    fn a_clinic_rule_past_its_review_date_is_stale_like_a_shipped_one() {
        let shipped = dataset();
        let mut form = fields("US-TN", "7_OH_concentrated", "controlled_banned");
        form.last_verified = "2024-01-10";
        form.effective_from = "2024-01-01";
        let rule = ClinicRule::from_fields(&form, &shipped, date(2026, 12, 2)).expect("valid");
        let merged = shipped.with_clinic_rules(&[rule]).expect("fits");
        let answer = merged
            .rules_in_force("US-TN", date(2026, 12, 2))
            .expect("known");
        let added = answer
            .rules
            .iter()
            .find(|r| r.origin == RuleOrigin::Clinic)
            .expect("in force");
        assert!(added.stale);
    }
}
