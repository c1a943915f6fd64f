//! Taper generators: a plan's steps (a start date and a daily mitragynine target) from a
//! few parameters, and their rounding to what a patient can measure. Pure functions; the
//! plan's use cases preview, store and sign what they produce.
//!
//! Shapes and presets are from `plans-and-therapy.md` §1: linear in the original dose,
//! exponential in the current dose, a fixed amount, and CDC 2022's shorter-use rule
//! (10 % of the original per week down to 30 % of it, then 10 % of the remaining dose per
//! week; Dowell et al., MMWR 2022;71(RR-3), p17). No kratom-specific rate is published
//! (§0): every rate here is the clinician's choice.

use jiff::Span;
use jiff::civil::Date;

use crate::FieldErrors;

/// How the steps fall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratorKind {
    /// One step at `start_mg`: a maintenance plan.
    Constant,
    /// Each step cuts `percent` of the starting dose (linear).
    PercentOfOriginal,
    /// Each step is `(1 − percent/100)` × the previous (exponential).
    PercentOfCurrent,
    /// Each step cuts `amount_mg`.
    FixedAmount,
    /// 10 % of the original per interval down to 30 % of it, then 10 % of the current target.
    CdcShortTerm,
    /// Each step removes `percent` of the starting dose's estimated mu-opioid receptor
    /// occupancy (hyperbolic tapering, Horowitz & Taylor 2019), with the central estimate of
    /// [`occupancy`]'s half-occupancy dose. A model whose constants are uncertain about
    /// tenfold (`plans-and-therapy.md` §2): the preview must say so.
    Occupancy,
}

impl GeneratorKind {
    pub const ALL: [GeneratorKind; 6] = [
        GeneratorKind::Constant,
        GeneratorKind::PercentOfOriginal,
        GeneratorKind::PercentOfCurrent,
        GeneratorKind::FixedAmount,
        GeneratorKind::CdcShortTerm,
        GeneratorKind::Occupancy,
    ];

    pub fn code(self) -> &'static str {
        match self {
            GeneratorKind::Constant => "constant",
            GeneratorKind::PercentOfOriginal => "percent_of_original",
            GeneratorKind::PercentOfCurrent => "percent_of_current",
            GeneratorKind::FixedAmount => "fixed_amount",
            GeneratorKind::CdcShortTerm => "cdc_short_term",
            GeneratorKind::Occupancy => "occupancy",
        }
    }

    pub fn from_code(code: &str) -> Option<GeneratorKind> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// Shapes whose targets shrink towards zero without reaching it: they end only at
    /// `min_mg`, which must then be given.
    pub fn needs_floor(self) -> bool {
        matches!(
            self,
            GeneratorKind::PercentOfCurrent | GeneratorKind::CdcShortTerm
        )
    }
}

/// What the clinician chose.
#[derive(Clone, Debug, PartialEq)]
pub struct Generator {
    pub kind: GeneratorKind,
    pub start_mg: f64,
    pub percent: Option<f64>,
    pub amount_mg: Option<f64>,
    pub interval_days: u32,
    /// Below this the next step is `end_mg` and the schedule ends.
    pub min_mg: Option<f64>,
    /// Where the taper ends (default 0: off kratom).
    pub end_mg: Option<f64>,
    pub start_date: Date,
}

/// One step: from this patient-local date on, this many mg of mitragynine a day (unrounded).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub from: Date,
    pub daily_mg: f64,
}

/// The most steps one schedule may hold: ten years of weekly steps. A longer one is
/// almost certainly a typing error (a percent of 0.01), and would not fit on a page.
pub const MAX_STEPS: usize = 520;

/// The CDC shorter-use preset: the fraction of the original dose where cuts switch from the
/// original to the current dose, and the cut itself (Dowell et al. 2022, p17).
const CDC_SWITCH_FRACTION: f64 = 0.30;
const CDC_CUT: f64 = 0.10;

/// The largest daily mitragynine target a generator accepts, mg: well above the heaviest
/// daily use reported (`pharmacology.md`), so only a typing error meets it.
pub const MAX_DAILY_MG: f64 = 5_000.0;

impl Generator {
    /// The steps, or every invalid parameter named by its field.
    pub fn steps(&self) -> Result<Vec<Step>, FieldErrors> {
        self.check()?;
        let end = self.end_mg.unwrap_or(0.0);
        let floor = self.min_mg.unwrap_or(end);
        let start = self.start_mg;
        let mut targets = vec![start];
        if self.kind != GeneratorKind::Constant {
            let mut current = start;
            for k in 1.. {
                let next = self.next_target(k, current);
                if next < floor || next <= end {
                    if targets.last().is_some_and(|&last| last > end) {
                        targets.push(end);
                    }
                    break;
                }
                if targets.len() >= MAX_STEPS {
                    let mut errors = FieldErrors::new();
                    errors.push(
                        "generator",
                        format!(
                            "this schedule would need more than {MAX_STEPS} steps: use a larger percent or amount, or a higher min_mg"
                        ),
                    );
                    return Err(errors);
                }
                targets.push(next);
                current = next;
            }
        }
        let mut steps = Vec::with_capacity(targets.len());
        for (index, daily_mg) in targets.into_iter().enumerate() {
            let days = i64::from(self.interval_days) * index as i64;
            let from = self
                .start_date
                .checked_add(Span::new().days(days))
                .map_err(|_| {
                    FieldErrors::single(
                        "generator.start_date",
                        "the schedule would run past the calendar's end",
                    )
                })?;
            steps.push(Step { from, daily_mg });
        }
        Ok(steps)
    }

    /// The target of step `k` (k ≥ 1) after a step at `current`.
    fn next_target(&self, k: usize, current: f64) -> f64 {
        let start = self.start_mg;
        let percent = self.percent.unwrap_or(0.0) / 100.0;
        match self.kind {
            GeneratorKind::Constant => current,
            GeneratorKind::PercentOfOriginal => start * (1.0 - percent * k as f64),
            GeneratorKind::PercentOfCurrent => current * (1.0 - percent),
            GeneratorKind::FixedAmount => current - self.amount_mg.unwrap_or(0.0),
            GeneratorKind::CdcShortTerm => {
                let switch = start * CDC_SWITCH_FRACTION;
                if current > switch {
                    (start * (1.0 - CDC_CUT * k as f64)).max(switch)
                } else {
                    current * (1.0 - CDC_CUT)
                }
            }
            GeneratorKind::Occupancy => {
                occupancy::equal_occupancy_step(start, percent, k, occupancy::D50_CENTRAL_MG)
            }
        }
    }

    fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let mg = |value: f64| value.is_finite() && (0.0..=MAX_DAILY_MG).contains(&value);
        if !(mg(self.start_mg) && self.start_mg > 0.0) {
            errors.push(
                "generator.start_mg",
                format!("the starting daily dose must be above 0 and at most {MAX_DAILY_MG} mg"),
            );
        }
        if self.kind != GeneratorKind::Constant && !(1..=365).contains(&self.interval_days) {
            errors.push(
                "generator.interval_days",
                "days between steps must be from 1 to 365",
            );
        }
        match (self.kind, self.percent) {
            (
                GeneratorKind::PercentOfOriginal
                | GeneratorKind::PercentOfCurrent
                | GeneratorKind::Occupancy,
                None,
            ) => {
                errors.push("generator.percent", "give the percent each step cuts");
            }
            (_, Some(percent)) if !(percent.is_finite() && percent > 0.0 && percent < 100.0) => {
                errors.push(
                    "generator.percent",
                    "the percent must be above 0 and below 100",
                );
            }
            _ => {}
        }
        match (self.kind, self.amount_mg) {
            (GeneratorKind::FixedAmount, None) => {
                errors.push("generator.amount_mg", "give the mg each step cuts");
            }
            (_, Some(amount)) if !(mg(amount) && amount > 0.0) => {
                errors.push(
                    "generator.amount_mg",
                    format!("the amount must be above 0 and at most {MAX_DAILY_MG} mg"),
                );
            }
            _ => {}
        }
        let end = self.end_mg.unwrap_or(0.0);
        if !mg(end) {
            errors.push("generator.end_mg", "the end dose must be 0 mg or more");
        } else if self.kind != GeneratorKind::Constant && end >= self.start_mg {
            errors.push(
                "generator.end_mg",
                "a taper ends below where it starts: make end_mg smaller than start_mg",
            );
        }
        match self.min_mg {
            None if self.kind.needs_floor() && end <= 0.0 => errors.push(
                "generator.min_mg",
                "this shape never reaches 0 by itself: give min_mg, the smallest step before stopping",
            ),
            Some(min) if !(mg(min) && min >= end && min < self.start_mg) => errors.push(
                "generator.min_mg",
                "min_mg must lie between end_mg and start_mg",
            ),
            _ => {}
        }
        errors.into_result(|| ())
    }
}

/// The mu-opioid receptor occupancy estimate behind [`GeneratorKind::Occupancy`]
/// (`plans-and-therapy.md` §2, derived there "for orientation only"). Occupancy from
/// mitragynine alone at steady state is `D / (D50 + D)` for a daily dose `D`, with
/// `D50 = Ki / (fu · 0.449 nM per mg/day)` (Tanna 2022's CL/F; fu 0.05–0.15, Ya 2019; MOR Ki
/// 77.9 or 709 nM, Obeng 2021, whose assignment to MG and 7-OH is in doubt). The caveats
/// listed there (7-OH and other alkaloids not modelled, Ki is not an in-vivo ED50, partial
/// agonism) must accompany any display of these figures.
pub mod occupancy {
    /// The half-occupancy daily dose of mitragynine, mg/day, at the favourable end of the
    /// dossier's range (Ki 77.9 nM, fu 0.15): about 1,160 mg/day.
    pub const D50_LOW_MG: f64 = 77.9 / (0.15 * NM_PER_MG_PER_DAY);
    /// At the other end (Ki 709 nM, fu 0.05): about 31,600 mg/day.
    pub const D50_HIGH_MG: f64 = 709.0 / (0.05 * NM_PER_MG_PER_DAY);
    /// The geometric middle of that range, about 6,040 mg/day: the generator's estimate.
    pub const D50_CENTRAL_MG: f64 = 6_044.0;
    /// Average steady-state total plasma mitragynine per mg taken a day (Tanna 2022's
    /// CL/F 233 L/h, molar mass 398.5 g/mol; `plans-and-therapy.md` §2).
    pub const NM_PER_MG_PER_DAY: f64 = 0.449;

    /// Estimated fraction of mu-opioid receptors occupied by mitragynine at `daily_mg`.
    pub fn fraction(daily_mg: f64, d50_mg: f64) -> f64 {
        daily_mg / (d50_mg + daily_mg)
    }

    /// The daily dose that gives occupancy `theta` (the inverse of [`fraction`]).
    pub fn dose_for(theta: f64, d50_mg: f64) -> f64 {
        d50_mg * theta / (1.0 - theta)
    }

    /// Step `k` of a taper from `start_mg` whose every step removes `share` (0–1) of the
    /// starting occupancy: `O_k = O_0 (1 − k·share)`, `D_k = D50 O_k / (1 − O_k)`
    /// (Horowitz & Taylor 2019, inverted as in `plans-and-therapy.md` §1.4).
    pub fn equal_occupancy_step(start_mg: f64, share: f64, k: usize, d50_mg: f64) -> f64 {
        let theta = fraction(start_mg, d50_mg) * (1.0 - share * k as f64);
        if theta <= 0.0 {
            0.0
        } else {
            dose_for(theta, d50_mg)
        }
    }
}

/// A step's target in the assumed product's units, rounded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundedStep {
    pub from: Date,
    /// The exact (unrounded) target, mg of mitragynine.
    pub daily_mg: f64,
    /// The exact target in units (grams, capsules…), before rounding.
    pub exact_units: f64,
    /// What the patient measures: a multiple of `round_to`.
    pub daily_units: f64,
}

/// Converts each step to units at `mg_per_unit` and rounds it to the nearest multiple of
/// `round_to`, never above the previous rounded step (unless the exact target itself rises:
/// a step back); a step that rounds equal to the
/// previous one is merged into it (the earlier step lasts longer). Nearest rather than
/// always down (`plans-and-therapy.md` §1.1 suggests down), so the error stays small both
/// ways; the exact figure is kept beside the rounded one.
pub fn round_steps(steps: &[Step], mg_per_unit: f64, round_to: f64) -> Vec<RoundedStep> {
    let mut rounded: Vec<RoundedStep> = Vec::with_capacity(steps.len());
    if !(mg_per_unit > 0.0 && round_to > 0.0) {
        return rounded;
    }
    for step in steps {
        let exact_units = step.daily_mg / mg_per_unit;
        let mut units = (exact_units / round_to).round() * round_to;
        if let Some(previous) = rounded.last() {
            // A step back (the exact target rises, signed by a clinician) may round up.
            if step.daily_mg <= previous.daily_mg {
                units = units.min(previous.daily_units);
            }
            if units == previous.daily_units {
                continue;
            }
        }
        rounded.push(RoundedStep {
            from: step.from,
            daily_mg: step.daily_mg,
            exact_units,
            daily_units: units,
        });
    }
    rounded
}

/// The step in force on `date`, if the schedule has begun.
pub fn step_on(steps: &[Step], date: Date) -> Option<&Step> {
    steps.iter().rev().find(|step| step.from <= date)
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn generator(kind: GeneratorKind) -> Generator {
        Generator {
            kind,
            start_mg: 100.0,
            percent: None,
            amount_mg: None,
            interval_days: 7,
            min_mg: None,
            end_mg: None,
            start_date: date(2026, 12, 7),
        }
    }

    fn targets(steps: &[Step]) -> Vec<f64> {
        steps
            .iter()
            .map(|s| (s.daily_mg * 1e6).round() / 1e6)
            .collect()
    }

    #[test]
    fn a_constant_plan_is_one_step_at_the_start_dose() {
        let steps = generator(GeneratorKind::Constant).steps().unwrap();
        assert_eq!(
            steps,
            vec![Step {
                from: date(2026, 12, 7),
                daily_mg: 100.0
            }]
        );
    }

    #[test]
    fn a_percent_of_original_taper_cuts_the_same_mg_each_week_down_to_zero() {
        let mut g = generator(GeneratorKind::PercentOfOriginal);
        g.percent = Some(25.0);
        let steps = g.steps().unwrap();
        assert_eq!(targets(&steps), vec![100.0, 75.0, 50.0, 25.0, 0.0]);
        assert_eq!(steps[1].from, date(2026, 12, 14));
        assert_eq!(steps[4].from, date(2027, 1, 4));
    }

    #[test]
    fn a_percent_of_current_taper_shrinks_by_the_percent_and_stops_below_min_mg() {
        let mut g = generator(GeneratorKind::PercentOfCurrent);
        g.percent = Some(50.0);
        g.min_mg = Some(10.0);
        // 100, 50, 25, 12.5; the next (6.25) is below 10, so the last step is 0.
        assert_eq!(
            targets(&g.steps().unwrap()),
            vec![100.0, 50.0, 25.0, 12.5, 0.0]
        );
    }

    #[test]
    fn a_fixed_amount_taper_stops_at_its_end_dose() {
        let mut g = generator(GeneratorKind::FixedAmount);
        g.amount_mg = Some(30.0);
        g.end_mg = Some(20.0);
        // 100, 70, 40; the next (10) is below the end of 20, which is the last step.
        assert_eq!(targets(&g.steps().unwrap()), vec![100.0, 70.0, 40.0, 20.0]);
    }

    #[test]
    fn the_cdc_short_term_taper_cuts_the_original_to_30_percent_then_the_current() {
        let mut g = generator(GeneratorKind::CdcShortTerm);
        g.min_mg = Some(20.0);
        // 10 mg a week down to 30 mg, then 10 % of what remains: 27, 24.3, 21.87; 19.683 < 20.
        assert_eq!(
            targets(&g.steps().unwrap()),
            vec![
                100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 27.0, 24.3, 21.87, 0.0
            ]
        );
    }

    #[test]
    fn a_shape_that_never_reaches_zero_asks_for_min_mg() {
        let mut g = generator(GeneratorKind::PercentOfCurrent);
        g.percent = Some(10.0);
        let errors = g.steps().unwrap_err();
        assert_eq!(errors.errors[0].field, "generator.min_mg");
    }

    #[test]
    fn impossible_parameters_are_each_named() {
        let mut g = generator(GeneratorKind::PercentOfOriginal);
        g.start_mg = -5.0;
        g.percent = Some(100.0);
        g.interval_days = 0;
        let fields: Vec<_> = g
            .steps()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert!(
            fields.contains(&"generator.start_mg".to_owned()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"generator.percent".to_owned()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"generator.interval_days".to_owned()),
            "{fields:?}"
        );
    }

    #[test]
    fn a_schedule_of_thousands_of_steps_is_refused_rather_than_drawn() {
        let mut g = generator(GeneratorKind::PercentOfCurrent);
        g.percent = Some(0.01);
        g.min_mg = Some(1.0);
        assert_eq!(g.steps().unwrap_err().errors[0].field, "generator");
    }

    #[test]
    fn rounding_goes_to_the_nearest_unit_never_up_a_step_and_merges_equal_steps() {
        let mut g = generator(GeneratorKind::PercentOfCurrent);
        g.percent = Some(10.0);
        g.min_mg = Some(60.0);
        // 100, 90, 81, 72.9, 65.61; then 59.049 < 60, so 0. At 40 mg/g in quarter grams:
        // 2.5 g, 2.25 g, 2.025 → 2.0 g, 1.8225 → 1.75 g, 1.64025 → 1.75 g (merged), 0 g.
        let steps = g.steps().unwrap();
        let rounded = round_steps(&steps, 40.0, 0.25);
        let units: Vec<f64> = rounded.iter().map(|r| r.daily_units).collect();
        assert_eq!(units, vec![2.5, 2.25, 2.0, 1.75, 0.0]);
        // The merged step's week went to the one before it: 1.75 g starts on week 4.
        assert_eq!(rounded[3].from, date(2026, 12, 28));
        assert_eq!(rounded[4].from, date(2027, 1, 11));
        assert!((rounded[3].exact_units - 1.8225).abs() < 1e-9);
    }

    #[test]
    fn the_step_in_force_is_the_latest_that_has_begun() {
        let mut g = generator(GeneratorKind::PercentOfOriginal);
        g.percent = Some(50.0);
        let steps = g.steps().unwrap();
        assert!(step_on(&steps, date(2026, 12, 6)).is_none());
        assert_eq!(step_on(&steps, date(2026, 12, 13)).unwrap().daily_mg, 100.0);
        assert_eq!(step_on(&steps, date(2026, 12, 14)).unwrap().daily_mg, 50.0);
        assert_eq!(step_on(&steps, date(2027, 6, 1)).unwrap().daily_mg, 0.0);
    }

    #[test]
    fn equal_occupancy_steps_remove_equal_occupancy_and_fall_faster_at_first() {
        let mut g = generator(GeneratorKind::Occupancy);
        g.start_mg = 1_000.0;
        g.percent = Some(25.0);
        let steps = g.steps().unwrap();
        let d50 = occupancy::D50_CENTRAL_MG;
        let theta: Vec<f64> = steps
            .iter()
            .map(|s| occupancy::fraction(s.daily_mg, d50))
            .collect();
        // Four steps of a quarter of the starting occupancy each, then none.
        assert_eq!(steps.len(), 5);
        for pair in theta.windows(2) {
            assert!(
                (pair[0] - pair[1] - theta[0] / 4.0).abs() < 1e-12,
                "{theta:?}"
            );
        }
        assert_eq!(steps[4].daily_mg, 0.0);
        // By hand: O0 = 1000/7044 = 0.14196; O1 = 0.75 O0 = 0.10647;
        // D1 = 6044 × 0.10647 / 0.89353 ≈ 720.2 mg.
        let o0 = 1_000.0 / 7_044.0;
        let o1 = 0.75 * o0;
        assert!((steps[1].daily_mg - 6_044.0 * o1 / (1.0 - o1)).abs() < 1e-9);
        assert!(
            (steps[1].daily_mg - 720.2).abs() < 0.1,
            "{}",
            steps[1].daily_mg
        );
        // Hyperbolic: each cut in mg is smaller than the one before.
        let cuts: Vec<f64> = steps
            .windows(2)
            .map(|w| w[0].daily_mg - w[1].daily_mg)
            .collect();
        assert!(cuts.windows(2).all(|c| c[0] > c[1]), "{cuts:?}");
    }

    #[test]
    fn the_half_occupancy_dose_range_spans_the_dossiers_tenfold_uncertainty() {
        assert!(
            (occupancy::D50_LOW_MG - 1_157.0).abs() < 5.0,
            "{}",
            occupancy::D50_LOW_MG
        );
        assert!(
            (occupancy::D50_HIGH_MG - 31_581.0).abs() < 50.0,
            "{}",
            occupancy::D50_HIGH_MG
        );
        let middle = (occupancy::D50_LOW_MG * occupancy::D50_HIGH_MG).sqrt();
        assert!((occupancy::D50_CENTRAL_MG - middle).abs() < 5.0, "{middle}");
        assert!((occupancy::dose_for(0.5, 6_044.0) - 6_044.0).abs() < 1e-9);
    }

    #[test]
    fn generator_kinds_read_back_from_their_codes() {
        for kind in GeneratorKind::ALL {
            assert_eq!(GeneratorKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(GeneratorKind::from_code("occupancy_guess"), None);
    }
}
