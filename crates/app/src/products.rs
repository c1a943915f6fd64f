//! Products and batches: the catalogue and what its quality limits say about each batch.

use speciosa_core::quality::{BatchFacts, QualityFlag};
use speciosa_store::{Batch, Product};

use crate::App;

/// The quality flags for one batch of a product (`data/product-quality.toml`).
pub fn batch_flags(app: &App, product: &Product, batch: &Batch) -> Vec<QualityFlag> {
    let facts = product.details.facts();
    app.knowledge.standards.batch_flags(&BatchFacts {
        product: &facts,
        assay: batch.assay.as_ref(),
        recalled: batch.recalled,
        recall_reason: batch.recall_reason.as_deref(),
    })
}
