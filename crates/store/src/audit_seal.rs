//! Anchoring the audit log outside the database: a background task sequences new
//! events into the Merkle tree and, at an interval and at shutdown, signs a checkpoint
//! (C2SP signed note) with an Ed25519 key kept in a file, appending it to a checkpoint
//! file and to the database, and optionally POSTing it to a witness. Verification
//! compares the database against those files, so an administrator who rewrites the
//! database, even consistently, is caught.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use speciosa_core::audit::AuditBreak;
use speciosa_core::checkpoint::{
    Checkpoint, CheckpointError, NoteSigner, NoteVerifier, split_checkpoint_log,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::audit::{InclusionProof, TreeCheck};
use crate::{Store, StoreError};

pub const KEY_FILE: &str = "audit-signing.key";
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";
pub const CHECKPOINT_FILE: &str = "audit-checkpoints.log";

const UNSEQUENCED: &str = "speciosa_audit_unsequenced_events";
const SEQUENCING_LAG: &str = "speciosa_audit_sequencing_lag_seconds";
const TREE_SIZE: &str = "speciosa_audit_tree_size";
const BATCH: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot use the audit signing key {path}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the audit signing key {path} is unreadable")]
    BadKey {
        path: PathBuf,
        source: CheckpointError,
    },
    #[error("cannot use the audit checkpoint file {path}")]
    CheckpointFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the sealer keeps its key and checkpoints, and how often it works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealerConfig {
    /// The Ed25519 signing key (created with mode 0600 if absent).
    pub key_path: PathBuf,
    /// One signed note per checkpoint, each followed by a blank line.
    pub checkpoint_path: PathBuf,
    pub sequence_interval: Duration,
    /// A checkpoint is signed this often when the tree grew, and always at shutdown.
    pub checkpoint_interval: Duration,
    /// POSTed each checkpoint's signed note (text/plain), best effort.
    pub witness_url: Option<String>,
}

impl SealerConfig {
    /// The defaults: key and checkpoint file in `dir`, sequencing every 500 ms,
    /// checkpoints every minute.
    pub fn in_dir(dir: &Path) -> Self {
        SealerConfig {
            key_path: dir.join(KEY_FILE),
            checkpoint_path: dir.join(CHECKPOINT_FILE),
            sequence_interval: Duration::from_millis(500),
            checkpoint_interval: Duration::from_secs(60),
            witness_url: None,
        }
    }
}

/// Reads the signing key, or creates one (and its public half beside it) if the file
/// does not exist.
pub fn load_or_create_signer(path: &Path) -> Result<NoteSigner, SealError> {
    let key_error = |source| SealError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse().map_err(|source| SealError::BadKey {
            path: path.to_owned(),
            source,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            use rand::RngCore;
            let mut seed = [0_u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let signer = NoteSigner::from_seed(seed);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(key_error)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(key_error)?;
            file.write_all(signer.to_key_file().as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(key_error)?;
            let public = path.with_file_name(PUBLIC_KEY_FILE);
            std::fs::write(&public, format!("{}\n", signer.verifier())).map_err(key_error)?;
            tracing::info!(key = %path.display(), "created the audit signing key");
            Ok(signer)
        }
        Err(error) => Err(key_error(error)),
    }
}

/// The public key that checks checkpoints: from a public key file (`name+id+key`, as
/// written beside the signing key) if given, else derived from the signing key file.
/// `None` when neither file exists.
pub fn load_verifier(
    key_path: &Path,
    public_key_path: Option<&Path>,
) -> Result<Option<NoteVerifier>, SealError> {
    let (path, public) = match public_key_path {
        Some(path) => (path, true),
        None => (key_path, false),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !public => return Ok(None),
        Err(source) => {
            return Err(SealError::KeyFile {
                path: path.to_owned(),
                source,
            });
        }
    };
    let bad = |source| SealError::BadKey {
        path: path.to_owned(),
        source,
    };
    if public {
        text.parse().map(Some).map_err(bad)
    } else {
        text.parse::<NoteSigner>()
            .map(|signer| Some(signer.verifier()))
            .map_err(bad)
    }
}

/// The background sequencer and checkpoint signer. Stop it with [`AuditSealer::shutdown`],
/// which sequences what is left and signs a final checkpoint.
pub struct AuditSealer {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl AuditSealer {
    /// Loads (or creates) the key, records a checkpoint the file holds but the database
    /// lost (a crash between the two writes), and starts the task.
    pub async fn start(store: Store, config: SealerConfig) -> Result<Self, SealError> {
        let signer = load_or_create_signer(&config.key_path)?;
        let notes = read_checkpoint_file(&config.checkpoint_path)?.unwrap_or_default();
        let stored = store.list_audit_checkpoints().await?;
        if let Some(last) = notes.last()
            && !stored.iter().any(|c| &c.note == last)
            && let Ok(checkpoint) = open_checkpoint(&signer.verifier(), last)
        {
            store
                .record_audit_checkpoint(
                    checkpoint.tree_size,
                    &checkpoint.root_hash,
                    checkpoint.time,
                    last,
                )
                .await?;
        }
        // Nothing new to sign for an empty tree, or one no bigger than the last checkpoint.
        let last_signed = stored.last().map_or(0, |c| c.tree_size.max(0) as u64);
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(store, config, signer, last_signed, stop.clone()));
        Ok(AuditSealer { stop, task })
    }

    /// Sequences every waiting event, signs a checkpoint, and returns when done.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the audit sealer task failed");
        }
    }
}

fn describe_metrics() {
    metrics::describe_gauge!(
        UNSEQUENCED,
        "Audit events not yet placed in the Merkle tree."
    );
    metrics::describe_gauge!(
        SEQUENCING_LAG,
        metrics::Unit::Seconds,
        "Age of the oldest audit event not yet placed in the Merkle tree (0 when none wait)."
    );
    metrics::describe_gauge!(TREE_SIZE, "Leaves in the audit log's Merkle tree.");
}

async fn run(
    store: Store,
    config: SealerConfig,
    signer: NoteSigner,
    mut last_signed: u64,
    stop: Arc<Notify>,
) {
    let start = tokio::time::Instant::now();
    let mut sequence =
        tokio::time::interval_at(start + config.sequence_interval, config.sequence_interval);
    let mut checkpoint = tokio::time::interval_at(
        start + config.checkpoint_interval,
        config.checkpoint_interval,
    );
    sequence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.notified() => break,
            _ = sequence.tick() => sequence_all(&store).await,
            _ = checkpoint.tick() => {
                sequence_all(&store).await;
                match store.audit_tree_head().await {
                    Ok((size, _)) if size != last_signed => {
                        if sign_and_publish(&store, &signer, &config).await {
                            last_signed = size;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => tracing::error!(error = %error, "reading the audit tree head"),
                }
            }
        }
    }
    sequence_all(&store).await;
    sign_and_publish(&store, &signer, &config).await;
}

/// Sequences until nothing waits (or the database fails), then records the lag.
async fn sequence_all(store: &Store) {
    // Described on first use: the server installs its metrics recorder after starting us.
    static DESCRIBED: std::sync::Once = std::sync::Once::new();
    DESCRIBED.call_once(describe_metrics);
    loop {
        match store.sequence_audit(BATCH).await {
            Ok(report) => {
                metrics::gauge!(TREE_SIZE).set(report.tree_size as f64);
                if report.sequenced < u64::from(BATCH) {
                    break;
                }
            }
            Err(error) => {
                tracing::error!(error = %error, "sequencing the audit log");
                break;
            }
        }
    }
    match store.audit_sequencing_lag().await {
        Ok(lag) => {
            metrics::gauge!(UNSEQUENCED).set(lag.unsequenced as f64);
            let seconds = lag
                .oldest
                .map(|at| Timestamp::now().duration_since(at).as_secs_f64().max(0.0))
                .unwrap_or(0.0);
            metrics::gauge!(SEQUENCING_LAG).set(seconds);
        }
        Err(error) => tracing::error!(error = %error, "reading the audit sequencing lag"),
    }
}

/// Signs the current tree head and publishes it; logs and returns false on failure.
async fn sign_and_publish(store: &Store, signer: &NoteSigner, config: &SealerConfig) -> bool {
    match sign_checkpoint(store, signer, &config.checkpoint_path).await {
        Ok(note) => {
            if let Some(url) = &config.witness_url {
                send_to_witness(url, &note).await;
            }
            true
        }
        Err(error) => {
            tracing::error!(error = %error, "signing an audit checkpoint");
            false
        }
    }
}

/// Signs a checkpoint of the tree as it stands, appends it to the checkpoint file
/// (synced) and then to the database. Returns the signed note.
pub async fn sign_checkpoint(
    store: &Store,
    signer: &NoteSigner,
    checkpoint_path: &Path,
) -> Result<String, SealError> {
    let (tree_size, root_hash) = store.audit_tree_head().await?;
    let checkpoint = Checkpoint {
        origin: signer.name().to_owned(),
        tree_size,
        root_hash,
        time: speciosa_core::audit::truncate_to_microseconds(Timestamp::now()),
    };
    let note = signer.sign(&checkpoint.body());
    let file_error = |source| SealError::CheckpointFile {
        path: checkpoint_path.to_owned(),
        source,
    };
    if let Some(parent) = checkpoint_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(file_error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(checkpoint_path)
        .map_err(file_error)?;
    file.write_all(format!("{note}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(file_error)?;
    store
        .record_audit_checkpoint(tree_size, &root_hash, checkpoint.time, &note)
        .await?;
    tracing::info!(tree_size, root = %root_hash, "signed an audit checkpoint");
    Ok(note)
}

/// POSTs a signed note to the witness; failures are logged, never fatal.
async fn send_to_witness(url: &str, note: &str) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "cannot build the witness client");
            return;
        }
    };
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(note.to_owned())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => {
            tracing::warn!(status = %response.status(), "the audit witness refused a checkpoint")
        }
        Err(error) => tracing::warn!(%error, "cannot reach the audit witness"),
    }
}

/// The signed notes in a checkpoint file; `None` if it does not exist.
pub fn read_checkpoint_file(path: &Path) -> Result<Option<Vec<String>>, SealError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            split_checkpoint_log(&text)
                .map(Some)
                .map_err(|error| SealError::CheckpointFile {
                    path: path.to_owned(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
                })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SealError::CheckpointFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A checkpoint whose signature verifies and whose origin is the key's name.
pub fn open_checkpoint(verifier: &NoteVerifier, note: &str) -> Result<Checkpoint, CheckpointError> {
    let (text, _) = verifier.open(note)?;
    let checkpoint = Checkpoint::parse_body(text)?;
    if checkpoint.origin != verifier.name() {
        return Err(CheckpointError::Malformed(format!(
            "its origin {:?} is not the key's {:?}",
            checkpoint.origin,
            verifier.name()
        )));
    }
    Ok(checkpoint)
}

/// What anchors the log outside the database.
#[derive(Clone, Debug)]
pub struct AuditAnchors {
    pub verifier: Option<NoteVerifier>,
    /// Shown in messages (the key file or public key file).
    pub key_path: PathBuf,
    pub checkpoint_path: PathBuf,
}

/// The outcome of `audit verify`.
#[derive(Clone, Debug)]
pub struct AuditReport {
    pub tree: TreeCheck,
    /// Checkpoints verified (file and database together, each once).
    pub checkpoints: usize,
    pub latest: Option<Checkpoint>,
    /// Checkpoints in the database that the file lacks (other servers' on PostgreSQL).
    pub database_only: usize,
    pub broken: Option<AuditBreak>,
}

impl AuditReport {
    /// Leaves in the tree beyond the latest checkpoint.
    pub fn not_checkpointed(&self) -> u64 {
        self.tree.tree_size
            - self
                .latest
                .as_ref()
                .map_or(0, |c| c.tree_size)
                .min(self.tree.tree_size)
    }
}

fn fault(reason: impl Into<String>) -> Option<AuditBreak> {
    Some(AuditBreak {
        event_id: None,
        reason: reason.into(),
    })
}

impl Store {
    /// Checks the whole log: every event against its leaf hash and the stored tree,
    /// every checkpoint's signature, the tree's root at every checkpoint's size, and
    /// the database's checkpoints against the checkpoint file.
    pub async fn verify_audit(&self, anchors: &AuditAnchors) -> Result<AuditReport, SealError> {
        let postgres = self.backend_name() == "postgres";
        let mut report = AuditReport {
            tree: TreeCheck {
                events: 0,
                tree_size: 0,
                root_hash: speciosa_core::merkle::empty_root(),
                unsequenced: 0,
                roots: Default::default(),
                broken: None,
            },
            checkpoints: 0,
            latest: None,
            database_only: 0,
            broken: None,
        };
        let file = match read_checkpoint_file(&anchors.checkpoint_path) {
            Ok(file) => file,
            Err(SealError::CheckpointFile { source, .. })
                if source.kind() == std::io::ErrorKind::InvalidData =>
            {
                report.broken = fault(format!(
                    "the checkpoint file {} is malformed: {source}",
                    anchors.checkpoint_path.display()
                ));
                return Ok(report);
            }
            Err(other) => return Err(other),
        };
        let database: Vec<String> = self
            .list_audit_checkpoints()
            .await?
            .into_iter()
            .map(|c| c.note)
            .collect();
        if let Some(broken) =
            compare_checkpoint_lists(file.as_deref(), &database, postgres, anchors)
        {
            report.broken = Some(broken);
            return Ok(report);
        }
        // Every distinct checkpoint, the file's first (in its order), then the database's others.
        let mut notes: Vec<&String> = file.iter().flatten().collect();
        for note in &database {
            if !notes.contains(&note) {
                notes.push(note);
                report.database_only += 1;
            }
        }
        let mut checkpoints = Vec::new();
        if !notes.is_empty() {
            let Some(verifier) = &anchors.verifier else {
                report.broken = fault(format!(
                    "there are {} signed checkpoints but no key to check them: {} does not exist (pass --audit-key or --public-key)",
                    notes.len(),
                    anchors.key_path.display()
                ));
                return Ok(report);
            };
            for (n, note) in notes.iter().enumerate() {
                match open_checkpoint(verifier, note) {
                    Ok(checkpoint) => checkpoints.push(checkpoint),
                    Err(error) => {
                        report.broken =
                            fault(format!("checkpoint #{} does not verify: {error}", n + 1));
                        return Ok(report);
                    }
                }
            }
        }
        let file_count = file.as_ref().map_or(0, Vec::len);
        if let Some(pair) = checkpoints[..file_count]
            .windows(2)
            .find(|pair| pair[1].tree_size < pair[0].tree_size)
        {
            report.broken = fault(format!(
                "the checkpoint file shrinks from {} to {} leaves: the log was truncated",
                pair[0].tree_size, pair[1].tree_size
            ));
            return Ok(report);
        }
        let sizes: BTreeSet<u64> = checkpoints.iter().map(|c| c.tree_size).collect();
        report.tree = self.check_audit_tree(&sizes).await?;
        if let Some(broken) = report.tree.broken.clone() {
            report.broken = Some(broken);
            return Ok(report);
        }
        for checkpoint in &checkpoints {
            let root = report.tree.roots.get(&checkpoint.tree_size);
            if checkpoint.tree_size > report.tree.tree_size {
                report.broken = fault(format!(
                    "the checkpoint signed at {} covers {} events but the tree holds only {}: events were removed",
                    checkpoint.time, checkpoint.tree_size, report.tree.tree_size
                ));
                return Ok(report);
            }
            if root != Some(&checkpoint.root_hash) {
                report.broken = fault(format!(
                    "the tree's first {} events do not have the root signed at {}: the log was rewritten or replaced",
                    checkpoint.tree_size, checkpoint.time
                ));
                return Ok(report);
            }
        }
        report.checkpoints = checkpoints.len();
        report.latest = checkpoints
            .into_iter()
            .max_by_key(|c| (c.tree_size, c.time));
        Ok(report)
    }

    /// The inclusion proof of `event_id` against the latest checkpoint that verifies
    /// (from the checkpoint file, else the database), with that checkpoint's note.
    pub async fn prove_audit_event(
        &self,
        event_id: i64,
        verifier: &NoteVerifier,
        checkpoint_path: &Path,
    ) -> Result<ProvenEvent, SealError> {
        let mut notes = read_checkpoint_file(checkpoint_path)?.unwrap_or_default();
        if notes.is_empty() {
            notes = self
                .list_audit_checkpoints()
                .await?
                .into_iter()
                .map(|c| c.note)
                .collect();
        }
        let latest = notes.iter().rev().find_map(|note| {
            open_checkpoint(verifier, note)
                .ok()
                .map(|c| (c, note.clone()))
        });
        let Some((checkpoint, note)) = latest else {
            return Ok(ProvenEvent::NoCheckpoint);
        };
        match self
            .audit_inclusion_proof(event_id, checkpoint.tree_size)
            .await?
        {
            None => Ok(ProvenEvent::NotCheckpointed),
            Some(proof) if proof.root_hash != checkpoint.root_hash => Ok(ProvenEvent::TreeMismatch),
            Some(proof) => Ok(ProvenEvent::Proven {
                proof,
                checkpoint,
                note,
            }),
        }
    }
}

/// What `audit prove` can say about an event.
#[derive(Clone, Debug)]
pub enum ProvenEvent {
    Proven {
        proof: InclusionProof,
        checkpoint: Checkpoint,
        note: String,
    },
    /// No event with that id is among the latest checkpoint's leaves.
    NotCheckpointed,
    /// The stored tree's root at the checkpoint's size is not the signed one.
    TreeMismatch,
    NoCheckpoint,
}

/// The database's checkpoints must be the file's (SQLite: exactly; the file may end
/// with one the database lacks, a crash between the two writes). On PostgreSQL other
/// servers add their own, so the file's need only appear in the database, in order.
fn compare_checkpoint_lists(
    file: Option<&[String]>,
    database: &[String],
    postgres: bool,
    anchors: &AuditAnchors,
) -> Option<AuditBreak> {
    let Some(file) = file else {
        return (!database.is_empty()).then(|| AuditBreak {
            event_id: None,
            reason: format!(
                "the database holds {} checkpoints but the checkpoint file {} does not exist \
                 (for a restored backup, pass the original --audit-checkpoints and --audit-key)",
                database.len(),
                anchors.checkpoint_path.display()
            ),
        });
    };
    let settled = file.len().saturating_sub(1);
    let differs = if postgres {
        let mut remaining = database.iter();
        file[..settled]
            .iter()
            .position(|note| !remaining.any(|d| d == note))
    } else {
        (0..settled.max(database.len())).find(|&i| file.get(i) != database.get(i))
    };
    differs.map(|i| AuditBreak {
        event_id: None,
        reason: format!(
            "the checkpoint file {} and the database's checkpoints differ at checkpoint #{}",
            anchors.checkpoint_path.display(),
            i + 1
        ),
    })
}
