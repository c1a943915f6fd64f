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
    pub heavy_metals: HeavyMetals,
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
