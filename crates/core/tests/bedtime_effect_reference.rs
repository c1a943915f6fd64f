//! `ols_hac` against values computed independently by statsmodels and numpy
//! (`scripts/bedtime_effect_reference.py` writes `fixtures/bedtime_effect.json`), including
//! synthetic patients with a planted effect that each interval must contain.

use serde_json::Value;
use speciosa_core::bedtime_effect::{Point, newey_west_lags, ols_hac};

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-8 * (1.0 + expected.abs()),
        "{what}: {actual} ≠ {expected}"
    );
}

#[test]
fn the_hac_interval_matches_statsmodels_and_contains_each_planted_effect() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/bedtime_effect.json")).expect("fixture");
    let cases = fixture["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let column = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .expect("column")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect()
        };
        let (nights, x, y) = (column("nights"), column("x"), column("y"));
        let points: Vec<Point> = (0..y.len())
            .map(|i| Point {
                night: nights[i] as i64,
                x: x[i],
                y: y[i],
            })
            .collect();
        let lags = newey_west_lags(points.len());
        assert_eq!(lags as u64, case["lags"].as_u64().unwrap(), "{name}: lags");
        let fit = ols_hac(&points, lags).expect("a fit");
        for (actual, key) in [
            (fit.intercept, "intercept"),
            (fit.slope, "slope"),
            (fit.slope_se, "slope_se"),
            (fit.ci_low, "ci_low"),
            (fit.ci_high, "ci_high"),
        ] {
            close(
                actual,
                case[key].as_f64().unwrap(),
                &format!("{name}: {key}"),
            );
        }
        let planted = case["planted"].as_f64().unwrap();
        assert!(
            fit.ci_low <= planted && planted <= fit.ci_high,
            "{name}: {planted} outside {}..{}",
            fit.ci_low,
            fit.ci_high
        );
    }
}
