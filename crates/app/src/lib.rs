//! Speciosa's application layer: one module per family of use cases. Every function takes
//! the acting [`Caller`] and validated domain input, authorizes through
//! `speciosa_core::policy` ([`access`]), audits, writes through the store and runs the
//! safety rules. The API, the pages and the CLI are adapters over this crate; none of
//! them can reach the store, so none can skip authorization or audit.
#![forbid(unsafe_code)]

use std::sync::Arc;

use jiff::SignedDuration;
use speciosa_core::checkin::{CheckInDefaults, CrisisDirectory};
use speciosa_core::instrument::Instruments;
use speciosa_core::legal::LegalDataset;
use speciosa_core::medicines::MedicineKnowledge;
use speciosa_core::quality::QualityStandards;
use speciosa_store::Store;

pub mod access;
pub mod account;
pub mod alerts;
pub mod appointments;
pub mod assessments;
pub mod audit;
pub mod calendar;
mod caller;
pub mod checkin;
pub mod delivery;
pub mod demo;
pub mod doses;
mod error;
pub mod export;
pub mod exposure;
pub mod legal;
pub mod legal_pages;
pub mod medications;
pub mod medicines;
pub mod monitoring;
pub mod notify;
pub mod operations;
pub mod organization;
pub mod passwords;
pub mod patients;
pub mod plan_checks;
pub mod plans;
pub mod products;
pub mod replay;
pub mod roster;
pub mod safety;
pub mod sessions;
pub mod sleep;
pub mod users;
pub mod web_push;

pub use caller::Caller;

pub use error::{AppError, log_chain};
/// The store itself, for the adapters' integration tests only (`test-support`).
#[cfg(feature = "test-support")]
pub use speciosa_store as store;

/// The records use cases return. Adapters render them; only this crate can fetch them.
pub mod records {
    pub use speciosa_store::Appointment;
    pub use speciosa_store::KnowledgeOverride;
    pub use speciosa_store::SessionLimits;
    pub use speciosa_store::SleepWindow;
    pub use speciosa_store::{
        Alert, AlertAction, Assessment, AuditFilter, Batch, BatchContent, CareTeamMember, Dose,
        InboxAlert, Medication, Organization, Patient, Product, Review, ReviewOutcome,
        SessionRecord, User,
    };
    pub use speciosa_store::{Ecg, LabResult, NaloxoneRecord, OpioidUse, Overdose};
    pub use speciosa_store::{Notification, Paging, Webhook};
    pub use speciosa_store::{PlanRecord, PlanSignature};
}

/// Where the data lives and how many connections to hold (re-exported for the binaries).
pub use speciosa_store::{
    AuditSealer, DatabaseLocation, PoolOptions, PoolStats, SealError, SealerConfig,
};

/// Settings the use cases apply (the server's flags set them).
#[derive(Clone, Debug)]
pub struct AppSettings {
    /// Doses taken this long before the patient's usual bedtime count as bedtime doses.
    /// A clinic setting: no published cut-off exists.
    pub bedtime_window: SignedDuration,
    /// An unacknowledged urgent alert pages the on-call list this long after it opened,
    /// and again at each further interval (`--urgent-escalation-minutes`).
    pub urgent_escalation: SignedDuration,
    /// Where people reach Speciosa: links in messages and feeds start with it.
    pub public_url: String,
    /// `smtp://host:port` (or `smtps://…`, with credentials) to send e-mail through.
    pub smtp_url: Option<String>,
    /// The sender of e-mail, and the contact in Web Push's VAPID claims.
    pub mail_from: Option<String>,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            bedtime_window: SignedDuration::from_mins(120),
            urgent_escalation: speciosa_store::DEFAULT_PAGING_INTERVAL,
            public_url: "http://127.0.0.1:8080".to_owned(),
            smtp_url: None,
            mail_from: None,
        }
    }
}

/// The knowledge the rules read, from the cited files in `data/`, checked at start-up.
#[derive(Debug)]
pub struct Knowledge {
    /// Product-quality limits from `data/product-quality.toml`.
    pub standards: QualityStandards,
    /// The instruments in `data/instruments/`.
    pub instruments: Instruments,
    /// The default check-in rhythm (`data/check-in.toml`).
    pub checkin_defaults: CheckInDefaults,
    /// Crisis contacts by country (`data/crisis-resources.toml`).
    pub crisis: CrisisDirectory,
    /// The drug lexicon and interaction table (`data/medicines/`), as shipped.
    pub medicines: Arc<MedicineKnowledge>,
    /// Kratom's legal status by jurisdiction (`data/legal/status.toml`).
    pub legal: Arc<LegalDataset>,
    /// Each organization's dataset with its own rows, keyed by the overrides it was
    /// built from (see [`legal::dataset_for`]).
    pub(crate) legal_by_organization: legal::DatasetCache,
}

impl Knowledge {
    pub fn bundled() -> Result<Self, KnowledgeError> {
        Ok(Self {
            standards: QualityStandards::bundled().map_err(|e| KnowledgeError(e.to_string()))?,
            instruments: Instruments::bundled().map_err(|e| KnowledgeError(e.to_string()))?,
            checkin_defaults: CheckInDefaults::bundled()
                .map_err(|e| KnowledgeError(e.to_string()))?,
            crisis: CrisisDirectory::bundled().map_err(|e| KnowledgeError(e.to_string()))?,
            medicines: Arc::new(
                MedicineKnowledge::bundled().map_err(|e| KnowledgeError(e.to_string()))?,
            ),
            legal: Arc::new(LegalDataset::bundled().map_err(|e| KnowledgeError(e.to_string()))?),
            legal_by_organization: legal::DatasetCache::default(),
        })
    }
}

/// A bundled data file failed its checks (a build defect, caught at start-up).
#[derive(Debug, thiserror::Error)]
#[error("bundled data is invalid: {0}")]
pub struct KnowledgeError(String);

/// Failing to open the application: the database or the bundled data.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] speciosa_store::StoreError),
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error("migrating medication data: {0}")]
    DataMigration(String),
}

/// The application: storage (private to this crate), the cited knowledge and settings.
/// Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub(crate) store: Store,
    pub(crate) knowledge: Arc<Knowledge>,
    pub(crate) settings: Arc<AppSettings>,
    /// Wakes the delivery worker when messages are written (see [`delivery`]).
    pub(crate) delivery_wake: Arc<tokio::sync::Notify>,
}

impl App {
    /// Opens (creating if needed) the database, brings its schema up to date and loads
    /// the bundled knowledge.
    pub async fn open(
        location: &DatabaseLocation,
        options: &PoolOptions,
        settings: AppSettings,
    ) -> Result<Self, OpenError> {
        let store = Store::open(location, options)
            .await?
            .with_paging_interval(settings.urgent_escalation);
        let app = Self::with_store(store, settings)?;
        app.migrate_data().await?;
        Ok(app)
    }

    /// Brings data from before the drug lexicon up to it (see
    /// [`medicines::migrate_data`]); run at every start, cheap once done.
    pub async fn migrate_data(&self) -> Result<medicines::DataMigration, OpenError> {
        let report = medicines::migrate_data(self)
            .await
            .map_err(|e| OpenError::DataMigration(e.to_string()))?;
        if report != medicines::DataMigration::default() {
            tracing::info!(?report, "medication data brought up to the drug lexicon");
        }
        Ok(report)
    }

    /// An application over an already opened store (transitional, as below).
    #[doc(hidden)]
    pub fn with_store(store: Store, settings: AppSettings) -> Result<Self, OpenError> {
        Ok(Self {
            delivery_wake: store.outbox_signal(),
            store: store.with_paging_interval(settings.urgent_escalation),
            knowledge: Arc::new(Knowledge::bundled()?),
            settings: Arc::new(settings),
        })
    }

    /// Starts sequencing the audit log into its Merkle tree and signing checkpoints
    /// (until [`AuditSealer::shutdown`], which signs a final one).
    pub async fn start_audit_sealer(&self, config: SealerConfig) -> Result<AuditSealer, SealError> {
        AuditSealer::start(self.store.clone(), config).await
    }

    /// The same application with other settings (the server's flags).
    pub fn with_settings(mut self, settings: AppSettings) -> Self {
        self.store = self.store.with_paging_interval(settings.urgent_escalation);
        self.settings = Arc::new(settings);
        self
    }

    /// Tells the delivery worker that messages are waiting.
    pub fn wake_delivery(&self) {
        self.delivery_wake.notify_one();
    }

    pub fn knowledge(&self) -> &Knowledge {
        &self.knowledge
    }

    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }

    /// Can the database be reached right now (for `/readyz`)?
    pub async fn ready(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }

    /// Connections the pool holds now and how many are idle (for `/metrics`).
    pub fn pool_stats(&self) -> PoolStats {
        self.store.pool_stats()
    }

    pub fn backend_name(&self) -> &'static str {
        self.store.backend_name()
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}
