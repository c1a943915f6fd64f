//! The typical-patient model against Tanna 2022's medians for one 2 g kratom tea with
//! 39 mg mitragynine (pharmacology.md §1b; DMD 2023 Table 3).

use speciosa_pk::{Dose, TypicalParameters, closed_form, nca};

const MG_NM_TO_NG_ML: f64 = 0.3985;
const OH_NM_TO_NG_ML: f64 = 0.4145;

fn within(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() / expected <= tolerance
}

#[test]
fn the_typical_model_reproduces_tanna_2022_for_a_39_mg_dose() {
    let p = TypicalParameters::bundled().unwrap().parameters;
    let doses = [Dose {
        time_h: 0.0,
        mitragynine_mg: 39.0,
        hydroxymitragynine_mg: 0.0,
    }];
    let times: Vec<f64> = (0..=24_000).map(|i| i as f64 * 0.01).collect();
    let curve = closed_form::simulate(&p, &doses, &times);
    // mg/L → ng/mL.
    let mg: Vec<f64> = curve.iter().map(|c| c.mitragynine * 1000.0).collect();
    let oh: Vec<f64> = curve
        .iter()
        .map(|c| c.hydroxymitragynine * 1000.0)
        .collect();
    let mg_nca = nca::analyse(&times, &mg);
    let oh_nca = nca::analyse(&times, &oh);

    let mg_cmax = 81.9 * MG_NM_TO_NG_ML;
    assert!(
        within(mg_nca.cmax, mg_cmax, 0.15),
        "MG Cmax {} vs {mg_cmax}",
        mg_nca.cmax
    );
    assert!(
        (0.75..=1.5).contains(&mg_nca.tmax),
        "MG Tmax {}",
        mg_nca.tmax
    );
    let mg_auc = 420.0 * MG_NM_TO_NG_ML;
    assert!(
        within(mg_nca.auc_inf.unwrap(), mg_auc, 0.10),
        "MG AUC∞ {:?} vs {mg_auc}",
        mg_nca.auc_inf
    );
    assert!(
        within(p.terminal_half_life(), 45.3, 0.15),
        "MG t½ {}",
        p.terminal_half_life()
    );
    assert!(
        within(mg_nca.half_life.unwrap(), 45.3, 0.15),
        "MG t½ by NCA {:?}",
        mg_nca.half_life
    );

    let oh_cmax = 16.1 * OH_NM_TO_NG_ML;
    assert!(
        within(oh_nca.cmax, oh_cmax, 0.25),
        "7-OH Cmax {} vs {oh_cmax}",
        oh_nca.cmax
    );
    let oh_auc = 106.0 * OH_NM_TO_NG_ML;
    assert!(
        within(oh_nca.auc_inf.unwrap(), oh_auc, 0.25),
        "7-OH AUC∞ {:?} vs {oh_auc}",
        oh_nca.auc_inf
    );
}

#[test]
fn once_daily_dosing_reaches_ninety_percent_of_steady_state_trough_in_about_six_days() {
    // pharmacology.md cross-check: with t½ ≈ 45 h, 90 % of steady state takes about 3.3 half-lives.
    let p = TypicalParameters::bundled().unwrap().parameters;
    let doses: Vec<Dose> = (0..30)
        .map(|n| Dose {
            time_h: 24.0 * n as f64,
            mitragynine_mg: 39.0,
            hydroxymitragynine_mg: 0.0,
        })
        .collect();
    let troughs: Vec<f64> = (1..30).map(|n| 24.0 * n as f64 - 1e-6).collect();
    let values: Vec<f64> = closed_form::simulate(&p, &doses, &troughs)
        .iter()
        .map(|c| c.mitragynine)
        .collect();
    let steady = *values.last().unwrap();
    let first_at_90 = troughs
        .iter()
        .zip(&values)
        .find(|(_, v)| **v >= 0.9 * steady)
        .map(|(t, _)| *t)
        .unwrap();
    assert!((140.0..=170.0).contains(&first_at_90), "{first_at_90}");
}
