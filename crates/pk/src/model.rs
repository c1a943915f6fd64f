//! Model parameters and doses.

/// Typical (or individual) apparent parameters. Volumes in L, clearances in L/h, rates in 1/h.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// MG absorption rate constant.
    pub ka: f64,
    /// Absorption lag time, h.
    pub tlag: f64,
    /// MG apparent clearance from the central compartment.
    pub cl: f64,
    /// MG apparent central volume.
    pub vc: f64,
    /// MG apparent inter-compartmental clearance.
    pub q: f64,
    /// MG apparent peripheral volume.
    pub vp: f64,
    /// Fraction of MG clearance that forms 7-OH.
    pub fm: f64,
    /// 7-OH apparent clearance.
    pub cl_m: f64,
    /// 7-OH apparent volume.
    pub v_m: f64,
    /// Absorption rate constant of 7-OH taken directly (products that contain it).
    pub ka_m: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("parameter {name} must be a positive finite number, not {value}")]
    Parameter { name: &'static str, value: f64 },
    #[error("dose {index}: {problem}")]
    Dose { index: usize, problem: String },
}

impl Parameters {
    pub fn validate(&self) -> Result<(), ModelError> {
        let positive = [
            ("ka", self.ka),
            ("cl", self.cl),
            ("vc", self.vc),
            ("q", self.q),
            ("vp", self.vp),
            ("cl_m", self.cl_m),
            ("v_m", self.v_m),
            ("ka_m", self.ka_m),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(ModelError::Parameter { name, value });
            }
        }
        if !(self.tlag.is_finite() && self.tlag >= 0.0) {
            return Err(ModelError::Parameter {
                name: "tlag",
                value: self.tlag,
            });
        }
        if !(self.fm.is_finite() && (0.0..=1.0).contains(&self.fm)) {
            return Err(ModelError::Parameter {
                name: "fm",
                value: self.fm,
            });
        }
        Ok(())
    }

    /// Micro-constants of MG disposition: k10, k12, k21 (1/h).
    pub fn micro(&self) -> (f64, f64, f64) {
        (self.cl / self.vc, self.q / self.vc, self.q / self.vp)
    }

    /// The two disposition eigenvalues (α > β, 1/h).
    pub fn disposition_rates(&self) -> (f64, f64) {
        let (k10, k12, k21) = self.micro();
        let sum = k10 + k12 + k21;
        let root = (sum * sum - 4.0 * k10 * k21).sqrt();
        ((sum + root) / 2.0, (sum - root) / 2.0)
    }

    /// MG terminal half-life, h.
    pub fn terminal_half_life(&self) -> f64 {
        std::f64::consts::LN_2 / self.disposition_rates().1
    }

    /// 7-OH elimination rate constant, 1/h.
    pub fn k_m(&self) -> f64 {
        self.cl_m / self.v_m
    }
}

/// One administration: amounts in mg at `time_h` hours from the start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dose {
    pub time_h: f64,
    pub mitragynine_mg: f64,
    pub hydroxymitragynine_mg: f64,
}

/// Checks doses are finite, non-negative and at non-negative times.
pub fn validate_doses(doses: &[Dose]) -> Result<(), ModelError> {
    for (index, dose) in doses.iter().enumerate() {
        let problem = if !(dose.time_h.is_finite() && dose.time_h >= 0.0) {
            Some(format!(
                "time_h must be a finite number ≥ 0, not {}",
                dose.time_h
            ))
        } else if !(dose.mitragynine_mg.is_finite() && dose.mitragynine_mg >= 0.0) {
            Some(format!(
                "mitragynine_mg must be a finite number ≥ 0, not {}",
                dose.mitragynine_mg
            ))
        } else if !(dose.hydroxymitragynine_mg.is_finite() && dose.hydroxymitragynine_mg >= 0.0) {
            Some(format!(
                "hydroxymitragynine_mg must be a finite number ≥ 0, not {}",
                dose.hydroxymitragynine_mg
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ModelError::Dose { index, problem });
        }
    }
    Ok(())
}

/// `data/pk/typical.toml`: the typical-patient parameters with their source and derivation.
const TYPICAL: &str = include_str!("../../../data/pk/typical.toml");

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ParameterFile {
    #[allow(dead_code)]
    version: String,
    source: String,
    derivation: String,
    typical: Parameters,
    variability: RawVariability,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariability {
    note: String,
    omega: std::collections::BTreeMap<String, f64>,
    correlations: Vec<RawCorrelation>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorrelation {
    a: String,
    b: String,
    r: f64,
}

impl RawVariability {
    fn checked(&self) -> Result<crate::population::Variability, String> {
        use crate::population::VARYING;
        let index = |name: &str| {
            VARYING
                .iter()
                .position(|v| *v == name)
                .ok_or_else(|| format!("unknown parameter {name:?} in [variability]"))
        };
        if let Some(name) = self.omega.keys().find(|k| !VARYING.contains(&k.as_str())) {
            return Err(format!("unknown parameter {name:?} in variability.omega"));
        }
        let mut omega = [0.0; 8];
        for (i, name) in VARYING.iter().enumerate() {
            omega[i] = *self
                .omega
                .get(*name)
                .ok_or_else(|| format!("variability.omega needs {name}"))?;
        }
        let mut correlation = [[0.0; 8]; 8];
        for (i, row) in correlation.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        for c in &self.correlations {
            let (a, b) = (index(&c.a)?, index(&c.b)?);
            correlation[a][b] = c.r;
            correlation[b][a] = c.r;
        }
        let variability = crate::population::Variability { omega, correlation };
        // Sampling once checks the matrix is a valid covariance.
        variability
            .sample(
                &Parameters {
                    ka: 1.0,
                    tlag: 0.0,
                    cl: 1.0,
                    vc: 1.0,
                    q: 1.0,
                    vp: 1.0,
                    fm: 0.5,
                    cl_m: 1.0,
                    v_m: 1.0,
                    ka_m: 1.0,
                },
                1,
                0,
            )
            .map_err(|e| e.to_string())?;
        Ok(variability)
    }
}

/// The shipped typical-patient parameters, their source and how they were derived.
#[derive(Clone, Debug)]
pub struct TypicalParameters {
    pub parameters: Parameters,
    pub source: String,
    pub derivation: String,
    /// Between-subject variability (an assumption; see the file's note).
    pub variability: crate::population::Variability,
    pub variability_note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ParameterFileError {
    #[error("data/pk/typical.toml is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("data/pk/typical.toml: {0}")]
    Invalid(#[from] ModelError),
    #[error("data/pk/typical.toml: {0}")]
    Variability(String),
}

impl TypicalParameters {
    pub fn bundled() -> Result<Self, ParameterFileError> {
        Self::parse(TYPICAL)
    }

    /// Parses and checks a parameter file (`speciosa data check` reads it from disk).
    pub fn parse(text: &str) -> Result<Self, ParameterFileError> {
        let file: ParameterFile = toml::from_str(text)?;
        file.typical.validate()?;
        let variability = file
            .variability
            .checked()
            .map_err(ParameterFileError::Variability)?;
        Ok(TypicalParameters {
            parameters: file.typical,
            source: file.source,
            derivation: file.derivation,
            variability,
            variability_note: file.variability.note,
        })
    }
}
