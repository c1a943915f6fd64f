//! Products, batches and their certificates of analysis (COA).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a product is sold. It decides which dose units make sense, which microbial
/// limits apply and whether natural-leaf ranges can estimate an unassayed batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductForm {
    LeafPowder,
    Capsule,
    ExtractPowder,
    Liquid,
    Tablet,
    Other,
}

impl ProductForm {
    pub const ALL: [ProductForm; 6] = [
        ProductForm::LeafPowder,
        ProductForm::Capsule,
        ProductForm::ExtractPowder,
        ProductForm::Liquid,
        ProductForm::Tablet,
        ProductForm::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProductForm::LeafPowder => "leaf_powder",
            ProductForm::Capsule => "capsule",
            ProductForm::ExtractPowder => "extract_powder",
            ProductForm::Liquid => "liquid",
            ProductForm::Tablet => "tablet",
            ProductForm::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ProductForm::LeafPowder => "Leaf powder",
            ProductForm::Capsule => "Capsules",
            ProductForm::ExtractPowder => "Extract powder",
            ProductForm::Liquid => "Liquid / shot",
            ProductForm::Tablet => "Tablets",
            ProductForm::Other => "Other",
        }
    }

    /// Capsules and tablets are counted, so their fill mass is needed to know grams.
    pub fn is_counted(self) -> bool {
        matches!(self, ProductForm::Capsule | ProductForm::Tablet)
    }

    /// Liquids are measured in mL and assayed per mL.
    pub fn is_liquid(self) -> bool {
        self == ProductForm::Liquid
    }
}

impl fmt::Display for ProductForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProductForm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProductForm::ALL
            .into_iter()
            .find(|form| form.as_str() == s)
            .ok_or_else(|| {
                "form must be one of leaf_powder, capsule, extract_powder, liquid, tablet, other"
                    .to_owned()
            })
    }
}

/// Alkaloid content per gram (per mL for liquids), as a lab reported it.
/// `None` means not reported; `Some(0.0)` means reported as not detected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Alkaloids {
    pub mitragynine_mg_per_g: Option<f64>,
    pub hydroxymitragynine_mg_per_g: Option<f64>,
    pub paynantheine_mg_per_g: Option<f64>,
    pub speciogynine_mg_per_g: Option<f64>,
    pub speciociliatine_mg_per_g: Option<f64>,
    pub corynantheidine_mg_per_g: Option<f64>,
    pub mitragynine_pseudoindoxyl_mg_per_g: Option<f64>,
}

impl Alkaloids {
    /// The measured alkaloid fraction: every alkaloid the lab quantified.
    pub fn measured_total_mg_per_g(&self) -> f64 {
        [
            self.mitragynine_mg_per_g,
            self.hydroxymitragynine_mg_per_g,
            self.paynantheine_mg_per_g,
            self.speciogynine_mg_per_g,
            self.speciociliatine_mg_per_g,
            self.corynantheidine_mg_per_g,
            self.mitragynine_pseudoindoxyl_mg_per_g,
        ]
        .into_iter()
        .flatten()
        .sum()
    }
}

/// Heavy metals in parts per million (µg/g).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeavyMetals {
    pub lead_ppm: Option<f64>,
    pub arsenic_ppm: Option<f64>,
    pub cadmium_ppm: Option<f64>,
    pub mercury_ppm: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Microbial {
    pub salmonella_detected: Option<bool>,
    pub e_coli_detected: Option<bool>,
    pub total_aerobic_cfu_per_g: Option<f64>,
    pub yeast_mold_cfu_per_g: Option<f64>,
}

/// A certificate of analysis for one batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Assay {
    pub lab: Option<String>,
    pub tested_on: Option<jiff::civil::Date>,
    #[serde(flatten)]
    pub alkaloids: Alkaloids,
    /// The method's limit of quantitation for 7-OH, mg/g.
    pub hydroxymitragynine_loq_mg_per_g: Option<f64>,
    pub mitragynine_loq_mg_per_g: Option<f64>,
    #[serde(default)]
    pub heavy_metals: HeavyMetals,
    #[serde(default)]
    pub microbial: Microbial,
}

/// What a flag rule needs to know about the product a batch belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductFacts {
    pub form: ProductForm,
    /// Fill mass of one capsule or tablet, g.
    pub unit_mass_g: Option<f64>,
    /// A labelled serving, g (powders) or mL (liquids).
    pub serving_size: Option<f64>,
    /// The label names 7-OH, "7-OHMG", pseudoindoxyl or similar as an ingredient.
    pub labels_hydroxy_as_ingredient: bool,
}

impl ProductFacts {
    /// One serving in grams (mL for liquids): one unit for capsules and tablets,
    /// otherwise the labelled serving size.
    pub fn serving_amount(&self) -> Option<f64> {
        if self.form.is_counted() {
            self.unit_mass_g
        } else {
            self.serving_size
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_from_their_codes() {
        for form in ProductForm::ALL {
            assert_eq!(form.as_str().parse::<ProductForm>(), Ok(form));
        }
        assert!("gummy".parse::<ProductForm>().is_err());
    }

    #[test]
    fn the_measured_alkaloid_fraction_sums_what_was_reported() {
        let alkaloids = Alkaloids {
            mitragynine_mg_per_g: Some(19.48),
            hydroxymitragynine_mg_per_g: Some(0.1),
            speciociliatine_mg_per_g: Some(5.12),
            ..Default::default()
        };
        assert!((alkaloids.measured_total_mg_per_g() - 24.7).abs() < 1e-9);
    }

    #[test]
    fn a_serving_of_a_counted_product_is_one_unit() {
        let capsule = ProductFacts {
            form: ProductForm::Capsule,
            unit_mass_g: Some(0.5),
            serving_size: Some(3.0),
            labels_hydroxy_as_ingredient: false,
        };
        assert_eq!(capsule.serving_amount(), Some(0.5));
        let powder = ProductFacts {
            form: ProductForm::LeafPowder,
            ..capsule
        };
        assert_eq!(powder.serving_amount(), Some(3.0));
    }
}

/// Checked product fields, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductDetails {
    pub name: String,
    pub vendor: Option<String>,
    pub form: ProductForm,
    pub labelled_strain: Option<String>,
    pub unit_mass_g: Option<f64>,
    pub serving_size: Option<f64>,
    pub teaspoon_g: Option<f64>,
    pub labels_hydroxy_as_ingredient: bool,
}

/// Untrusted product fields from the API or a form.
#[derive(Clone, Debug, Default)]
pub struct ProductFields<'a> {
    pub name: &'a str,
    pub form: &'a str,
    pub vendor: Option<&'a str>,
    pub labelled_strain: Option<&'a str>,
    pub unit_mass_g: Option<f64>,
    pub serving_size: Option<f64>,
    pub teaspoon_g: Option<f64>,
    pub labels_hydroxy_as_ingredient: bool,
}

fn optional_text(
    errors: &mut crate::FieldErrors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    if value.chars().count() > max || value.chars().any(char::is_control) {
        errors.push(
            field,
            format!("must be at most {max} characters of plain text"),
        );
        return None;
    }
    Some(value.to_owned())
}

/// A positive, finite quantity no larger than `max`.
pub fn check_quantity(
    errors: &mut crate::FieldErrors,
    field: &str,
    value: Option<f64>,
    max: f64,
) -> Option<f64> {
    let value = value?;
    if !(value.is_finite() && value > 0.0) {
        errors.push(field, "must be a positive number");
        None
    } else if value > max {
        errors.push(field, format!("must be at most {max}"));
        None
    } else {
        Some(value)
    }
}

impl ProductDetails {
    pub fn parse(fields: &ProductFields<'_>) -> Result<Self, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::new();
        let name = fields.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            errors.push("name", "name is required (at most 200 characters)");
        }
        let form = errors.check("form", fields.form.trim().parse::<ProductForm>());
        let vendor = optional_text(&mut errors, "vendor", fields.vendor, 200);
        let labelled_strain =
            optional_text(&mut errors, "labelled_strain", fields.labelled_strain, 200);
        // A capsule or tablet rarely exceeds 2 g; 5 g leaves room without accepting typos in kg.
        let unit_mass_g = check_quantity(&mut errors, "unit_mass_g", fields.unit_mass_g, 5.0);
        let serving_size = check_quantity(&mut errors, "serving_size", fields.serving_size, 1000.0);
        let teaspoon_g = check_quantity(&mut errors, "teaspoon_g", fields.teaspoon_g, 20.0);
        if form.is_some_and(ProductForm::is_counted) && fields.unit_mass_g.is_none() {
            errors.push(
                "unit_mass_g",
                "capsules and tablets need the fill mass of one unit, in grams",
            );
        }
        let form = form.filter(|_| errors.is_empty());
        match form {
            Some(form) => Ok(ProductDetails {
                name: name.to_owned(),
                vendor,
                form,
                labelled_strain,
                unit_mass_g,
                serving_size,
                teaspoon_g,
                labels_hydroxy_as_ingredient: fields.labels_hydroxy_as_ingredient,
            }),
            None => Err(errors),
        }
    }

    pub fn facts(&self) -> ProductFacts {
        ProductFacts {
            form: self.form,
            unit_mass_g: self.unit_mass_g,
            serving_size: self.serving_size,
            labels_hydroxy_as_ingredient: self.labels_hydroxy_as_ingredient,
        }
    }
}

impl Assay {
    /// Checks every number is a plausible, non-negative measurement and the test date is not
    /// in the future. Field names are prefixed with `prefix` (e.g. `assay.`).
    pub fn validate(
        &self,
        prefix: &str,
        today: jiff::civil::Date,
    ) -> Result<(), crate::FieldErrors> {
        let mut errors = crate::FieldErrors::new();
        let a = &self.alkaloids;
        let contents = [
            ("mitragynine_mg_per_g", a.mitragynine_mg_per_g),
            ("hydroxymitragynine_mg_per_g", a.hydroxymitragynine_mg_per_g),
            ("paynantheine_mg_per_g", a.paynantheine_mg_per_g),
            ("speciogynine_mg_per_g", a.speciogynine_mg_per_g),
            ("speciociliatine_mg_per_g", a.speciociliatine_mg_per_g),
            ("corynantheidine_mg_per_g", a.corynantheidine_mg_per_g),
            (
                "mitragynine_pseudoindoxyl_mg_per_g",
                a.mitragynine_pseudoindoxyl_mg_per_g,
            ),
            (
                "hydroxymitragynine_loq_mg_per_g",
                self.hydroxymitragynine_loq_mg_per_g,
            ),
            ("mitragynine_loq_mg_per_g", self.mitragynine_loq_mg_per_g),
        ];
        for (field, value) in contents {
            // 1000 mg/g is the whole gram.
            if value.is_some_and(|v| !(v.is_finite() && (0.0..=1000.0).contains(&v))) {
                errors.push(
                    format!("{prefix}{field}"),
                    "must be between 0 and 1000 mg/g (per mL for liquids)",
                );
            }
        }
        let m = &self.heavy_metals;
        for (field, value) in [
            ("lead_ppm", m.lead_ppm),
            ("arsenic_ppm", m.arsenic_ppm),
            ("cadmium_ppm", m.cadmium_ppm),
            ("mercury_ppm", m.mercury_ppm),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && (0.0..=10_000.0).contains(&v))) {
                errors.push(
                    format!("{prefix}heavy_metals.{field}"),
                    "must be between 0 and 10000 ppm",
                );
            }
        }
        let counts = [
            (
                "total_aerobic_cfu_per_g",
                self.microbial.total_aerobic_cfu_per_g,
            ),
            ("yeast_mold_cfu_per_g", self.microbial.yeast_mold_cfu_per_g),
        ];
        for (field, value) in counts {
            if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                errors.push(
                    format!("{prefix}microbial.{field}"),
                    "must be a count of 0 or more",
                );
            }
        }
        if self.tested_on.is_some_and(|d| d > today) {
            errors.push(
                format!("{prefix}tested_on"),
                "the test date cannot be in the future",
            );
        }
        if let Some(lab) = &self.lab
            && (lab.chars().count() > 200 || lab.chars().any(char::is_control))
        {
            errors.push(
                format!("{prefix}lab"),
                "must be at most 200 characters of plain text",
            );
        }
        errors.into_result(|| ())
    }
}

#[cfg(test)]
mod details_tests {
    use super::*;

    #[test]
    fn capsules_and_tablets_need_their_fill_mass() {
        let fields = ProductFields {
            name: "Green Maeng Da caps",
            form: "capsule",
            ..Default::default()
        };
        let errors = ProductDetails::parse(&fields).unwrap_err();
        assert_eq!(errors.errors[0].field, "unit_mass_g");
        let fields = ProductFields {
            unit_mass_g: Some(0.5),
            ..fields
        };
        assert_eq!(
            ProductDetails::parse(&fields).unwrap().unit_mass_g,
            Some(0.5)
        );
    }

    #[test]
    fn product_fields_are_validated_together() {
        let fields = ProductFields {
            name: " ",
            form: "gummy",
            teaspoon_g: Some(-1.0),
            ..Default::default()
        };
        let fields_in_error: Vec<String> = ProductDetails::parse(&fields)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields_in_error, ["name", "form", "teaspoon_g"]);
    }

    #[test]
    fn impossible_assay_numbers_and_future_test_dates_are_refused() {
        let assay = Assay {
            tested_on: Some(jiff::civil::date(2027, 1, 1)),
            alkaloids: Alkaloids {
                mitragynine_mg_per_g: Some(-3.0),
                hydroxymitragynine_mg_per_g: Some(1200.0),
                ..Default::default()
            },
            heavy_metals: HeavyMetals {
                lead_ppm: Some(f64::INFINITY),
                ..Default::default()
            },
            ..Default::default()
        };
        let errors: Vec<String> = assay
            .validate("assay.", jiff::civil::date(2026, 11, 24))
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            errors,
            [
                "assay.mitragynine_mg_per_g",
                "assay.hydroxymitragynine_mg_per_g",
                "assay.heavy_metals.lead_ppm",
                "assay.tested_on"
            ]
        );
    }
}
