//! The product catalogue: products, batches and their certificates of analysis (COA),
//! with each batch's quality flags explained in plain words. Clinicians manage the
//! catalogue; patients read it and may add a product "as labelled" for review. A
//! patient's addition is seen only by them and their care team until reviewed, and who
//! added it only by them ever after (`speciosa_core::policy::product_visibility`).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::legal_pages::Lookup;
use speciosa_app::products::{AssayFields, BatchFields};
use speciosa_app::records::{Batch, Product};
use speciosa_core::account::Role;
use speciosa_core::amount::{AmountError, parse_amount};
use speciosa_core::ids::{BatchId, ProductId};
use speciosa_core::product::{
    Alkaloids, AsPrinted, Assay, HeavyMetals, Microbial, ProductFields, ProductForm,
};
use speciosa_core::quality::{QualityFlag, Severity};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::legal::ProductLegalView;
use crate::pages::{Choice, FormErrors, Nav, Notice, render};

const PRODUCT_LABELS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("form", "Form"),
    ("vendor", "Vendor or brand"),
    ("labelled_strain", "Strain on the label"),
    ("unit_mass_g", "Fill mass of one capsule or tablet"),
    ("serving_size", "Serving size on the label"),
    ("teaspoon_g", "Grams in one level teaspoon"),
];

const BATCH_LABELS: &[(&str, &str)] = &[
    ("lot", "Lot code"),
    ("assay.lab", "Laboratory"),
    ("assay.tested_on", "Test date"),
    ("assay.mitragynine_mg_per_g", "Mitragynine (MG)"),
    (
        "assay.hydroxymitragynine_mg_per_g",
        "7-hydroxymitragynine (7-OH)",
    ),
    ("assay.paynantheine_mg_per_g", "Paynantheine"),
    ("assay.speciogynine_mg_per_g", "Speciogynine"),
    ("assay.speciociliatine_mg_per_g", "Speciociliatine"),
    ("assay.corynantheidine_mg_per_g", "Corynantheidine"),
    (
        "assay.mitragynine_pseudoindoxyl_mg_per_g",
        "Mitragynine pseudoindoxyl",
    ),
    ("assay.hydroxymitragynine_loq_mg_per_g", "7-OH limit (LOQ)"),
    ("assay.mitragynine_loq_mg_per_g", "Mitragynine limit (LOQ)"),
    ("assay.mitragynine_percent_w_w", "Mitragynine (% w/w)"),
    ("assay.hydroxymitragynine_percent_w_w", "7-OH (% w/w)"),
    ("assay.mitragynine_mg_per_unit", "Mitragynine (mg per unit)"),
    ("assay.hydroxymitragynine_mg_per_unit", "7-OH (mg per unit)"),
    ("assay.heavy_metals.lead_ppb", "Lead (ppb)"),
    ("assay.heavy_metals.arsenic_ppb", "Arsenic (ppb)"),
    ("assay.heavy_metals.cadmium_ppb", "Cadmium (ppb)"),
    ("assay.heavy_metals.mercury_ppb", "Mercury (ppb)"),
    ("assay.heavy_metals.lead_ppm", "Lead"),
    ("assay.heavy_metals.arsenic_ppm", "Arsenic"),
    ("assay.heavy_metals.cadmium_ppm", "Cadmium"),
    ("assay.heavy_metals.mercury_ppm", "Mercury"),
    ("assay.microbial.salmonella_detected", "Salmonella"),
    ("assay.microbial.e_coli_detected", "E. coli"),
    (
        "assay.microbial.total_aerobic_cfu_per_g",
        "Total aerobic count",
    ),
    ("assay.microbial.yeast_mold_cfu_per_g", "Yeast and mould"),
    ("recall_reason", "Reason for the recall"),
];

// ---------------------------------------------------------------------------
// Shared formatting, also used by the dose pages.

/// A typed number: empty is "not given"; anything unreadable becomes NaN, which the
/// services refuse with the field's own message. Read like a dose amount
/// (`speciosa_core::amount`): a decimal comma is a decimal mark, since phone keyboards in
/// many languages offer only a comma, and digit grouping ("1,500") is refused rather
/// than guessed, so an assay is never silently a thousand times off.
pub fn number(raw: &str) -> Option<f64> {
    let text = raw.trim();
    if text.is_empty() {
        return None;
    }
    Some(parse_amount(text).unwrap_or(f64::NAN))
}

/// A number as it goes back into a form field: unrounded, without trailing zeros.
pub fn plain(value: Option<f64>) -> String {
    value.map(|v| format!("{v}")).unwrap_or_default()
}

/// A quantity rounded for reading, e.g. `19.50`.
pub fn fixed(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

/// Orders names as people read them: case and quotation marks aside.
pub fn sort_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn text(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// One quality flag as shown: a severity badge, the plain-words explanation and,
/// behind "Why?", the standard, its source and how strong the evidence is.
pub struct FlagRow {
    /// `info`, `warning` or `urgent`, for styling.
    pub severity: &'static str,
    pub severity_label: &'static str,
    pub explanation: String,
    pub standard: String,
    pub reference: String,
    pub evidence: String,
    /// The evidence behind the rule is weak (derived arithmetic or secondary sources).
    pub weak: bool,
}

impl From<QualityFlag> for FlagRow {
    fn from(flag: QualityFlag) -> Self {
        let (severity, severity_label) = match flag.severity {
            Severity::Info => ("info", "Note"),
            Severity::Warning => ("warning", "Warning"),
            Severity::Urgent => ("urgent", "Urgent"),
        };
        FlagRow {
            severity,
            severity_label,
            weak: flag
                .evidence
                .trim_start()
                .to_lowercase()
                .starts_with("weak"),
            explanation: flag.explanation,
            standard: flag.standard,
            reference: flag.reference,
            evidence: flag.evidence,
        }
    }
}

/// The key numbers of a certificate of analysis.
pub struct CoaSummary {
    pub mitragynine: String,
    pub hydroxy: String,
    pub lab: Option<String>,
    pub tested_on: Option<String>,
    pub metals: Option<String>,
}

/// One content figure: `19.50 mg/g`, `not detected (limit 0.05 mg/g)` or `not reported`.
fn content(value: Option<f64>, loq: Option<f64>, per: &str) -> String {
    match value {
        None => "not reported".to_owned(),
        Some(0.0) => match loq {
            Some(limit) => format!("not detected (limit {} mg/{per})", fixed(limit, 2)),
            None => "not detected".to_owned(),
        },
        Some(v) => format!("{} mg/{per}", fixed(v, 2)),
    }
}

impl CoaSummary {
    fn new(assay: &Assay, per: &str) -> Self {
        let a = &assay.alkaloids;
        let m = &assay.heavy_metals;
        let metals: Vec<String> = [
            ("lead", m.lead_ppm),
            ("arsenic", m.arsenic_ppm),
            ("cadmium", m.cadmium_ppm),
            ("mercury", m.mercury_ppm),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name} {} ppm", fixed(v, 2))))
        .collect();
        CoaSummary {
            mitragynine: content(a.mitragynine_mg_per_g, assay.mitragynine_loq_mg_per_g, per),
            hydroxy: content(
                a.hydroxymitragynine_mg_per_g,
                assay.hydroxymitragynine_loq_mg_per_g,
                per,
            ),
            lab: assay.lab.clone(),
            tested_on: assay.tested_on.map(|d| d.to_string()),
            metals: (!metals.is_empty()).then(|| metals.join(", ")),
        }
    }
}

/// A batch as shown in the catalogue and on its product's page.
pub struct BatchCard {
    pub id: String,
    pub lot: String,
    pub coa: Option<CoaSummary>,
    pub recalled: bool,
    pub flags: Vec<FlagRow>,
    pub urgent_count: usize,
}

impl BatchCard {
    pub fn new(state: &AppState, product: &Product, batch: &Batch) -> Self {
        let per = per_unit(product.details.form);
        let flags: Vec<FlagRow> = speciosa_app::products::batch_flags(&state.app, product, batch)
            .into_iter()
            .map(FlagRow::from)
            .collect();
        BatchCard {
            id: batch.id.to_string(),
            lot: batch.lot.clone(),
            coa: batch.assay.as_ref().map(|a| CoaSummary::new(a, per)),
            recalled: batch.recalled,
            urgent_count: flags.iter().filter(|f| f.severity == "urgent").count(),
            flags,
        }
    }
}

/// Contents are per gram, or per mL for liquids.
pub fn per_unit(form: ProductForm) -> &'static str {
    if form.is_liquid() { "mL" } else { "g" }
}

/// A product with its batches.
struct ProductCard {
    id: String,
    name: String,
    form: &'static str,
    vendor: Option<String>,
    labelled_strain: Option<String>,
    pending_review: bool,
    added_by_patient: bool,
    unit_mass: Option<String>,
    serving: Option<String>,
    teaspoon: Option<String>,
    labels_hydroxy: bool,
    batches: Vec<BatchCard>,
}

impl ProductCard {
    fn new(state: &AppState, product: &Product, batches: &[Batch]) -> Self {
        let d = &product.details;
        let serving_unit = if d.form.is_liquid() { "mL" } else { "g" };
        ProductCard {
            id: product.id.to_string(),
            name: d.name.clone(),
            form: d.form.label(),
            vendor: d.vendor.clone(),
            labelled_strain: d.labelled_strain.clone(),
            pending_review: product.review_status == "pending_review",
            added_by_patient: product.added_by_patient_id.is_some(),
            unit_mass: d.unit_mass_g.map(|g| format!("{} g", fixed(g, 3))),
            serving: d
                .serving_size
                .map(|s| format!("{} {serving_unit}", fixed(s, 2))),
            teaspoon: d.teaspoon_g.map(|g| format!("{} g", fixed(g, 2))),
            labels_hydroxy: d.labels_hydroxy_as_ingredient,
            batches: batches
                .iter()
                .filter(|b| b.product_id == product.id)
                .map(|b| BatchCard::new(state, product, b))
                .collect(),
        }
    }
}

fn form_choices() -> Vec<Choice> {
    ProductForm::ALL
        .iter()
        .map(|f| Choice {
            value: f.as_str(),
            label: f.label().to_owned(),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Product form.

/// The product form as typed.
#[derive(Deserialize, Default)]
pub struct ProductInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    form: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    labelled_strain: String,
    #[serde(default)]
    unit_mass_g: String,
    #[serde(default)]
    serving_size: String,
    #[serde(default)]
    teaspoon_g: String,
    labels_hydroxy_as_ingredient: Option<String>,
    reviewed: Option<String>,
}

impl ProductInput {
    fn labels_hydroxy(&self) -> bool {
        self.labels_hydroxy_as_ingredient.is_some()
    }

    fn fields(&self) -> ProductFields<'_> {
        ProductFields {
            name: &self.name,
            form: &self.form,
            vendor: text(&self.vendor),
            labelled_strain: text(&self.labelled_strain),
            unit_mass_g: number(&self.unit_mass_g),
            serving_size: number(&self.serving_size),
            teaspoon_g: number(&self.teaspoon_g),
            labels_hydroxy_as_ingredient: self.labels_hydroxy(),
        }
    }

    fn reviewed(&self) -> bool {
        self.reviewed.is_some()
    }

    fn from_product(product: &Product) -> Self {
        let d = &product.details;
        ProductInput {
            name: d.name.clone(),
            form: d.form.as_str().to_owned(),
            vendor: d.vendor.clone().unwrap_or_default(),
            labelled_strain: d.labelled_strain.clone().unwrap_or_default(),
            unit_mass_g: plain(d.unit_mass_g),
            serving_size: plain(d.serving_size),
            teaspoon_g: plain(d.teaspoon_g),
            labels_hydroxy_as_ingredient: d.labels_hydroxy_as_ingredient.then(|| "on".into()),
            reviewed: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Batch and certificate form.

/// The batch form as typed. Inputs are named flat; their ids are the API's field
/// names (`assay.heavy_metals.lead_ppm`) so error messages link to them.
#[derive(Deserialize, Default)]
pub struct BatchInput {
    #[serde(default)]
    lot: String,
    #[serde(default)]
    lab: String,
    #[serde(default)]
    tested_on: String,
    #[serde(default)]
    mitragynine_mg_per_g: String,
    #[serde(default)]
    hydroxymitragynine_mg_per_g: String,
    #[serde(default)]
    paynantheine_mg_per_g: String,
    #[serde(default)]
    speciogynine_mg_per_g: String,
    #[serde(default)]
    speciociliatine_mg_per_g: String,
    #[serde(default)]
    corynantheidine_mg_per_g: String,
    #[serde(default)]
    mitragynine_pseudoindoxyl_mg_per_g: String,
    #[serde(default)]
    hydroxymitragynine_loq_mg_per_g: String,
    #[serde(default)]
    mitragynine_loq_mg_per_g: String,
    #[serde(default)]
    lead_ppm: String,
    #[serde(default)]
    arsenic_ppm: String,
    #[serde(default)]
    cadmium_ppm: String,
    #[serde(default)]
    mercury_ppm: String,
    /// ``, `absent` or `detected`.
    #[serde(default)]
    salmonella: String,
    #[serde(default)]
    e_coli: String,
    #[serde(default)]
    total_aerobic_cfu_per_g: String,
    #[serde(default)]
    yeast_mold_cfu_per_g: String,
    recalled: Option<String>,
    #[serde(default)]
    recall_reason: String,
    /// How the certificate prints mitragynine and 7-OH: `mg_per_g` (default),
    /// `percent_w_w` or `mg_per_unit`; and metals: `ppm` (default) or `ppb`.
    #[serde(default)]
    mitragynine_unit: String,
    #[serde(default)]
    hydroxymitragynine_unit: String,
    #[serde(default)]
    metals_unit: String,
    /// The person checked values flagged as implausible and saves them anyway.
    confirm_implausible: Option<String>,
}

fn detected(raw: &str) -> Option<bool> {
    match raw {
        "detected" => Some(true),
        "absent" => Some(false),
        _ => None,
    }
}

fn detected_code(value: Option<bool>) -> String {
    match value {
        Some(true) => "detected".into(),
        Some(false) => "absent".into(),
        None => String::new(),
    }
}

impl BatchInput {
    fn is_recalled(&self) -> bool {
        self.recalled.is_some()
    }

    /// Every certificate field, as typed (everything but lot and recall).
    fn coa_values(&self) -> [&str; 19] {
        [
            &self.lab,
            &self.tested_on,
            &self.mitragynine_mg_per_g,
            &self.hydroxymitragynine_mg_per_g,
            &self.paynantheine_mg_per_g,
            &self.speciogynine_mg_per_g,
            &self.speciociliatine_mg_per_g,
            &self.corynantheidine_mg_per_g,
            &self.mitragynine_pseudoindoxyl_mg_per_g,
            &self.hydroxymitragynine_loq_mg_per_g,
            &self.mitragynine_loq_mg_per_g,
            &self.lead_ppm,
            &self.arsenic_ppm,
            &self.cadmium_ppm,
            &self.mercury_ppm,
            &self.salmonella,
            &self.e_coli,
            &self.total_aerobic_cfu_per_g,
            &self.yeast_mold_cfu_per_g,
        ]
    }

    fn fields(&self) -> BatchFields {
        let has_assay = self.coa_values().iter().any(|v| !v.trim().is_empty());
        let assay = has_assay.then(|| AssayFields {
            lab: text(&self.lab).map(str::to_owned),
            tested_on: text(&self.tested_on).map(str::to_owned),
            alkaloids: Alkaloids {
                mitragynine_mg_per_g: number(&self.mitragynine_mg_per_g),
                hydroxymitragynine_mg_per_g: number(&self.hydroxymitragynine_mg_per_g),
                paynantheine_mg_per_g: number(&self.paynantheine_mg_per_g),
                speciogynine_mg_per_g: number(&self.speciogynine_mg_per_g),
                speciociliatine_mg_per_g: number(&self.speciociliatine_mg_per_g),
                corynantheidine_mg_per_g: number(&self.corynantheidine_mg_per_g),
                mitragynine_pseudoindoxyl_mg_per_g: number(
                    &self.mitragynine_pseudoindoxyl_mg_per_g,
                ),
            },
            hydroxymitragynine_loq_mg_per_g: number(&self.hydroxymitragynine_loq_mg_per_g),
            mitragynine_loq_mg_per_g: number(&self.mitragynine_loq_mg_per_g),
            heavy_metals: HeavyMetals {
                lead_ppm: number(&self.lead_ppm),
                arsenic_ppm: number(&self.arsenic_ppm),
                cadmium_ppm: number(&self.cadmium_ppm),
                mercury_ppm: number(&self.mercury_ppm),
            },
            microbial: Microbial {
                salmonella_detected: detected(&self.salmonella),
                e_coli_detected: detected(&self.e_coli),
                total_aerobic_cfu_per_g: number(&self.total_aerobic_cfu_per_g),
                yeast_mold_cfu_per_g: number(&self.yeast_mold_cfu_per_g),
            },
            printed: AsPrinted::default(),
            confirm_implausible: self.confirm_implausible.is_some(),
        });
        let assay = assay.map(|mut assay| {
            self.route_printed(&mut assay);
            assay
        });
        BatchFields {
            lot: self.lot.clone(),
            assay,
            recalled: self.is_recalled(),
            recall_reason: text(&self.recall_reason).map(str::to_owned),
        }
    }

    /// Moves the numbers typed in the mg/g and ppm boxes to the unit the form says the
    /// certificate prints them in.
    fn route_printed(&self, assay: &mut AssayFields) {
        let printed = &mut assay.printed;
        let alkaloids = &mut assay.alkaloids;
        match self.mitragynine_unit.as_str() {
            "percent_w_w" => {
                printed.mitragynine_percent_w_w = alkaloids.mitragynine_mg_per_g.take()
            }
            "mg_per_unit" => {
                printed.mitragynine_mg_per_unit = alkaloids.mitragynine_mg_per_g.take()
            }
            _ => {}
        }
        match self.hydroxymitragynine_unit.as_str() {
            "percent_w_w" => {
                printed.hydroxymitragynine_percent_w_w =
                    alkaloids.hydroxymitragynine_mg_per_g.take()
            }
            "mg_per_unit" => {
                printed.hydroxymitragynine_mg_per_unit =
                    alkaloids.hydroxymitragynine_mg_per_g.take()
            }
            _ => {}
        }
        if self.metals_unit == "ppb" {
            let metals = &mut assay.heavy_metals;
            printed.lead_ppb = metals.lead_ppm.take();
            printed.arsenic_ppb = metals.arsenic_ppm.take();
            printed.cadmium_ppb = metals.cadmium_ppm.take();
            printed.mercury_ppb = metals.mercury_ppm.take();
        }
    }

    fn from_batch(batch: &Batch) -> Self {
        let mut input = BatchInput {
            lot: batch.lot.clone(),
            recalled: batch.recalled.then(|| "on".into()),
            recall_reason: batch.recall_reason.clone().unwrap_or_default(),
            ..Default::default()
        };
        if let Some(assay) = &batch.assay {
            let a = &assay.alkaloids;
            let m = &assay.heavy_metals;
            let micro = &assay.microbial;
            input.lab = assay.lab.clone().unwrap_or_default();
            input.tested_on = assay.tested_on.map(|d| d.to_string()).unwrap_or_default();
            input.mitragynine_mg_per_g = plain(a.mitragynine_mg_per_g);
            input.hydroxymitragynine_mg_per_g = plain(a.hydroxymitragynine_mg_per_g);
            input.paynantheine_mg_per_g = plain(a.paynantheine_mg_per_g);
            input.speciogynine_mg_per_g = plain(a.speciogynine_mg_per_g);
            input.speciociliatine_mg_per_g = plain(a.speciociliatine_mg_per_g);
            input.corynantheidine_mg_per_g = plain(a.corynantheidine_mg_per_g);
            input.mitragynine_pseudoindoxyl_mg_per_g = plain(a.mitragynine_pseudoindoxyl_mg_per_g);
            input.hydroxymitragynine_loq_mg_per_g = plain(assay.hydroxymitragynine_loq_mg_per_g);
            input.mitragynine_loq_mg_per_g = plain(assay.mitragynine_loq_mg_per_g);
            input.lead_ppm = plain(m.lead_ppm);
            input.arsenic_ppm = plain(m.arsenic_ppm);
            input.cadmium_ppm = plain(m.cadmium_ppm);
            input.mercury_ppm = plain(m.mercury_ppm);
            input.salmonella = detected_code(micro.salmonella_detected);
            input.e_coli = detected_code(micro.e_coli_detected);
            input.total_aerobic_cfu_per_g = plain(micro.total_aerobic_cfu_per_g);
            input.yeast_mold_cfu_per_g = plain(micro.yeast_mold_cfu_per_g);
        }
        input
    }

    /// Rewrites range messages for fields whose text is not a number at all.
    fn explain_unreadable(&self, mut errors: FormErrors) -> FormErrors {
        let typed: Vec<NumField> = self
            .groups("g")
            .into_iter()
            .flat_map(|g| g.fields)
            .chain(self.microbial_counts())
            .collect();
        for error in &mut errors.fields {
            let unreadable = typed
                .iter()
                .find(|f| f.id == error.field && number(&f.value).is_some_and(f64::is_nan));
            if let Some(field) = unreadable {
                error.detail = match parse_amount(field.value.trim()) {
                    Err(reason @ (AmountError::Grouped(_) | AmountError::Ambiguous { .. })) => {
                        reason.to_string()
                    }
                    _ => "enter a number, such as 19.5, or leave it empty".into(),
                };
            }
        }
        errors
    }

    /// The certificate's number fields in their groups, for the template.
    fn groups(&self, per: &'static str) -> Vec<FieldGroup> {
        let content_unit = if per == "mL" { "mg/mL" } else { "mg/g" };
        let field = |id: &'static str,
                     name: &'static str,
                     label: &'static str,
                     unit: &'static str,
                     value: &str| NumField {
            id,
            name,
            label,
            unit,
            value: value.to_owned(),
        };
        vec![
            FieldGroup {
                legend: if per == "mL" {
                    "Alkaloids (mg per mL)"
                } else {
                    "Alkaloids (mg per g)"
                },
                hint: "As printed on the certificate. Leave a value empty if the lab did not report it; enter 0 if it reported “not detected”. 1 % w/w is 10 mg/g.",
                fields: vec![
                    field(
                        "assay.mitragynine_mg_per_g",
                        "mitragynine_mg_per_g",
                        "Mitragynine (MG)",
                        content_unit,
                        &self.mitragynine_mg_per_g,
                    ),
                    field(
                        "assay.hydroxymitragynine_mg_per_g",
                        "hydroxymitragynine_mg_per_g",
                        "7-hydroxymitragynine (7-OH)",
                        content_unit,
                        &self.hydroxymitragynine_mg_per_g,
                    ),
                    field(
                        "assay.paynantheine_mg_per_g",
                        "paynantheine_mg_per_g",
                        "Paynantheine",
                        content_unit,
                        &self.paynantheine_mg_per_g,
                    ),
                    field(
                        "assay.speciogynine_mg_per_g",
                        "speciogynine_mg_per_g",
                        "Speciogynine",
                        content_unit,
                        &self.speciogynine_mg_per_g,
                    ),
                    field(
                        "assay.speciociliatine_mg_per_g",
                        "speciociliatine_mg_per_g",
                        "Speciociliatine",
                        content_unit,
                        &self.speciociliatine_mg_per_g,
                    ),
                    field(
                        "assay.corynantheidine_mg_per_g",
                        "corynantheidine_mg_per_g",
                        "Corynantheidine",
                        content_unit,
                        &self.corynantheidine_mg_per_g,
                    ),
                    field(
                        "assay.mitragynine_pseudoindoxyl_mg_per_g",
                        "mitragynine_pseudoindoxyl_mg_per_g",
                        "Mitragynine pseudoindoxyl",
                        content_unit,
                        &self.mitragynine_pseudoindoxyl_mg_per_g,
                    ),
                ],
            },
            FieldGroup {
                legend: "Method limits",
                hint: "The lab's limit of quantitation (LOQ). A “not detected” 7-OH result only shows the 7-OH limits are met if the method can see below 0.5 mg/g.",
                fields: vec![
                    field(
                        "assay.hydroxymitragynine_loq_mg_per_g",
                        "hydroxymitragynine_loq_mg_per_g",
                        "7-OH limit (LOQ)",
                        content_unit,
                        &self.hydroxymitragynine_loq_mg_per_g,
                    ),
                    field(
                        "assay.mitragynine_loq_mg_per_g",
                        "mitragynine_loq_mg_per_g",
                        "Mitragynine limit (LOQ)",
                        content_unit,
                        &self.mitragynine_loq_mg_per_g,
                    ),
                ],
            },
            FieldGroup {
                legend: "Heavy metals (ppm, µg/g)",
                hint: "Judged for each patient against USP <2232> daily limits at their own daily intake of this batch.",
                fields: vec![
                    field(
                        "assay.heavy_metals.lead_ppm",
                        "lead_ppm",
                        "Lead",
                        "ppm",
                        &self.lead_ppm,
                    ),
                    field(
                        "assay.heavy_metals.arsenic_ppm",
                        "arsenic_ppm",
                        "Arsenic",
                        "ppm",
                        &self.arsenic_ppm,
                    ),
                    field(
                        "assay.heavy_metals.cadmium_ppm",
                        "cadmium_ppm",
                        "Cadmium",
                        "ppm",
                        &self.cadmium_ppm,
                    ),
                    field(
                        "assay.heavy_metals.mercury_ppm",
                        "mercury_ppm",
                        "Mercury",
                        "ppm",
                        &self.mercury_ppm,
                    ),
                ],
            },
        ]
    }

    fn microbial_counts(&self) -> Vec<NumField> {
        vec![
            NumField {
                id: "assay.microbial.total_aerobic_cfu_per_g",
                name: "total_aerobic_cfu_per_g",
                label: "Total aerobic count",
                unit: "CFU/g",
                value: self.total_aerobic_cfu_per_g.clone(),
            },
            NumField {
                id: "assay.microbial.yeast_mold_cfu_per_g",
                name: "yeast_mold_cfu_per_g",
                label: "Yeast and mould",
                unit: "CFU/g",
                value: self.yeast_mold_cfu_per_g.clone(),
            },
        ]
    }
}

/// One number input of the certificate form.
struct NumField {
    /// The API's field name, used as the input's id so error links land on it.
    id: &'static str,
    name: &'static str,
    label: &'static str,
    unit: &'static str,
    value: String,
}

struct FieldGroup {
    legend: &'static str,
    hint: &'static str,
    fields: Vec<NumField>,
}

/// The batch form's parts, as the templates need them.
struct BatchFormView {
    input: BatchInput,
    errors: FormErrors,
    groups: Vec<FieldGroup>,
    microbial: Vec<NumField>,
}

impl BatchFormView {
    fn new(input: BatchInput, errors: FormErrors, per: &'static str) -> Self {
        BatchFormView {
            groups: input.groups(per),
            microbial: input.microbial_counts(),
            input,
            errors,
        }
    }
}

/// A recall needs its reason: patients and colleagues will ask why.
fn recall_reason_missing(input: &BatchInput) -> Option<FormErrors> {
    if input.is_recalled() && input.recall_reason.trim().is_empty() {
        let error: ApiError = speciosa_core::FieldErrors::single(
            "recall_reason",
            "say why the batch was recalled (for example the notice or the contaminant found)",
        )
        .into();
        FormErrors::from_api(error.into(), BATCH_LABELS).ok()
    } else {
        None
    }
}

fn product_id(raw: &str) -> Result<ProductId, PageError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("product").into())
}

fn batch_id(raw: &str) -> Result<BatchId, PageError> {
    raw.parse().map_err(|_| ApiError::not_found("batch").into())
}

// ---------------------------------------------------------------------------
// The catalogue.

#[derive(Template)]
#[template(path = "products.html")]
struct CataloguePage {
    nav: Nav,
    is_clinician: bool,
    products: Vec<ProductCard>,
    /// Patients' additions waiting for review: (id, name).
    pending: Vec<(String, String)>,
    product_form: ProductInput,
    product_errors: FormErrors,
    forms: Vec<Choice>,
    /// The patient's short form: no strain, no review.
    simple: bool,
    notice: Option<&'static str>,
}

async fn catalogue_page(
    state: &AppState,
    user: &Authenticated,
    product_form: ProductInput,
    product_errors: FormErrors,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let (mut products, batches) = speciosa_app::products::catalogue(&state.app, user).await?;
    products.sort_by_key(|p| sort_key(&p.details.name));
    let cards: Vec<ProductCard> = products
        .iter()
        .map(|p| ProductCard::new(state, p, &batches))
        .collect();
    let is_clinician = user.actor.role == Role::Clinician;
    let page = CataloguePage {
        nav: Nav::for_user(user).at("/products"),
        is_clinician,
        pending: cards
            .iter()
            .filter(|c| c.pending_review)
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect(),
        products: cards,
        product_form,
        product_errors,
        forms: form_choices(),
        simple: !is_clinician,
        notice,
    };
    Ok((page.product_errors.status, render(&page)?).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("suggested") => Some(
            "Thank you. The product is recorded as labelled, and your clinician will review it. You can log doses of it now.",
        ),
        _ => None,
    };
    catalogue_page(
        &state,
        &user,
        ProductInput::default(),
        FormErrors::none(),
        notice,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    submitted: PageForm<ProductInput>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    // Only a clinician's review marks a product reviewed, and only on its own page.
    let mut fields = form.fields();
    if user.actor.role == Role::Patient {
        fields.labelled_strain = None;
    }
    match speciosa_app::products::add_product(&state.app, &user, &fields).await {
        Ok((product, _)) if user.actor.role == Role::Patient => Ok(Redirect::to(&format!(
            "/products?saved=suggested#product-{}",
            product.id
        ))
        .into_response()),
        Ok((product, _)) => Ok(Redirect::to(&format!(
            "/products/{}?saved=added#add-batch-heading",
            product.id
        ))
        .into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(error.into(), PRODUCT_LABELS)?;
            catalogue_page(&state, &user, form, errors, None).await
        }
    }
}

// ---------------------------------------------------------------------------
// One product: details, batches, and (clinicians) its edit and add-batch forms.

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    nav: Nav,
    is_clinician: bool,
    product: ProductCard,
    product_form: ProductInput,
    product_errors: FormErrors,
    forms: Vec<Choice>,
    simple: bool,
    batch: BatchFormView,
    notice: Option<&'static str>,
    /// Kratom's legal status for this product where patients live, and any look-up.
    legal: ProductLegalView,
}

/// `?jurisdiction=US-TN&date=2026-01-15`: the product page's legal look-up.
#[derive(Debug, Default, Deserialize)]
pub struct LegalQuery {
    #[serde(default)]
    jurisdiction: String,
    #[serde(default)]
    date: String,
}

async fn product_page(
    state: &AppState,
    user: &Authenticated,
    id: ProductId,
    forms: (Option<ProductInput>, FormErrors),
    batch_form: (BatchInput, FormErrors),
    notice: Option<&'static str>,
    lookup: &Lookup,
) -> Result<Response, PageError> {
    let (product, batches) = speciosa_app::products::read_product(&state.app, user, id).await?;
    let own: Vec<&Batch> = batches
        .iter()
        .filter(|b| b.product_id == product.id)
        .collect();
    let legal =
        speciosa_app::legal_pages::product_legal(&state.app, user, &product, &own, lookup).await?;
    let legal = ProductLegalView::new(&legal, &lookup.jurisdiction, &lookup.date);
    let (product_form, product_errors) = forms;
    let per = per_unit(product.details.form);
    let lookup_status = if legal.lookup_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let status = product_errors
        .status
        .max(batch_form.1.status)
        .max(lookup_status);
    let page = ProductPage {
        legal,
        nav: Nav::for_user(user).at("/products"),
        is_clinician: user.actor.role == Role::Clinician,
        product_form: product_form.unwrap_or_else(|| ProductInput::from_product(&product)),
        product: ProductCard::new(state, &product, &batches),
        product_errors,
        forms: form_choices(),
        simple: false,
        batch: BatchFormView::new(batch_form.0, batch_form.1, per),
        notice,
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    notice: Result<Query<Notice>, QueryRejection>,
    legal: Result<Query<LegalQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = product_id(&id)?;
    let legal = legal.map(|q| q.0).unwrap_or_default();
    let lookup = Lookup {
        jurisdiction: legal.jurisdiction,
        date: legal.date,
    };
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("added") => Some(
            "Product added to the catalogue. Now add its batch and, if there is one, the lab certificate.",
        ),
        Some("product") => Some("Product details saved. Flags have been recalculated."),
        Some("reviewed") => Some("Product reviewed and saved."),
        Some("batch") => Some("Batch added. Its flags are shown below."),
        Some("batch-updated") => Some("Batch saved. Its flags have been recalculated."),
        _ => None,
    };
    product_page(
        &state,
        &user,
        id,
        (None, FormErrors::none()),
        (BatchInput::default(), FormErrors::none()),
        notice,
        &lookup,
    )
    .await
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<ProductInput>,
) -> Result<Response, PageError> {
    let id = product_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let reviewed = form.reviewed();
    match speciosa_app::products::edit_product(&state.app, &user, id, &form.fields(), reviewed)
        .await
    {
        Ok(_) => {
            let saved = if reviewed { "reviewed" } else { "product" };
            Ok(Redirect::to(&format!("/products/{id}?saved={saved}#main")).into_response())
        }
        Err(error) => {
            let errors = FormErrors::from_api(error.into(), PRODUCT_LABELS)?;
            product_page(
                &state,
                &user,
                id,
                (Some(form), errors),
                (BatchInput::default(), FormErrors::none()),
                None,
                &Lookup::default(),
            )
            .await
        }
    }
}

pub async fn create_batch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<BatchInput>,
) -> Result<Response, PageError> {
    let id = product_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    match speciosa_app::products::add_batch(&state.app, &user, id, &form.fields()).await {
        Ok((_, batch)) => Ok(Redirect::to(&format!(
            "/products/{id}?saved=batch#batch-{}",
            batch.id
        ))
        .into_response()),
        Err(error) => {
            let errors = form.explain_unreadable(FormErrors::from_api(error.into(), BATCH_LABELS)?);
            product_page(
                &state,
                &user,
                id,
                (None, FormErrors::none()),
                (form, errors),
                None,
                &Lookup::default(),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------
// One batch: update its certificate, or recall it.

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchPage {
    nav: Nav,
    product_id: String,
    product_name: String,
    card: BatchCard,
    batch: BatchFormView,
}

async fn batch_page(
    state: &AppState,
    user: &Authenticated,
    id: BatchId,
    form: Option<BatchInput>,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let (product, batch) = speciosa_app::products::batch_to_edit(&state.app, user, id).await?;
    let per = per_unit(product.details.form);
    let status = errors.status;
    let page = BatchPage {
        nav: Nav::for_user(user).at("/products"),
        product_id: product.id.to_string(),
        product_name: product.details.name.clone(),
        card: BatchCard::new(state, &product, &batch),
        batch: BatchFormView::new(
            form.unwrap_or_else(|| BatchInput::from_batch(&batch)),
            errors,
            per,
        ),
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn edit_batch_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = batch_id(&id)?;
    batch_page(&state, &user, id, None, FormErrors::none()).await
}

pub async fn update_batch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<BatchInput>,
) -> Result<Response, PageError> {
    let id = batch_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let result = match recall_reason_missing(&form) {
        // Refuse the role first, as the service would, before talking about the form.
        Some(errors) => {
            speciosa_app::products::batch_to_edit(&state.app, &user, id).await?;
            Err(errors)
        }
        None => {
            match speciosa_app::products::edit_batch(&state.app, &user, id, &form.fields()).await {
                Ok((product, batch)) => Ok((product, batch)),
                Err(error) => {
                    Err(form.explain_unreadable(FormErrors::from_api(error.into(), BATCH_LABELS)?))
                }
            }
        }
    };
    match result {
        Ok((product, batch)) => Ok(Redirect::to(&format!(
            "/products/{}?saved=batch-updated#batch-{}",
            product.id, batch.id
        ))
        .into_response()),
        Err(errors) => batch_page(&state, &user, id, Some(form), errors).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_accept_a_decimal_comma_and_refuse_words() {
        assert_eq!(number(" 2.5 "), Some(2.5));
        assert_eq!(number("2,5"), Some(2.5));
        assert_eq!(number(""), None);
        assert!(number("two").is_some_and(f64::is_nan));
        assert!(number("inf").is_some_and(f64::is_nan));
    }

    #[test]
    fn an_empty_certificate_is_no_certificate() {
        let input = BatchInput {
            lot: "K51".into(),
            ..Default::default()
        };
        assert!(input.fields().assay.is_none());
        let input = BatchInput {
            lot: "K51".into(),
            salmonella: "absent".into(),
            ..Default::default()
        };
        let assay = input.fields().assay.expect("a certificate");
        assert_eq!(assay.microbial.salmonella_detected, Some(false));
    }

    #[test]
    fn content_says_not_detected_with_its_limit() {
        assert_eq!(content(Some(19.5), None, "g"), "19.50 mg/g");
        assert_eq!(
            content(Some(0.0), Some(0.05), "g"),
            "not detected (limit 0.05 mg/g)"
        );
        assert_eq!(content(None, None, "mL"), "not reported");
    }
}
