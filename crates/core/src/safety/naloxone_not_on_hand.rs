//! Naloxone not on hand — unknown, none, or past its expiry — for a patient exposed to
//! opioids: kratom itself (mitragynine and 7-OH act on the mu-opioid receptor; 7-OH's
//! respiratory depression does not plateau in mice, Hill 2022), an opioid on the
//! medication list, an overdose in the last year, or non-prescribed opioid use in the
//! last 90 days. Overdose education and naloxone are the guideline's advice for anyone
//! at raised overdose risk (plans-and-therapy.md §1.1, CDC 2022; §4.5, SAMHSA caution:
//! pair abstinence incentives with naloxone).

use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};
use crate::medication::{MedicationClass, is_active_on};
use crate::monitoring::{OPIOID_USE_WINDOW, OVERDOSE_HISTORY};

pub const GUIDANCE: Guidance = Guidance {
    title: "Naloxone not on hand",
    consider: "Offer naloxone (nasal spray is simplest) and show the patient and the people \
               they live with how to use it; record where it is kept and its expiry date. \
               Many pharmacies supply it without a prescription.",
    source: "shared/reference/plans-and-therapy.md §1.1 (CDC 2022: overdose education and \
             naloxone) and §4.5 (SAMHSA: pair with naloxone); pharmacology.md §5 (Hill 2022: \
             7-OH respiratory depression; Olsen 2019 MMWR)",
    evidence: "Naloxone for people at risk of opioid overdose is guideline advice; whether \
               kratom alone warrants it is expert opinion from its opioid pharmacology.",
};

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let today = facts.today();
    let monitoring = &facts.monitoring;
    let mut exposure = Vec::new();
    if let Some(dose) = facts.latest_dose_in_use() {
        exposure.push(format!("kratom logged (latest {})", dose.local_date));
    }
    for m in facts.medications.iter().filter(|m| {
        m.class == MedicationClass::Opioid && is_active_on(m.started_on, m.stopped_on, today)
    }) {
        exposure.push(format!("{} on the medication list", m.name));
    }
    if let Some(o) = monitoring
        .overdoses
        .iter()
        .filter(|o| o.occurred_at > facts.now - OVERDOSE_HISTORY)
        .max_by_key(|o| o.occurred_at)
    {
        exposure.push(format!(
            "an overdose on {}",
            o.occurred_at.to_zoned_datetime(facts.zone.clone()).date()
        ));
    }
    let use_since = (facts.now - OPIOID_USE_WINDOW)
        .to_zoned_datetime(facts.zone.clone())
        .date();
    if let Some(u) = monitoring
        .opioid_use
        .iter()
        .filter(|u| u.used_on >= use_since)
        .max_by_key(|u| u.used_on)
    {
        exposure.push(format!("{} used on {}", u.substance, u.used_on));
    }
    if let Some((_, at)) = monitoring.reported_opioid_use {
        exposure.push(format!(
            "non-prescribed opioid use reported at check-in on {}",
            at.to_zoned_datetime(facts.zone.clone()).date()
        ));
    }
    if exposure.is_empty() {
        return None;
    }
    let (state, episode) = match &monitoring.naloxone {
        None => ("not recorded".to_owned(), "unknown".to_owned()),
        Some(n) if !n.status.on_hand => (
            "recorded as not on hand".to_owned(),
            format!("none:{}", n.updated_at),
        ),
        Some(n) => match n.status.expires_on {
            Some(expires) if expires < today => (
                format!("expired on {expires}"),
                format!("expired:{expires}"),
            ),
            _ => return None,
        },
    };
    Some(Finding {
        rule: Rule::NaloxoneNotOnHand,
        scope: String::new(),
        episode,
        summary: format!("Naloxone {state}; opioid exposure: {}", exposure.join("; ")),
        evidence: json!({
            "naloxone": state,
            "expires_on": monitoring.naloxone.as_ref().and_then(|n| n.status.expires_on).map(|d| d.to_string()),
            "opioid_exposure": exposure,
        }),
        source: Source::Patient,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{NaloxoneFact, NaloxoneStatus};
    use crate::safety::test_support::{dose_at, facts, hours_ago, with_doses};

    fn naloxone(on_hand: bool, expires_on: Option<jiff::civil::Date>) -> NaloxoneFact {
        NaloxoneFact {
            status: NaloxoneStatus {
                on_hand,
                form: None,
                obtained_on: None,
                expires_on,
                location: None,
            },
            updated_at: hours_ago(24),
        }
    }

    #[test]
    fn no_opioid_exposure_means_no_prompt() {
        assert!(evaluate(&facts()).is_none());
    }

    #[test]
    fn kratom_in_use_with_naloxone_unknown_prompts_and_a_kit_on_hand_does_not() {
        let mut f = with_doses(facts(), vec![dose_at(hours_ago(5), 30.0)]);
        let finding = evaluate(&f).unwrap();
        assert_eq!(finding.episode, "unknown");
        f.monitoring.naloxone = Some(naloxone(true, None));
        assert!(evaluate(&f).is_none());
        f.monitoring.naloxone = Some(naloxone(false, None));
        assert!(evaluate(&f).unwrap().summary.contains("not on hand"));
    }

    #[test]
    fn a_kit_is_good_on_its_expiry_date_and_expired_the_day_after() {
        let mut f = with_doses(facts(), vec![dose_at(hours_ago(5), 30.0)]);
        let today = f.today();
        f.monitoring.naloxone = Some(naloxone(true, Some(today)));
        assert!(evaluate(&f).is_none());
        f.monitoring.naloxone = Some(naloxone(true, today.yesterday().ok()));
        assert!(evaluate(&f).unwrap().episode.starts_with("expired:"));
    }

    #[test]
    fn reported_opioid_use_counts_as_exposure_without_kratom() {
        let mut f = facts();
        f.monitoring.reported_opioid_use = Some((crate::ids::AssessmentId::new(), hours_ago(48)));
        assert!(evaluate(&f).is_some());
    }
}
