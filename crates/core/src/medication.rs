//! The patient's medication list: what else they take, by class, so the safety
//! rules can see a CNS depressant taken alongside kratom.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::medicines::MedicineKnowledge;
use crate::time::{ClinicalDate, TimeError};
use crate::validation::FieldErrors;

/// Pharmacological classes the rules and the clinician care about. The depressant
/// classes follow pharmacology.md §4 ("Dangerous combinations"): opioids, benzodiazepines,
/// gabapentinoids (by the opioid rule and FDA's 2019 warning), sedating antihistamines,
/// and the other sedative-hypnotics that share their respiratory risk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MedicationClass {
    Opioid,
    Benzodiazepine,
    Gabapentinoid,
    ZDrug,
    Barbiturate,
    SedatingAntihistamine,
    Antidepressant,
    Antipsychotic,
    Stimulant,
    MuscleRelaxant,
    Antiepileptic,
    OpioidAntagonist,
    Antihistamine,
    Antibiotic,
    Antifungal,
    Antiemetic,
    Antiarrhythmic,
    CoughSuppressant,
    AcidReducer,
    Other,
}

impl MedicationClass {
    pub const ALL: [MedicationClass; 20] = [
        MedicationClass::Opioid,
        MedicationClass::Benzodiazepine,
        MedicationClass::Gabapentinoid,
        MedicationClass::ZDrug,
        MedicationClass::Barbiturate,
        MedicationClass::SedatingAntihistamine,
        MedicationClass::Antidepressant,
        MedicationClass::Antipsychotic,
        MedicationClass::Stimulant,
        MedicationClass::MuscleRelaxant,
        MedicationClass::Antiepileptic,
        MedicationClass::OpioidAntagonist,
        MedicationClass::Antihistamine,
        MedicationClass::Antibiotic,
        MedicationClass::Antifungal,
        MedicationClass::Antiemetic,
        MedicationClass::Antiarrhythmic,
        MedicationClass::CoughSuppressant,
        MedicationClass::AcidReducer,
        MedicationClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MedicationClass::Opioid => "opioid",
            MedicationClass::Benzodiazepine => "benzodiazepine",
            MedicationClass::Gabapentinoid => "gabapentinoid",
            MedicationClass::ZDrug => "z_drug",
            MedicationClass::Barbiturate => "barbiturate",
            MedicationClass::SedatingAntihistamine => "sedating_antihistamine",
            MedicationClass::Antidepressant => "antidepressant",
            MedicationClass::Antipsychotic => "antipsychotic",
            MedicationClass::Stimulant => "stimulant",
            MedicationClass::MuscleRelaxant => "muscle_relaxant",
            MedicationClass::Antiepileptic => "antiepileptic",
            MedicationClass::OpioidAntagonist => "opioid_antagonist",
            MedicationClass::Antihistamine => "antihistamine",
            MedicationClass::Antibiotic => "antibiotic",
            MedicationClass::Antifungal => "antifungal",
            MedicationClass::Antiemetic => "antiemetic",
            MedicationClass::Antiarrhythmic => "antiarrhythmic",
            MedicationClass::CoughSuppressant => "cough_suppressant",
            MedicationClass::AcidReducer => "acid_reducer",
            MedicationClass::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MedicationClass::Opioid => "Opioid (incl. methadone, buprenorphine, tramadol)",
            MedicationClass::Benzodiazepine => "Benzodiazepine",
            MedicationClass::Gabapentinoid => "Gabapentinoid (gabapentin, pregabalin)",
            MedicationClass::ZDrug => "Z-drug hypnotic (zolpidem, zopiclone)",
            MedicationClass::Barbiturate => "Barbiturate",
            MedicationClass::SedatingAntihistamine => "Sedating antihistamine",
            MedicationClass::Antidepressant => "Antidepressant",
            MedicationClass::Antipsychotic => "Antipsychotic",
            MedicationClass::Stimulant => "Stimulant",
            MedicationClass::MuscleRelaxant => "Muscle relaxant",
            MedicationClass::Antiepileptic => "Antiepileptic",
            MedicationClass::OpioidAntagonist => {
                "Opioid antagonist (naltrexone, naloxone, nalmefene)"
            }
            MedicationClass::Antihistamine => "Non-sedating antihistamine",
            MedicationClass::Antibiotic => "Antibiotic",
            MedicationClass::Antifungal => "Antifungal",
            MedicationClass::Antiemetic => "Anti-sickness (antiemetic)",
            MedicationClass::Antiarrhythmic => "Heart-rhythm medicine (antiarrhythmic)",
            MedicationClass::CoughSuppressant => "Cough suppressant",
            MedicationClass::AcidReducer => "Acid reducer (H2 blocker)",
            MedicationClass::Other => "Other",
        }
    }

    /// Whether this class depresses breathing and consciousness on top of kratom's
    /// opioid-like action (pharmacology.md §4 and §5, "Deaths and respiratory depression").
    pub fn is_cns_depressant(self) -> bool {
        matches!(
            self,
            MedicationClass::Opioid
                | MedicationClass::Benzodiazepine
                | MedicationClass::Gabapentinoid
                | MedicationClass::ZDrug
                | MedicationClass::Barbiturate
                | MedicationClass::SedatingAntihistamine
                | MedicationClass::MuscleRelaxant
        )
    }

    /// The class a code names: case, spaces and hyphens, and a plural are forgiven
    /// (`Benzodiazepines`, `z-drug`).
    pub fn parse(text: &str) -> Option<Self> {
        let code = text.trim().to_lowercase().replace([' ', '-'], "_");
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == code || code.strip_suffix('s') == Some(c.as_str()))
    }
}

/// A medication as entered, before it is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct MedicationEntry {
    /// As typed ("Xanax 0.5 mg").
    pub name: String,
    pub class: MedicationClass,
    /// The lexicon's ingredient, when the name was recognised.
    pub ingredient: Option<String>,
    /// Whether the name was recognised; an unrecognised one is checked against the
    /// interaction table only by the class chosen for it, if any.
    pub recognised: bool,
    /// The strength as typed in the name ("0.5 mg").
    pub strength: Option<String>,
    pub dose_text: Option<String>,
    pub started_on: Option<Date>,
    pub stopped_on: Option<Date>,
}

/// Raw fields from a form or a JSON body.
#[derive(Clone, Debug, Default)]
pub struct MedicationFields<'a> {
    pub name: &'a str,
    /// Empty: the class the lexicon gives for the name (`other` when not recognised).
    pub class: &'a str,
    pub dose_text: Option<&'a str>,
    pub started_on: Option<&'a str>,
    pub stopped_on: Option<&'a str>,
}

const MAX_NAME: usize = 120;
const MAX_DOSE_TEXT: usize = 200;

impl MedicationEntry {
    /// Checks every field and reports all problems at once, and resolves the name with the
    /// lexicon. `today` is the patient's local date: a start in the future is refused, a
    /// planned stop is allowed. A class given explicitly wins over the lexicon's.
    pub fn parse(
        fields: &MedicationFields<'_>,
        today: Date,
        knowledge: &MedicineKnowledge,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = clean(fields.name);
        if name.is_empty() {
            errors.push("name", "enter the medication's name");
        } else if name.chars().count() > MAX_NAME {
            errors.push("name", format!("keep the name under {MAX_NAME} characters"));
        }
        let chosen = fields.class.trim();
        let class = if chosen.is_empty() {
            Some(None)
        } else {
            MedicationClass::parse(chosen).map(Some)
        };
        if class.is_none() {
            errors.push(
                "class",
                format!(
                    "{:?} is not a medication class; use one of {}",
                    fields.class,
                    MedicationClass::ALL.map(|c| c.as_str()).join(", ")
                ),
            );
        }
        let dose_text = fields.dose_text.map(clean).filter(|t| !t.is_empty());
        if dose_text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_DOSE_TEXT)
        {
            errors.push(
                "dose_text",
                format!("keep the dose under {MAX_DOSE_TEXT} characters"),
            );
        }
        let started_on = optional_date(&mut errors, "started_on", fields.started_on);
        let stopped_on = optional_date(&mut errors, "stopped_on", fields.stopped_on);
        if started_on.is_some_and(|d| d > today) {
            errors.push("started_on", "a start date cannot be in the future");
        }
        if let (Some(start), Some(stop)) = (started_on, stopped_on)
            && stop < start
        {
            errors.push("stopped_on", "the stop date is before the start date");
        }
        let resolution = knowledge.resolve(&name);
        let class = class
            .flatten()
            .or(resolution.recognised.as_ref().map(|r| r.class))
            .unwrap_or(MedicationClass::Other);
        errors.into_result(|| MedicationEntry {
            name,
            class,
            recognised: resolution.recognised.is_some(),
            ingredient: resolution.recognised.map(|r| r.ingredient),
            strength: resolution.strength,
            dose_text,
            started_on,
            stopped_on,
        })
    }
}

/// Trims and collapses runs of whitespace, so names compare and print cleanly.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn optional_date(errors: &mut FieldErrors, field: &str, text: Option<&str>) -> Option<Date> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    match ClinicalDate::parse(text) {
        Ok(date) => Some(date.get()),
        Err(TimeError::NotADate(_)) => {
            errors.push(field, format!("{text:?} is not a date (YYYY-MM-DD)"));
            None
        }
        Err(error) => {
            errors.push(field, error.to_string());
            None
        }
    }
}

/// Whether a medication with these dates is being taken on `day`.
pub fn is_active_on(started_on: Option<Date>, stopped_on: Option<Date>, day: Date) -> bool {
    started_on.is_none_or(|start| start <= day) && stopped_on.is_none_or(|stop| stop >= day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn fields<'a>(name: &'a str, class: &'a str) -> MedicationFields<'a> {
        MedicationFields {
            name,
            class,
            ..Default::default()
        }
    }

    fn knowledge() -> MedicineKnowledge {
        MedicineKnowledge::bundled().unwrap()
    }

    #[test]
    fn a_medication_needs_a_name_and_a_known_class() {
        let error =
            MedicationEntry::parse(&fields(" ", "sedative"), date(2026, 11, 24), &knowledge())
                .unwrap_err();
        let named: Vec<_> = error.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["name", "class"]);
    }

    #[test]
    fn a_stop_before_the_start_and_a_future_start_are_refused() {
        let mut f = fields("Gabapentin", "gabapentinoid");
        f.started_on = Some("2026-12-01");
        f.stopped_on = Some("2026-11-01");
        let error = MedicationEntry::parse(&f, date(2026, 11, 24), &knowledge()).unwrap_err();
        let named: Vec<_> = error.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["started_on", "stopped_on"]);
    }

    #[test]
    fn dates_before_1990_or_after_2100_are_refused() {
        let mut f = fields("Gabapentin", "gabapentinoid");
        f.started_on = Some("1989-12-31");
        f.stopped_on = Some("2101-01-01");
        let error = MedicationEntry::parse(&f, date(2026, 11, 24), &knowledge()).unwrap_err();
        let named: Vec<_> = error.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["started_on", "stopped_on"]);
        f.started_on = Some("1990-01-01");
        f.stopped_on = Some("2100-12-31");
        assert!(MedicationEntry::parse(&f, date(2026, 11, 24), &knowledge()).is_ok());
    }

    #[test]
    fn without_a_class_the_lexicon_gives_it_and_an_unknown_name_is_kept_as_typed() {
        let today = date(2026, 11, 24);
        let xanax =
            MedicationEntry::parse(&fields("Xanax  0.5 mg", ""), today, &knowledge()).unwrap();
        assert_eq!(xanax.name, "Xanax 0.5 mg");
        assert_eq!(xanax.class, MedicationClass::Benzodiazepine);
        assert_eq!(xanax.ingredient.as_deref(), Some("alprazolam"));
        assert_eq!(xanax.strength.as_deref(), Some("0.5 mg"));
        assert!(xanax.recognised);
        let unknown =
            MedicationEntry::parse(&fields("Grandma's tonic", ""), today, &knowledge()).unwrap();
        assert_eq!(unknown.class, MedicationClass::Other);
        assert_eq!((unknown.recognised, unknown.ingredient), (false, None));
        let chosen =
            MedicationEntry::parse(&fields("Grandma's tonic", "opioid"), today, &knowledge())
                .unwrap();
        assert_eq!(chosen.class, MedicationClass::Opioid);
        assert!(!chosen.recognised);
    }

    #[test]
    fn a_medication_is_active_from_its_start_through_its_stop_day() {
        let (start, stop) = (Some(date(2026, 11, 1)), Some(date(2026, 11, 10)));
        assert!(!is_active_on(start, stop, date(2026, 10, 31)));
        assert!(is_active_on(start, stop, date(2026, 11, 1)));
        assert!(is_active_on(start, stop, date(2026, 11, 10)));
        assert!(!is_active_on(start, stop, date(2026, 11, 11)));
        assert!(is_active_on(None, None, date(2026, 11, 11)));
    }

    #[test]
    fn class_codes_forgive_case_hyphens_and_plurals_but_not_other_words() {
        assert_eq!(
            MedicationClass::parse("Benzodiazepines"),
            Some(MedicationClass::Benzodiazepine)
        );
        assert_eq!(
            MedicationClass::parse(" z-drug "),
            Some(MedicationClass::ZDrug)
        );
        assert_eq!(
            MedicationClass::parse("opioid"),
            Some(MedicationClass::Opioid)
        );
        assert_eq!(MedicationClass::parse("sedative"), None);
    }

    #[test]
    fn only_sedating_classes_count_as_cns_depressants() {
        let depressants: Vec<_> = MedicationClass::ALL
            .into_iter()
            .filter(|c| c.is_cns_depressant())
            .map(MedicationClass::as_str)
            .collect();
        assert_eq!(
            depressants,
            [
                "opioid",
                "benzodiazepine",
                "gabapentinoid",
                "z_drug",
                "barbiturate",
                "sedating_antihistamine",
                "muscle_relaxant"
            ]
        );
    }
}
