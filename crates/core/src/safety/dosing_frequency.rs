//! Five or more doses a day on 3 of the last 7 days (patient-local days, from the
//! maintained daily totals).
//!
//! Source: pharmacology.md §3 (Rogers 2024: withdrawal and kratom use disorder track
//! dose *frequency* more than amount; Grundmann 2017: harms cluster at ≥22 doses a
//! week) and instruments.md (Rogers 2024 [57]).

use jiff::ToSpan;
use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};

pub const GUIDANCE: Guidance = Guidance {
    title: "Frequent dosing",
    consider: "Frequent redosing suggests dependence and inter-dose withdrawal. Ask about \
               withdrawal between doses, sleep and craving; consider a SOWS or COWS, a DSM-5 \
               kratom use disorder assessment, and whether a supervised taper or \
               buprenorphine is appropriate. Raised when the pattern starts (or returns after \
               3 days without it), not restated while it continues.",
    source: "shared/reference/pharmacology.md §3 (Rogers 2024 Drug Alcohol Depend 111329; \
             Grundmann 2017) and instruments.md [57]",
    evidence: "Frequency predicted withdrawal and KUD better than amount in one survey of 395 \
               US users (Rogers 2024); the 5-a-day, 3-of-7 threshold is a clinic convention.",
};

pub const DOSES_PER_DAY: usize = 5;
pub const DAYS_NEEDED: usize = 3;
const DAYS_LOOKED_AT: i64 = 7;

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let today = facts.today();
    let first = today.checked_sub((DAYS_LOOKED_AT - 1).days()).ok()?;
    let per_day = facts.days_between(first, today);
    let heavy_days: Vec<_> = per_day
        .iter()
        .filter(|day| day.doses >= DOSES_PER_DAY)
        .collect();
    if heavy_days.len() < DAYS_NEEDED {
        return None;
    }
    // The newest dose of a heavy day is among the recent doses read one by one
    // (see `RECENT_DOSES`).
    let latest = facts
        .doses
        .iter()
        .filter(|d| d.taken_at <= facts.now && heavy_days.iter().any(|h| h.date == d.local_date))
        .max_by_key(|d| d.taken_at)?;
    Some(Finding {
        rule: Rule::DosingFrequency,
        scope: String::new(),
        // One condition for as long as it goes on (see `Recurrence::WhileContinuing`):
        // a steady pattern is not restated weekly; a return after a break is new.
        episode: "frequent".to_owned(),
        summary: format!(
            "{} or more doses a day on {} of the last 7 days",
            DOSES_PER_DAY,
            heavy_days.len()
        ),
        evidence: json!({
            "days": per_day.iter().map(|day| json!({
                "date": day.date.to_string(), "doses": day.doses,
            })).collect::<Vec<_>>(),
            "days_with_5_or_more": heavy_days.len(),
            "from": first.to_string(),
            "to": today.to_string(),
        }),
        source: Source::Dose(latest.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::test_support::{day_totals_of, dose_at, facts, hours_ago};

    /// `count` doses on the day `days_ago` before today (UTC, test zone).
    fn day(days_ago: i64, count: usize) -> Vec<crate::safety::DoseFact> {
        (0..count)
            .map(|i| dose_at(hours_ago(days_ago * 24 + i as i64), 10.0))
            .collect()
    }

    #[test]
    fn five_doses_on_three_days_fires_and_on_two_days_does_not() {
        let mut f = facts();
        f.doses = [day(0, 5), day(2, 5), day(4, 4)].concat();
        f.day_totals = day_totals_of(&f.doses);
        assert!(evaluate(&f).is_none(), "4 a day does not count");
        f.doses.extend(day(5, 5));
        f.day_totals = day_totals_of(&f.doses);
        let finding = evaluate(&f).unwrap();
        assert_eq!(finding.evidence["days_with_5_or_more"], 3);
    }

    #[test]
    fn a_heavy_day_seven_days_ago_is_outside_the_week() {
        let mut f = facts();
        f.doses = [day(0, 6), day(1, 6), day(7, 6)].concat();
        f.day_totals = day_totals_of(&f.doses);
        assert!(evaluate(&f).is_none());
        f.doses.extend(day(6, 5));
        f.day_totals = day_totals_of(&f.doses);
        assert!(evaluate(&f).is_some());
    }
}
