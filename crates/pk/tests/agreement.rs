//! The closed-form and numerical solutions are independent: they must agree.

use speciosa_pk::{Dose, Parameters, closed_form, numerical};

fn parameters() -> Parameters {
    Parameters {
        ka: 1.7,
        tlag: 0.15,
        cl: 233.0,
        vc: 520.0,
        q: 380.0,
        vp: 11_500.0,
        fm: 0.06,
        cl_m: 95.0,
        v_m: 310.0,
        ka_m: 1.1,
    }
}

#[test]
fn closed_form_and_ode_solutions_agree_to_one_part_in_a_million_for_an_irregular_history() {
    let p = parameters();
    p.validate().unwrap();
    let doses = [
        Dose {
            time_h: 0.0,
            mitragynine_mg: 39.0,
            hydroxymitragynine_mg: 0.0,
        },
        Dose {
            time_h: 5.5,
            mitragynine_mg: 60.0,
            hydroxymitragynine_mg: 0.0,
        },
        Dose {
            time_h: 13.25,
            mitragynine_mg: 20.0,
            hydroxymitragynine_mg: 4.0,
        },
        Dose {
            time_h: 30.0,
            mitragynine_mg: 120.0,
            hydroxymitragynine_mg: 0.0,
        },
        Dose {
            time_h: 30.0,
            mitragynine_mg: 0.0,
            hydroxymitragynine_mg: 15.0,
        },
        Dose {
            time_h: 71.6,
            mitragynine_mg: 45.5,
            hydroxymitragynine_mg: 0.0,
        },
        // 21.2 h is not exactly 212 × 0.1 in floating point: the sample and the dose coincide.
        Dose {
            time_h: 21.2,
            mitragynine_mg: 10.0,
            hydroxymitragynine_mg: 0.0,
        },
    ];
    let times: Vec<f64> = (0..=1500).map(|i| i as f64 * 0.1).collect();
    let exact = closed_form::simulate(&p, &doses, &times);
    let numeric = numerical::simulate(&p, &doses, &times).unwrap();
    let mut worst = 0.0_f64;
    for ((t, a), b) in times.iter().zip(&exact).zip(&numeric) {
        for (x, y) in [
            (a.mitragynine, b.mitragynine),
            (a.hydroxymitragynine, b.hydroxymitragynine),
        ] {
            if x.abs() < 1e-9 && y.abs() < 1e-9 {
                continue;
            }
            let relative = (x - y).abs() / x.abs().max(y.abs());
            worst = worst.max(relative);
            assert!(
                relative < 1e-6,
                "at {t} h: closed form {x}, ODE {y} (relative {relative:e})"
            );
        }
    }
    assert!(worst > 0.0, "the two paths are not trivially identical");
}

#[test]
fn mitragynine_auc_equals_dose_over_clearance() {
    // Linear kinetics: AUC∞ = Dose / (CL/F), whatever the distribution (pharmacology.md cross-check).
    let p = parameters();
    let doses = [Dose {
        time_h: 0.0,
        mitragynine_mg: 39.0,
        hydroxymitragynine_mg: 0.0,
    }];
    let times: Vec<f64> = (0..=200_000).map(|i| i as f64 * 0.01).collect();
    let curve: Vec<f64> = closed_form::simulate(&p, &doses, &times)
        .iter()
        .map(|c| c.mitragynine)
        .collect();
    let nca = speciosa_pk::nca::analyse(&times, &curve);
    let expected = 39.0 / 233.0;
    assert!(
        (nca.auc_inf.unwrap() - expected).abs() / expected < 1e-3,
        "{:?} vs {expected}",
        nca.auc_inf
    );
}
