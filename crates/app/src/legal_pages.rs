//! Kratom's legal status as the dose and product pages show it: what applies where a
//! patient lives for the products they use, and, for a product, where the organization's
//! patients live. The status per scope, its date, source and verification follow
//! `../shared/reference/legal-and-products.md` §4.2 ("Warning computation"); the rules
//! themselves are read through [`crate::legal`].

use jiff::civil::Date;
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{BatchId, PatientId, ProductId};
use speciosa_core::legal::{LegalAnswer, RuleView, SubstanceScope};
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_core::safety::legal_status::HydroxyContent;
use speciosa_store::{Batch, Product};

use crate::{App, AppError, Caller, access};

/// At most this many distinct jurisdictions are shown on a product page.
pub const PLACES_SHOWN: usize = 50;

/// Batches of one product that fall under the same legal scopes.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeGroup {
    /// Their lot numbers; empty when the product has no batch yet.
    pub lots: Vec<String>,
    pub scopes: Vec<SubstanceScope>,
}

/// A product and the legal scopes its batches fall under, grouped where batches differ
/// (an enriched lot of a leaf product also counts as concentrated 7-OH).
#[derive(Clone, Debug, PartialEq)]
pub struct ProductScopes {
    pub product_id: ProductId,
    pub name: String,
    pub groups: Vec<ScopeGroup>,
}

impl ProductScopes {
    /// Every scope any of its batches falls under.
    pub fn all_scopes(&self) -> Vec<SubstanceScope> {
        let mut all: Vec<SubstanceScope> = self
            .groups
            .iter()
            .flat_map(|g| g.scopes.iter().copied())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The scopes of `product` as its `batches` show them; a product without a batch is
/// judged on its form and label alone.
pub fn scopes_of(app: &App, product: &Product, batches: &[&Batch]) -> ProductScopes {
    let blank;
    let batches: Vec<&Batch> = if batches.is_empty() {
        blank = Batch {
            id: BatchId::new(),
            product_id: product.id,
            organization_id: product.organization_id,
            lot: String::new(),
            assay: None,
            recalled: false,
            recall_reason: None,
            created_at: product.created_at,
            updated_at: product.updated_at,
        };
        vec![&blank]
    } else {
        batches.to_vec()
    };
    let mut groups: Vec<ScopeGroup> = Vec::new();
    for batch in batches {
        let flags = crate::products::batch_flags(app, product, batch);
        let scopes = crate::legal::product_scopes(product, batch, &flags);
        match groups.iter_mut().find(|g| g.scopes == scopes) {
            Some(group) if !batch.lot.is_empty() => group.lots.push(batch.lot.clone()),
            Some(_) => {}
            None => groups.push(ScopeGroup {
                lots: if batch.lot.is_empty() {
                    Vec::new()
                } else {
                    vec![batch.lot.clone()]
                },
                scopes,
            }),
        }
    }
    ProductScopes {
        product_id: product.id,
        name: product.details.name.clone(),
        groups,
    }
}

/// For each of `scopes` with a rule in force, the rule that decides it: the most
/// restrictive status wins (legal-and-products.md §4.2), and among equals the most local
/// jurisdiction (a state's own rule before the federal one). In scope order.
pub fn deciding_rules<'a>(answer: &'a LegalAnswer, scopes: &[SubstanceScope]) -> Vec<&'a RuleView> {
    let mut chosen: std::collections::BTreeMap<SubstanceScope, &RuleView> = Default::default();
    // The answer lists the widest jurisdiction first, so a later equal rule is more local.
    for rule in answer
        .rules
        .iter()
        .filter(|r| scopes.contains(&r.substance_scope))
    {
        let entry = chosen.entry(rule.substance_scope).or_insert(rule);
        if rule.status >= entry.status {
            *entry = rule;
        }
    }
    chosen.into_values().collect()
}

/// Kratom's legal status where a patient lives today, for the products they use.
#[derive(Clone, Debug)]
pub struct PatientLegal {
    /// The jurisdiction on the record, if any.
    pub recorded: Option<String>,
    /// What applies there today; `None` without a jurisdiction the dataset knows.
    pub answer: Option<LegalAnswer>,
    /// The products in use, each with its scopes.
    pub products: Vec<ProductScopes>,
}

impl PatientLegal {
    /// The scopes that matter for this patient: those of the products in use, or every
    /// scope the answer has when none is in use yet.
    pub fn scopes(&self) -> Vec<SubstanceScope> {
        let mut scopes: Vec<SubstanceScope> = if self.products.is_empty() {
            self.answer
                .iter()
                .flat_map(|a| a.rules.iter().map(|r| r.substance_scope))
                .collect()
        } else {
            self.products.iter().flat_map(|p| p.all_scopes()).collect()
        };
        scopes.sort();
        scopes.dedup();
        scopes
    }
}

/// The legal status where patient `id` lives for the products in `in_use` (records the
/// caller has already been given: the dose form's list, or the batches in the log's
/// window). Audited as a read of the patient.
pub async fn for_patient_products(
    app: &App,
    caller: &Caller,
    id: PatientId,
    in_use: &[(&Product, &Batch)],
) -> Result<PatientLegal, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "legal_status.read").await?;
    let answer = crate::legal::for_patient(app, &patient).await?;
    let mut products: Vec<(&Product, Vec<&Batch>)> = Vec::new();
    for (product, batch) in in_use {
        match products.iter_mut().find(|(p, _)| p.id == product.id) {
            Some((_, batches)) => {
                if !batches.iter().any(|b| b.id == batch.id) {
                    batches.push(batch);
                }
            }
            None => products.push((product, vec![batch])),
        }
    }
    let products: Vec<ProductScopes> = products
        .into_iter()
        .map(|(product, batches)| scopes_of(app, product, &batches))
        .collect();
    let mut entry = caller.audit(
        "legal_status.read",
        "patient",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} products", products.len()));
    app.store.append_audit(entry).await?;
    Ok(PatientLegal {
        recorded: patient
            .details
            .jurisdiction
            .as_ref()
            .map(|j| j.code().to_owned()),
        answer,
        products,
    })
}

/// One place where patients live, with what applies there on the day asked.
#[derive(Clone, Debug)]
pub struct Place {
    /// The code as recorded on patients' records.
    pub code: String,
    /// `None` when the dataset knows neither the code nor its country.
    pub answer: Option<LegalAnswer>,
}

/// What the product page asks for: any jurisdiction, on a date (today when blank).
#[derive(Clone, Debug, Default)]
pub struct Lookup {
    pub jurisdiction: String,
    pub date: String,
}

/// A product's legal status: where the organization's patients live (distinct codes only,
/// no names or counts; a patient sees only their own), and any jurisdiction looked up.
#[derive(Clone, Debug)]
pub struct ProductLegal {
    pub scopes: ProductScopes,
    pub places: Vec<Place>,
    /// More than [`PLACES_SHOWN`] places: the list stops there.
    pub capped: bool,
    /// The places are the caller's own (a patient), not the organization's.
    pub own_only: bool,
    pub date: Date,
    /// The looked-up answer, or the field errors to show beside the form.
    pub lookup: Option<Result<LegalAnswer, speciosa_core::FieldErrors>>,
    /// Each lot's 7-OH as legal limits measure it, to compare with a regulating law's
    /// limits (`legal_status::limits_exceeded`).
    pub lots: Vec<LotContent>,
}

/// One lot's legal scopes and 7-OH content, from its certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct LotContent {
    pub lot: String,
    pub scopes: Vec<SubstanceScope>,
    pub hydroxy: HydroxyContent,
}

/// The legal status of `product` (read by the caller through `products::read_product`)
/// with its `batches`, for the product page.
pub async fn product_legal(
    app: &App,
    caller: &Caller,
    product: &Product,
    batches: &[&Batch],
    lookup: &Lookup,
) -> Result<ProductLegal, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ReadCatalog,
        "legal_status.read",
        "product",
    )
    .await?;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let dataset = crate::legal::dataset_for(app, caller.actor.organization_id).await?;
    let own_only = caller.actor.role == Role::Patient;
    let mut codes = match caller.actor.own_patient_id {
        Some(own) if own_only => app
            .store
            .get_patient(own)
            .await?
            .and_then(|p| p.details.jurisdiction.map(|j| j.code().to_owned()))
            .into_iter()
            .collect(),
        _ if own_only => Vec::new(),
        _ => {
            app.store
                .patient_jurisdictions(
                    caller.actor.organization_id,
                    i64::try_from(PLACES_SHOWN + 1).unwrap_or(i64::MAX),
                )
                .await?
        }
    };
    let capped = codes.len() > PLACES_SHOWN;
    codes.truncate(PLACES_SHOWN);
    let places = codes
        .into_iter()
        .map(|code| Place {
            answer: dataset
                .resolve_patient(&code)
                .and_then(|known| dataset.rules_in_force(&known.id, today)),
            code,
        })
        .collect();
    let looked_up = if lookup.jurisdiction.trim().is_empty() && lookup.date.trim().is_empty() {
        None
    } else {
        Some(
            match crate::legal::parse_query(Some(&lookup.jurisdiction), Some(&lookup.date)) {
                Err(AppError::Invalid(errors)) => Err(errors),
                Err(other) => return Err(other),
                Ok((code, date)) => dataset.rules_in_force(&code, date).ok_or_else(|| {
                    let mut errors = speciosa_core::FieldErrors::new();
                    errors.push(
                        "jurisdiction",
                        format!(
                            "{code:?} is not in the legal dataset: give an ISO 3166 code such as \"US-TN\" or \"TH\", or a locality code such as \"US-CA:city:san-diego\""
                        ),
                    );
                    errors
                }),
            },
        )
    };
    let mut entry = caller.audit(
        "legal_status.read",
        "product",
        Some(product.id.to_string()),
        caller.actor.own_patient_id.filter(|_| own_only),
        Outcome::Success,
    );
    entry.detail = Some(format!(
        "{} jurisdictions{}",
        if capped {
            format!("first {PLACES_SHOWN}")
        } else {
            "all".to_owned()
        },
        if own_only { " (own)" } else { "" }
    ));
    app.store.append_audit(entry).await?;
    let lots = batches
        .iter()
        .filter(|b| b.assay.is_some())
        .map(|b| LotContent {
            lot: b.lot.clone(),
            scopes: crate::legal::product_scopes(
                product,
                b,
                &crate::products::batch_flags(app, product, b),
            ),
            hydroxy: HydroxyContent::of(&product.details.facts(), b.assay.as_ref()),
        })
        .collect();
    Ok(ProductLegal {
        scopes: scopes_of(app, product, batches),
        places,
        capped,
        own_only,
        date: today,
        lookup: looked_up,
        lots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use speciosa_core::legal::{LegalDataset, LegalStatus};

    fn answer(code: &str) -> LegalAnswer {
        LegalDataset::bundled()
            .expect("the bundled dataset is valid")
            .rules_in_force(code, date(2026, 1, 15))
            .expect("a known jurisdiction")
    }

    #[test]
    fn the_strictest_rule_decides_each_scope_and_scopes_outside_the_product_are_left_out() {
        let florida = answer("US-FL");
        let leaf = [
            SubstanceScope::AllKratomAlkaloids,
            SubstanceScope::KratomLeaf,
            SubstanceScope::Mitragynine,
            SubstanceScope::Hydroxymitragynine,
        ];
        let rules = deciding_rules(&florida, &leaf);
        assert!(!rules.is_empty());
        assert!(rules.iter().all(|r| leaf.contains(&r.substance_scope)));
        assert!(rules.iter().all(|r| !r.status.restricts_use()), "{rules:?}");
        let tablets = [SubstanceScope::HydroxymitragynineConcentrated];
        let rules = deciding_rules(&florida, &tablets);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].status, LegalStatus::ControlledBanned);
        assert_eq!(rules[0].jurisdiction, "US-FL");
    }

    #[test]
    fn one_rule_per_scope_is_kept_and_it_is_the_most_restrictive() {
        let tennessee = answer("US-TN");
        let scopes: Vec<SubstanceScope> =
            tennessee.rules.iter().map(|r| r.substance_scope).collect();
        let rules = deciding_rules(&tennessee, &scopes);
        let strictest = tennessee.strictest();
        assert_eq!(rules.len(), strictest.len());
        for rule in rules {
            assert_eq!(strictest[&rule.substance_scope], rule.status);
        }
    }
}
