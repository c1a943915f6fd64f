//! Kratom's legal status as the patient record, the dose pages and the product page show
//! it (one block, `templates/legal_status.html`): per rule its status, effective date,
//! source, last-verified date and a stale badge past review; conflicts between sources
//! and pending bills apart (legal-and-products.md §4.2). Information, never advice.

use speciosa_app::legal_pages::{
    LotContent, PatientLegal, ProductLegal, ProductScopes, deciding_rules,
};
use speciosa_core::legal::{LegalAnswer, RuleView, SubstanceScope};
use speciosa_core::safety::legal_status::limits_exceeded;

/// A cited document, linked by its title.
pub struct SourceRef {
    pub title: String,
    pub url: String,
    pub grade: String,
}

/// One rule in force, as shown.
pub struct LegalLine {
    pub scope: &'static str,
    pub status: &'static str,
    /// Prohibited or limited to prescribers (shown in the warning colour).
    pub restricts: bool,
    pub jurisdiction: String,
    pub since: String,
    pub until: Option<String>,
    pub instrument: Option<String>,
    pub conditions: String,
    pub sources: Vec<SourceRef>,
    pub last_verified: String,
    pub stale: bool,
    pub unverified: bool,
}

impl LegalLine {
    pub fn new(r: &RuleView) -> Self {
        LegalLine {
            scope: r.substance_scope.label(),
            status: r.status.label(),
            restricts: r.status.restricts_use(),
            jurisdiction: r.jurisdiction.clone(),
            since: r.effective_from.as_ref().map_or_else(
                || "date not known".to_owned(),
                |d| format!("since {}", d.text),
            ),
            until: r.expires_on.as_ref().map(|d| d.text.clone()),
            // The template ends the citation with its own full stop.
            instrument: r
                .instrument
                .as_ref()
                .map(|i| i.trim_end_matches('.').to_owned()),
            conditions: r.conditions_text.join("; "),
            sources: r
                .sources
                .iter()
                .map(|s| SourceRef {
                    title: s.title.clone(),
                    url: s.url.clone(),
                    grade: s.grade.as_str().replace('_', " "),
                })
                .collect(),
            last_verified: r.last_verified.to_string(),
            stale: r.stale,
            unverified: r.unverified,
        }
    }
}

/// A bill or proposal that is not law.
pub struct PendingLine {
    pub citation: String,
    pub jurisdiction: String,
    pub proposed: String,
}

/// A product in use whose scope is restricted where the patient lives.
pub struct ProductLine {
    pub name: String,
    /// `lots A, B` when only some of its batches are concerned.
    pub lots: String,
    pub rules: String,
}

/// Kratom's legal status in one jurisdiction.
pub struct LegalBlock {
    pub name: String,
    pub code: String,
    pub date: String,
    pub chain: String,
    pub lines: Vec<LegalLine>,
    pub products: Vec<ProductLine>,
    pub conflicts: Vec<String>,
    pub pending: Vec<PendingLine>,
    pub notice: String,
}

impl LegalBlock {
    /// Every rule in force (the patient record).
    pub fn all(answer: &LegalAnswer) -> Self {
        Self::of(answer, answer.rules.iter().collect())
    }

    /// The rule that decides each of `scopes` (the dose and product pages).
    pub fn strictest(answer: &LegalAnswer, scopes: &[SubstanceScope]) -> Self {
        Self::of(answer, deciding_rules(answer, scopes))
    }

    fn of(answer: &LegalAnswer, rules: Vec<&RuleView>) -> Self {
        let shown: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        LegalBlock {
            name: answer.name.clone(),
            code: answer.jurisdiction.clone(),
            date: answer.date.to_string(),
            chain: answer.chain.join(" → "),
            conflicts: answer
                .conflicts
                .iter()
                .filter(|c| shown.contains(&c.rule_id.as_str()))
                .map(|c| format!("{} ({}): {}", c.rule_id, c.field, c.description))
                .collect(),
            lines: rules.into_iter().map(LegalLine::new).collect(),
            products: Vec::new(),
            pending: answer
                .pending_bills
                .iter()
                .map(|b| PendingLine {
                    citation: b.citation.clone(),
                    jurisdiction: b.jurisdiction.clone(),
                    proposed: b
                        .proposed
                        .iter()
                        .map(|p| format!("{} {}", p.substance_scope.label(), p.status.label()))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect(),
            notice: answer.notice.clone(),
        }
    }

    /// Names each product in use whose scope is restricted there, with the rules.
    fn with_products(mut self, answer: &LegalAnswer, products: &[ProductScopes]) -> Self {
        for product in products {
            let many = product.groups.len() > 1;
            for group in &product.groups {
                let restricting: Vec<&RuleView> = deciding_rules(answer, &group.scopes)
                    .into_iter()
                    .filter(|r| r.status.restricts_use())
                    .collect();
                if restricting.is_empty() {
                    continue;
                }
                self.products.push(ProductLine {
                    name: product.name.clone(),
                    lots: if many && !group.lots.is_empty() {
                        format!("lot {}", group.lots.join(", "))
                    } else {
                        String::new()
                    },
                    rules: restricting
                        .iter()
                        .map(|r| {
                            format!(
                                "{} is {} in {}",
                                r.substance_scope.label(),
                                r.status.label(),
                                r.jurisdiction
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
        }
        self
    }
}

/// The dose pages' legal section: the block, or one line saying why there is none.
pub struct DoseLegal {
    pub block: Option<LegalBlock>,
    /// Shown instead of the block.
    pub missing: Option<String>,
    /// For clinicians: where to set the patient's jurisdiction.
    pub edit_href: Option<String>,
}

impl DoseLegal {
    pub fn new(legal: &PatientLegal, for_self: bool, patient_id: &str) -> Self {
        let edit_href = (!for_self).then(|| format!("/patients/{patient_id}/edit"));
        match (&legal.recorded, &legal.answer) {
            (_, Some(answer)) => DoseLegal {
                block: Some(
                    LegalBlock::strictest(answer, &legal.scopes())
                        .with_products(answer, &legal.products),
                ),
                missing: None,
                edit_href: None,
            },
            (None, None) => DoseLegal {
                block: None,
                missing: Some(if for_self {
                    "Your record does not say where you live, so kratom's legal status there is not shown.".into()
                } else {
                    "No jurisdiction is recorded for this patient, so kratom's legal status where they live is not shown.".into()
                }),
                edit_href,
            },
            (Some(code), None) => DoseLegal {
                block: None,
                missing: Some(format!(
                    "The legal dataset has nothing for {code}, so kratom's legal status there is not shown."
                )),
                edit_href,
            },
        }
    }
}

/// One row of the product page's table: a place and what decides the product there.
pub struct PlaceRow {
    pub code: String,
    pub name: String,
    pub lots: String,
    pub line: Option<LegalLine>,
    pub known: bool,
    /// Lots whose certificate exceeds a 7-OH limit of a law in force there, in words.
    pub over_limits: Vec<String>,
}

/// What each lot of `lots` among `group_lots` exceeds under `answer`'s regulating rules.
fn over_limits(answer: &LegalAnswer, lots: &[LotContent], group_lots: &[String]) -> Vec<String> {
    lots.iter()
        .filter(|l| group_lots.is_empty() || group_lots.contains(&l.lot))
        .flat_map(|l| {
            limits_exceeded(answer, &l.scopes, &l.hydroxy)
                .into_iter()
                .map(move |(rule, over)| {
                    format!(
                        "Lot {} exceeds the 7-OH limit of {} ({}): {}.",
                        l.lot,
                        rule.id,
                        rule.jurisdiction,
                        over.join("; ")
                    )
                })
        })
        .collect()
}

/// The product page's legal section.
pub struct ProductLegalView {
    pub scopes: String,
    pub rows: Vec<PlaceRow>,
    pub capped: bool,
    /// How many places are listed at most.
    pub cap: usize,
    pub own_only: bool,
    pub date: String,
    pub lookup: Option<LegalBlock>,
    pub lookup_errors: Vec<String>,
    pub jurisdiction: String,
    pub lookup_date: String,
}

impl ProductLegalView {
    pub fn new(legal: &ProductLegal, jurisdiction: &str, date: &str) -> Self {
        let scopes = legal.scopes.all_scopes();
        let many = legal.scopes.groups.len() > 1;
        let mut rows = Vec::new();
        for place in &legal.places {
            for group in &legal.scopes.groups {
                let lots = if many {
                    format!("lot {}", group.lots.join(", "))
                } else {
                    String::new()
                };
                rows.push(match &place.answer {
                    Some(answer) => PlaceRow {
                        code: place.code.clone(),
                        name: answer.name.clone(),
                        lots,
                        // The strictest status across the product's scopes decides.
                        line: deciding_rules(answer, &group.scopes)
                            .into_iter()
                            .max_by_key(|r| r.status)
                            .map(LegalLine::new),
                        known: true,
                        over_limits: over_limits(answer, &legal.lots, &group.lots),
                    },
                    None => PlaceRow {
                        code: place.code.clone(),
                        name: String::new(),
                        lots,
                        line: None,
                        known: false,
                        over_limits: Vec::new(),
                    },
                });
            }
        }
        let (lookup, lookup_errors) = match &legal.lookup {
            None => (None, Vec::new()),
            Some(Ok(answer)) => (Some(LegalBlock::strictest(answer, &scopes)), Vec::new()),
            Some(Err(errors)) => (
                None,
                errors
                    .errors
                    .iter()
                    .map(|e| {
                        let label = match e.field.as_str() {
                            "date" => "Date",
                            _ => "Jurisdiction",
                        };
                        format!("{label}: {}", e.detail)
                    })
                    .collect(),
            ),
        };
        ProductLegalView {
            scopes: legal
                .scopes
                .groups
                .iter()
                .map(|g| {
                    let labels: Vec<&str> = g.scopes.iter().map(|s| s.label()).collect();
                    if many {
                        format!("lot {}: {}", g.lots.join(", "), labels.join(", "))
                    } else {
                        labels.join(", ")
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            rows,
            capped: legal.capped,
            cap: speciosa_app::legal_pages::PLACES_SHOWN,
            own_only: legal.own_only,
            date: legal.date.to_string(),
            lookup,
            lookup_errors,
            jurisdiction: jurisdiction.trim().to_owned(),
            lookup_date: date.trim().to_owned(),
        }
    }
}
