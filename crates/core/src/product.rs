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
    /// Tablets, shots and other liquids (and gummies, recorded as "other") usually carry
    /// concentrated 7-OH, as does anything whose label names 7-OH or "enhanced"
    /// (legal-and-products.md §2d and §3.7): unassayed, their strength is unknown.
    pub fn usually_concentrated_hydroxy(&self) -> bool {
        self.labels_hydroxy_as_ingredient
            || matches!(self.form, ProductForm::Tablet | ProductForm::Liquid)
    }

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

/// Alkaloid and metal values as a certificate prints them, beside the canonical mg/g and
/// ppm: converted by [`AsPrinted::apply`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AsPrinted {
    pub mitragynine_percent_w_w: Option<f64>,
    pub hydroxymitragynine_percent_w_w: Option<f64>,
    /// Per capsule or tablet (divided by the unit's fill mass) or per mL for liquids.
    pub mitragynine_mg_per_unit: Option<f64>,
    pub hydroxymitragynine_mg_per_unit: Option<f64>,
    pub lead_ppb: Option<f64>,
    pub arsenic_ppb: Option<f64>,
    pub cadmium_ppb: Option<f64>,
    pub mercury_ppb: Option<f64>,
}

/// A value that is possible but unlikely, asked about before saving.
#[derive(Clone, Debug, PartialEq)]
pub struct Implausible {
    pub field: String,
    pub detail: String,
}

/// Mitragynine below this many mg/g typed in the mg/g field looks like a percentage:
/// dried leaf holds about 10–25 mg/g (1.0–2.5 % w/w; pharmacology.md §2), so "1.6" is
/// far more likely 1.6 % (16 mg/g) than 1.6 mg/g.
pub const MG_PER_G_LOOKS_LIKE_PERCENT_BELOW: f64 = 3.0;

impl AsPrinted {
    /// Converts every printed value into `assay` (1 % w/w = 10 mg/g; 1000 ppb = 1 ppm;
    /// mg per unit ÷ unit mass g = mg/g; liquids are assayed per mL already). A value
    /// given two ways is refused, as is a per-unit value without a unit to divide by.
    pub fn apply(
        &self,
        assay: &mut Assay,
        product: &ProductFacts,
        prefix: &str,
    ) -> Result<(), crate::FieldErrors> {
        let mut errors = crate::FieldErrors::new();
        let negative = |v: f64| !(v.is_finite() && v >= 0.0);
        let per_unit = |errors: &mut crate::FieldErrors, field: &str, value: f64| -> Option<f64> {
            if negative(value) {
                errors.push(format!("{prefix}{field}"), "must be a number of 0 or more");
                return None;
            }
            if product.form.is_liquid() {
                return Some(value);
            }
            if !product.form.is_counted() {
                errors.push(
                    format!("{prefix}{field}"),
                    "per-unit values are for capsules, tablets and liquids; give mg/g or % w/w",
                );
                return None;
            }
            match product.unit_mass_g.filter(|m| *m > 0.0) {
                Some(mass) => Some(value / mass),
                None => {
                    errors.push(
                        format!("{prefix}{field}"),
                        "the product has no unit mass (g per capsule or tablet) to convert with; add it to the product first",
                    );
                    None
                }
            }
        };
        let alkaloids = [
            (
                "mitragynine",
                &mut assay.alkaloids.mitragynine_mg_per_g,
                self.mitragynine_percent_w_w,
                self.mitragynine_mg_per_unit,
            ),
            (
                "hydroxymitragynine",
                &mut assay.alkaloids.hydroxymitragynine_mg_per_g,
                self.hydroxymitragynine_percent_w_w,
                self.hydroxymitragynine_mg_per_unit,
            ),
        ];
        for (name, target, percent, unit) in alkaloids {
            let given = [target.is_some(), percent.is_some(), unit.is_some()]
                .iter()
                .filter(|g| **g)
                .count();
            if given > 1 {
                errors.push(
                    format!("{prefix}{name}_mg_per_g"),
                    format!("give {name} one way only: mg/g, % w/w or mg per unit"),
                );
                continue;
            }
            if let Some(pct) = percent {
                if negative(pct) || pct > 100.0 {
                    errors.push(
                        format!("{prefix}{name}_percent_w_w"),
                        "must be between 0 and 100 %",
                    );
                } else {
                    *target = Some(pct * 10.0);
                }
            }
            if let Some(value) = unit {
                *target = per_unit(&mut errors, &format!("{name}_mg_per_unit"), value);
            }
        }
        let metals = [
            ("lead", &mut assay.heavy_metals.lead_ppm, self.lead_ppb),
            (
                "arsenic",
                &mut assay.heavy_metals.arsenic_ppm,
                self.arsenic_ppb,
            ),
            (
                "cadmium",
                &mut assay.heavy_metals.cadmium_ppm,
                self.cadmium_ppb,
            ),
            (
                "mercury",
                &mut assay.heavy_metals.mercury_ppm,
                self.mercury_ppb,
            ),
        ];
        for (metal, target, ppb) in metals {
            let Some(ppb) = ppb else { continue };
            if target.is_some() {
                errors.push(
                    format!("{prefix}heavy_metals.{metal}_ppb"),
                    format!("give {metal} one way only: ppm or ppb"),
                );
            } else if negative(ppb) {
                errors.push(
                    format!("{prefix}heavy_metals.{metal}_ppb"),
                    "must be a number of 0 or more",
                );
            } else {
                *target = Some(ppb / 1000.0);
            }
        }
        errors.into_result(|| ())
    }
}

impl Assay {
    /// Values that are possible but unlikely on a real certificate, each naming the field
    /// to look at: a percentage typed in mg/g, more 7-OH than mitragynine (natural leaf
    /// holds under 2 % of its alkaloids as 7-OH; pharmacology.md §2), alkaloids adding up
    /// to more than the whole gram. `typed_in_mg_per_g` says mitragynine came from the mg/g
    /// field. For a product that usually carries concentrated 7-OH
    /// ([`ProductFacts::usually_concentrated_hydroxy`]) little mitragynine and much 7-OH are
    /// expected, so only the total is checked.
    pub fn implausible(
        &self,
        prefix: &str,
        typed_in_mg_per_g: bool,
        concentrated_hydroxy: bool,
    ) -> Vec<Implausible> {
        let mut found = Vec::new();
        let a = &self.alkaloids;
        if typed_in_mg_per_g
            && !concentrated_hydroxy
            && let Some(mg) = a.mitragynine_mg_per_g
            && mg > 0.0
            && mg < MG_PER_G_LOOKS_LIKE_PERCENT_BELOW
        {
            found.push(Implausible {
                field: format!("{prefix}mitragynine_mg_per_g"),
                detail: format!(
                    "{mg} mg/g is less than a tenth of natural leaf (10–25 mg/g); if the certificate says {mg} %, enter it as % w/w ({} mg/g)",
                    mg * 10.0
                ),
            });
        }
        if let (Some(m), Some(h)) = (a.mitragynine_mg_per_g, a.hydroxymitragynine_mg_per_g)
            && h > m
            && !concentrated_hydroxy
        {
            found.push(Implausible {
                field: format!("{prefix}hydroxymitragynine_mg_per_g"),
                detail: format!(
                    "7-OH ({h} mg/g) above mitragynine ({m} mg/g) never occurs in leaf; check the units, or confirm for a concentrated 7-OH product"
                ),
            });
        }
        let total = a.measured_total_mg_per_g();
        if total > 1000.0 {
            found.push(Implausible {
                field: format!("{prefix}mitragynine_mg_per_g"),
                detail: format!(
                    "the alkaloids add up to {:.1} % of the product, more than all of it; check the units",
                    total / 10.0
                ),
            });
        }
        found
    }
}

#[cfg(test)]
mod printed_tests {
    use super::*;

    fn capsule(unit_mass_g: Option<f64>) -> ProductFacts {
        ProductFacts {
            form: ProductForm::Capsule,
            unit_mass_g,
            serving_size: None,
            labels_hydroxy_as_ingredient: false,
        }
    }

    #[test]
    fn one_point_six_percent_is_sixteen_mg_per_g_and_ppb_are_thousandths_of_ppm() {
        let mut assay = Assay::default();
        AsPrinted {
            mitragynine_percent_w_w: Some(1.6),
            hydroxymitragynine_percent_w_w: Some(0.02),
            lead_ppb: Some(250.0),
            ..Default::default()
        }
        .apply(&mut assay, &capsule(Some(0.5)), "assay.")
        .unwrap();
        assert!((assay.alkaloids.mitragynine_mg_per_g.unwrap() - 16.0).abs() < 1e-9);
        assert!((assay.alkaloids.hydroxymitragynine_mg_per_g.unwrap() - 0.2).abs() < 1e-9);
        assert!((assay.heavy_metals.lead_ppm.unwrap() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn per_unit_values_are_divided_by_the_unit_mass_or_name_the_field_without_one() {
        let mut assay = Assay::default();
        AsPrinted {
            mitragynine_mg_per_unit: Some(8.0),
            ..Default::default()
        }
        .apply(&mut assay, &capsule(Some(0.5)), "assay.")
        .unwrap();
        assert_eq!(assay.alkaloids.mitragynine_mg_per_g, Some(16.0));
        let mut assay = Assay::default();
        let errors = AsPrinted {
            hydroxymitragynine_mg_per_unit: Some(15.0),
            ..Default::default()
        }
        .apply(&mut assay, &capsule(None), "assay.")
        .unwrap_err();
        assert_eq!(
            errors.errors[0].field,
            "assay.hydroxymitragynine_mg_per_unit"
        );
        // A liquid is assayed per mL: one unit is one mL.
        let liquid = ProductFacts {
            form: ProductForm::Liquid,
            ..capsule(None)
        };
        let mut assay = Assay::default();
        AsPrinted {
            hydroxymitragynine_mg_per_unit: Some(3.0),
            ..Default::default()
        }
        .apply(&mut assay, &liquid, "assay.")
        .unwrap();
        assert_eq!(assay.alkaloids.hydroxymitragynine_mg_per_g, Some(3.0));
    }

    #[test]
    fn a_value_given_two_ways_is_refused() {
        let mut assay = Assay::default();
        assay.alkaloids.mitragynine_mg_per_g = Some(16.0);
        let errors = AsPrinted {
            mitragynine_percent_w_w: Some(1.6),
            ..Default::default()
        }
        .apply(&mut assay, &capsule(Some(0.5)), "assay.")
        .unwrap_err();
        assert_eq!(errors.errors[0].field, "assay.mitragynine_mg_per_g");
    }

    #[test]
    fn a_percent_typed_as_mg_per_g_and_more_seven_oh_than_mitragynine_are_implausible() {
        let assay = |m: f64, h: f64| Assay {
            alkaloids: Alkaloids {
                mitragynine_mg_per_g: Some(m),
                hydroxymitragynine_mg_per_g: Some(h),
                ..Default::default()
            },
            ..Default::default()
        };
        let fields = |a: &Assay, typed| -> Vec<String> {
            a.implausible("assay.", typed, false)
                .into_iter()
                .map(|i| i.field)
                .collect()
        };
        assert_eq!(
            fields(&assay(1.6, 0.01), true),
            ["assay.mitragynine_mg_per_g"]
        );
        // The same value converted from 0.16 % is what the certificate says.
        assert!(fields(&assay(1.6, 0.01), false).is_empty());
        assert!(fields(&assay(3.0, 0.01), true).is_empty());
        assert_eq!(
            fields(&assay(16.0, 16.5), true),
            ["assay.hydroxymitragynine_mg_per_g"]
        );
        assert!(fields(&assay(16.0, 16.0), true).is_empty());
        assert_eq!(
            fields(&assay(990.0, 20.0), true),
            ["assay.mitragynine_mg_per_g"]
        );
        assert!(fields(&assay(980.0, 20.0), true).is_empty());
        // A 7-OH tablet is expected to hold more 7-OH than mitragynine.
        assert!(
            assay(2.0, 50.0)
                .implausible("assay.", true, true)
                .is_empty()
        );
    }
}
