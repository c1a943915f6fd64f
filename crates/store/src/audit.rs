//! The audit log as an append-only Merkle tree (RFC 9162). Appends take their own
//! id and store their leaf hash, touching no shared row; [`Store::sequence_audit`]
//! later places events in the tree in id order and stores every complete interior
//! node, so roots and inclusion proofs need only a few rows.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use speciosa_core::audit::{AuditBreak, AuditEntry, AuditEvent};
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use speciosa_core::merkle::{self, Frontier, Subtree, TreeHash};
use sqlx::{Postgres, QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::{
    Backend, BeginWrite, DbTime, ReadConnection, Result, Store, StoreError, WriteTx, on_pool,
};

const COLUMNS: &str = "id, occurred_at, actor_user_id, actor_role, organization_id, action, resource_type, \
                       resource_id, patient_id, outcome, client_addr, detail, leaf_hash, leaf_index";

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    occurred_at: DbTime,
    actor_user_id: Option<Uuid>,
    actor_role: Option<String>,
    organization_id: Option<Uuid>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    patient_id: Option<Uuid>,
    outcome: String,
    client_addr: Option<String>,
    detail: Option<String>,
    leaf_hash: Option<String>,
    leaf_index: Option<i64>,
}

impl AuditRow {
    /// The event, and whether its stored leaf hash is missing (an event from before the tree).
    fn into_event(self) -> (AuditEvent, bool) {
        let unhashed = self.leaf_hash.is_none();
        let mut event = AuditEvent {
            id: self.id,
            occurred_at: self.occurred_at.0,
            actor_user_id: self.actor_user_id.map(UserId::from_uuid),
            actor_role: self.actor_role,
            organization_id: self.organization_id.map(OrganizationId::from_uuid),
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            patient_id: self.patient_id.map(PatientId::from_uuid),
            outcome: self.outcome,
            client_addr: self.client_addr,
            detail: self.detail,
            hash: self.leaf_hash.unwrap_or_default(),
            leaf_index: self.leaf_index,
        };
        if unhashed {
            event.hash = event.compute_hash();
        }
        (event, unhashed)
    }
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        row.into_event().0
    }
}

/// Appending inside a caller's transaction, so a write and its audit event commit
/// or roll back together. Nothing shared is locked: the id comes from the table's own
/// counter (SQLite AUTOINCREMENT, a PostgreSQL identity sequence).
pub(crate) trait AppendAudit {
    async fn append_audit(&mut self, entry: AuditEntry) -> Result<AuditEvent>;
}

const INSERT_EVENT: &str = "INSERT INTO audit_events (id, occurred_at, actor_user_id, actor_role, \
     organization_id, action, resource_type, resource_id, patient_id, outcome, client_addr, detail, leaf_hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

macro_rules! insert_event {
    ($tx:expr, $event:expr, $id:expr) => {
        sqlx::query(INSERT_EVENT)
            .bind($id)
            .bind(DbTime($event.occurred_at))
            .bind($event.actor_user_id.map(|id| id.as_uuid()))
            .bind(&$event.actor_role)
            .bind($event.organization_id.map(|id| id.as_uuid()))
            .bind(&$event.action)
            .bind(&$event.resource_type)
            .bind(&$event.resource_id)
            .bind($event.patient_id.map(|id| id.as_uuid()))
            .bind(&$event.outcome)
            .bind(&$event.client_addr)
            .bind(&$event.detail)
    };
}

impl AppendAudit for WriteTx<Sqlite> {
    async fn append_audit(&mut self, entry: AuditEntry) -> Result<AuditEvent> {
        // The id is only known once inserted; the row is then completed with its hash
        // (the write lock is held, so nobody reads it in between).
        let mut event = AuditEvent::seal(entry, 0, Timestamp::now());
        let id: i64 = insert_event!(self, event, None::<i64>)
            .bind(None::<String>)
            .execute(&mut **self)
            .await?
            .last_insert_rowid();
        event.id = id;
        event.hash = event.compute_hash();
        sqlx::query("UPDATE audit_events SET leaf_hash = $1 WHERE id = $2")
            .bind(&event.hash)
            .bind(id)
            .execute(&mut **self)
            .await?;
        Ok(event)
    }
}

impl AppendAudit for WriteTx<Postgres> {
    async fn append_audit(&mut self, entry: AuditEntry) -> Result<AuditEvent> {
        let id: i64 =
            sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('audit_events', 'id'))")
                .fetch_one(&mut **self)
                .await?;
        let event = AuditEvent::seal(entry, id, Timestamp::now());
        insert_event!(self, event, id)
            .bind(&event.hash)
            .execute(&mut **self)
            .await?;
        Ok(event)
    }
}

/// Which events an admin is browsing. Results come newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub organization_id: Option<OrganizationId>,
    /// Exact action (`patient.read`) or a prefix ending in `.` (`patient.`).
    pub action: Option<String>,
    pub actor_user_id: Option<UserId>,
    pub patient_id: Option<PatientId>,
    pub outcome: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Keyset pagination: only events older than this id.
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The result of checking every event against the stored tree.
#[derive(Debug)]
pub enum AuditVerification {
    Intact { events: u64 },
    Broken(AuditBreak),
}

/// What one sequencing pass did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceReport {
    /// Events placed in the tree by this pass.
    pub sequenced: u64,
    pub tree_size: u64,
    pub root_hash: TreeHash,
}

/// Events not yet in the tree (for the sequencing-lag metric).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequencingLag {
    pub unsequenced: u64,
    pub oldest: Option<Timestamp>,
}

/// A checkpoint as the database keeps it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCheckpoint {
    pub tree_size: i64,
    pub root_hash: String,
    pub note: String,
}

/// An RFC 9162 inclusion proof of one event's leaf in the tree of `tree_size` leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub event_id: i64,
    pub leaf_index: u64,
    pub leaf_hash: TreeHash,
    pub tree_size: u64,
    pub root_hash: TreeHash,
    pub proof: Vec<TreeHash>,
}

/// What checking the events against the stored tree found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeCheck {
    pub events: u64,
    pub tree_size: u64,
    pub root_hash: TreeHash,
    pub unsequenced: u64,
    /// The root recomputed from the events at each size asked for (sizes beyond the tree are absent).
    pub roots: BTreeMap<u64, TreeHash>,
    pub broken: Option<AuditBreak>,
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn parse_hash(column: &str, text: &str) -> Result<TreeHash> {
    text.parse()
        .map_err(|_| corrupt(format!("{column} holds {text:?}, not a hash")))
}

fn broken(event_id: Option<i64>, reason: impl Into<String>) -> AuditBreak {
    AuditBreak {
        event_id,
        reason: reason.into(),
    }
}

/// How long a PostgreSQL transaction may plausibly hold an event back while later
/// ones are sequenced (requests time out long before this).
const LATE_COMMIT_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

impl Store {
    /// Records an event on its own (for reads, sign-ins and refusals).
    pub async fn append_audit(&self, entry: AuditEntry) -> Result<AuditEvent> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let event = tx.append_audit(entry).await?;
            tx.commit().await?;
            Ok(event)
        })
    }

    pub async fn list_audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        on_pool!(self, pool => {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1"));
            if let Some(org) = filter.organization_id {
                query.push(" AND organization_id = ").push_bind(org.as_uuid());
            }
            match filter.action.as_deref() {
                Some(prefix) if prefix.ends_with('.') => {
                    // length() is int4 in PostgreSQL, as substr() wants; a bound i64 would not be.
                    query.push(" AND substr(action, 1, length(").push_bind(prefix.to_owned())
                        .push(")) = ").push_bind(prefix.to_owned());
                }
                Some(action) => {
                    query.push(" AND action = ").push_bind(action.to_owned());
                }
                None => {}
            }
            if let Some(actor) = filter.actor_user_id {
                query.push(" AND actor_user_id = ").push_bind(actor.as_uuid());
            }
            if let Some(patient) = filter.patient_id {
                query.push(" AND patient_id = ").push_bind(patient.as_uuid());
            }
            if let Some(outcome) = &filter.outcome {
                query.push(" AND outcome = ").push_bind(outcome.clone());
            }
            if let Some(since) = filter.since {
                query.push(" AND occurred_at >= ").push_bind(DbTime::from(since));
            }
            if let Some(until) = filter.until {
                query.push(" AND occurred_at < ").push_bind(DbTime::from(until));
            }
            if let Some(before) = filter.before_id {
                query.push(" AND id < ").push_bind(before);
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit.clamp(1, 1000)));
            let rows: Vec<AuditRow> = query.build_query_as().fetch_all(pool).await?;
            Ok(rows.into_iter().map(AuditEvent::from).collect())
        })
    }

    /// Places up to `limit` unsequenced events in the tree, in id order, in one
    /// transaction. Sequencers serialize on the tree head row (PostgreSQL: `FOR UPDATE`);
    /// requests never touch it. An event committed late (a lower id after higher ones,
    /// on PostgreSQL) is simply taken by a later pass.
    pub async fn sequence_audit(&self, limit: u32) -> Result<SequenceReport> {
        let lock_head = match self.backend {
            Backend::Sqlite(_) => {
                "SELECT tree_size, root_hash FROM audit_tree_head WHERE singleton = 1"
            }
            Backend::Postgres(_) => {
                "SELECT tree_size, root_hash FROM audit_tree_head WHERE singleton = 1 FOR UPDATE"
            }
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (size, root): (i64, String) = sqlx::query_as(lock_head)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| corrupt("the audit tree head row is missing"))?;
            let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_events WHERE leaf_index IS NULL ORDER BY id LIMIT $1"
            )))
            .bind(i64::from(limit.max(1)))
            .fetch_all(&mut *tx)
            .await
            .map_err(crate::reading("audit_events"))?;
            let size = u64::try_from(size).map_err(|_| corrupt("audit_tree_head.tree_size is negative"))?;
            if rows.is_empty() {
                tx.rollback().await?;
                return Ok(SequenceReport { sequenced: 0, tree_size: size, root_hash: parse_hash("audit_tree_head.root_hash", &root)? });
            }
            let mut stored = Vec::new();
            for subtree in merkle::range_subtrees(0..size) {
                stored.push(subtree_hash(&mut *tx, subtree).await?);
            }
            let mut frontier = Frontier::resume(size, stored).map_err(|e| corrupt(e.to_string()))?;
            let sequenced = rows.len() as u64;
            for row in rows {
                let (event, unhashed) = row.into_event();
                if !unhashed && event.compute_hash() != event.hash {
                    // Changed between its append and now: keep the hash taken at append,
                    // so `audit verify` names the event.
                    tracing::error!(event_id = event.id, "an audit event no longer matches its leaf hash");
                }
                let leaf = parse_hash("audit_events.leaf_hash", &event.hash)?;
                let index = frontier.size() as i64;
                sqlx::query("UPDATE audit_events SET leaf_index = $1, leaf_hash = $2 WHERE id = $3")
                    .bind(index)
                    .bind(&event.hash)
                    .bind(event.id)
                    .execute(&mut *tx)
                    .await?;
                for (node, hash) in frontier.push(leaf) {
                    sqlx::query("INSERT INTO audit_tree_nodes (level, node_index, hash) VALUES ($1, $2, $3)")
                        .bind(i64::from(node.level))
                        .bind(node.index as i64)
                        .bind(hash.to_hex())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let root = frontier.root();
            sqlx::query("UPDATE audit_tree_head SET tree_size = $1, root_hash = $2 WHERE singleton = 1")
                .bind(frontier.size() as i64)
                .bind(root.to_hex())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(SequenceReport { sequenced, tree_size: frontier.size(), root_hash: root })
        })
    }

    /// How many events wait for the sequencer, and since when.
    pub async fn audit_sequencing_lag(&self) -> Result<SequencingLag> {
        on_pool!(self, pool => {
            let (count, oldest): (i64, Option<DbTime>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(occurred_at) FROM audit_events WHERE leaf_index IS NULL",
            )
            .fetch_one(pool)
            .await?;
            Ok(SequencingLag { unsequenced: count.max(0) as u64, oldest: oldest.map(|t| t.0) })
        })
    }

    /// The tree's size and root as the sequencer last left them.
    pub async fn audit_tree_head(&self) -> Result<(u64, TreeHash)> {
        on_pool!(self, pool => {
            let (size, root): (i64, String) =
                sqlx::query_as("SELECT tree_size, root_hash FROM audit_tree_head WHERE singleton = 1")
                    .fetch_optional(pool)
                    .await?
                    .ok_or_else(|| corrupt("the audit tree head row is missing"))?;
            Ok((size.max(0) as u64, parse_hash("audit_tree_head.root_hash", &root)?))
        })
    }

    pub async fn record_audit_checkpoint(
        &self,
        tree_size: u64,
        root_hash: &TreeHash,
        signed_at: Timestamp,
        note: &str,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO audit_checkpoints (tree_size, root_hash, signed_at, note) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (note) DO NOTHING",
            )
            .bind(tree_size as i64)
            .bind(root_hash.to_hex())
            .bind(DbTime::from(signed_at))
            .bind(note)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every checkpoint the database holds, oldest first.
    pub async fn list_audit_checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        on_pool!(self, pool => {
            Ok(sqlx::query_as("SELECT tree_size, root_hash, note FROM audit_checkpoints ORDER BY id")
                .fetch_all(pool)
                .await?)
        })
    }

    /// The inclusion proof of event `event_id` in the tree's first `tree_size` leaves.
    /// `None` when there is no such event or it is not (yet) among those leaves.
    pub async fn audit_inclusion_proof(
        &self,
        event_id: i64,
        tree_size: u64,
    ) -> Result<Option<InclusionProof>> {
        on_pool!(self, pool => {
            let row: Option<(Option<i64>, Option<String>)> =
                sqlx::query_as("SELECT leaf_index, leaf_hash FROM audit_events WHERE id = $1")
                    .bind(event_id)
                    .fetch_optional(pool)
                    .await?;
            let Some((Some(index), Some(leaf))) = row else { return Ok(None) };
            let index = index.max(0) as u64;
            if index >= tree_size {
                return Ok(None);
            }
            let mut conn = pool.read_connection().await?;
            let mut proof = Vec::new();
            for range in merkle::inclusion_path_ranges(index, tree_size) {
                let mut hashes = Vec::new();
                for subtree in merkle::range_subtrees(range) {
                    hashes.push(subtree_hash(&mut *conn, subtree).await?);
                }
                proof.push(merkle::fold_subtrees(&hashes));
            }
            let mut hashes = Vec::new();
            for subtree in merkle::range_subtrees(0..tree_size) {
                hashes.push(subtree_hash(&mut *conn, subtree).await?);
            }
            Ok(Some(InclusionProof {
                event_id,
                leaf_index: index,
                leaf_hash: parse_hash("audit_events.leaf_hash", &leaf)?,
                tree_size,
                root_hash: merkle::fold_subtrees(&hashes),
                proof,
            }))
        })
    }

    /// Checks every event against its leaf hash and the stored tree (every leaf in
    /// place, every interior node and the head recomputed), computing the root at each
    /// of `sizes` on the way. Pages through the log, so memory stays small.
    pub async fn check_audit_tree(&self, sizes: &BTreeSet<u64>) -> Result<TreeCheck> {
        const PAGE: i64 = 2000;
        let postgres = matches!(self.backend, Backend::Postgres(_));
        on_pool!(self, pool => {
            let (head_size, head_root) = self.audit_tree_head().await?;
            let mut check = TreeCheck {
                events: 0,
                tree_size: head_size,
                root_hash: head_root,
                unsequenced: 0,
                roots: BTreeMap::new(),
                broken: None,
            };
            if sizes.contains(&0) {
                check.roots.insert(0, merkle::empty_root());
            }
            let mut frontier = Frontier::new();
            let mut computed_nodes: u64 = 0;
            let mut highest_sequenced_id = 0_i64;
            loop {
                let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM audit_events WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2"
                )))
                .bind(frontier.size() as i64)
                .bind(PAGE)
                .fetch_all(pool)
                .await
                .map_err(crate::reading("audit_events"))?;
                if rows.is_empty() {
                    break;
                }
                let start = frontier.size();
                let mut nodes = BTreeMap::new();
                for row in rows {
                    let (event, unhashed) = row.into_event();
                    let expected = frontier.size() as i64;
                    if event.leaf_index != Some(expected) {
                        check.broken = Some(broken(Some(event.id), format!(
                            "it holds leaf {} where leaf {expected} was expected: leaves are missing, duplicated or moved",
                            event.leaf_index.unwrap_or(-1)
                        )));
                        return Ok(check);
                    }
                    if unhashed {
                        check.broken = Some(broken(Some(event.id), "it was placed in the tree but its leaf hash was removed"));
                        return Ok(check);
                    }
                    if event.compute_hash() != event.hash {
                        check.broken = Some(broken(Some(event.id), "its columns do not match its leaf hash (the event was altered)"));
                        return Ok(check);
                    }
                    let Ok(leaf) = event.hash.parse::<TreeHash>() else {
                        check.broken = Some(broken(Some(event.id), "its leaf hash is not a hash"));
                        return Ok(check);
                    };
                    highest_sequenced_id = highest_sequenced_id.max(event.id);
                    check.events += 1;
                    for (node, hash) in frontier.push(leaf) {
                        nodes.insert(node, (hash, event.id));
                    }
                    if sizes.contains(&frontier.size()) {
                        check.roots.insert(frontier.size(), frontier.root());
                    }
                }
                computed_nodes += nodes.len() as u64;
                if let Some(fault) = compare_nodes(pool, start, frontier.size(), &nodes).await? {
                    check.broken = Some(fault);
                    return Ok(check);
                }
            }
            if frontier.size() != head_size {
                check.broken = Some(broken(None, format!(
                    "the tree head records {head_size} leaves but {} events are in the tree: events were removed or the head altered",
                    frontier.size()
                )));
                return Ok(check);
            }
            if frontier.root() != head_root {
                check.broken = Some(broken(None, "the tree head's root does not match the tree"));
                return Ok(check);
            }
            let stored_nodes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_tree_nodes")
                .fetch_one(pool)
                .await?;
            if stored_nodes as u64 != computed_nodes {
                check.broken = Some(broken(None, format!(
                    "the tree stores {stored_nodes} interior nodes where {computed_nodes} belong"
                )));
                return Ok(check);
            }
            // Events not yet in the tree: each must still match its own leaf hash, and
            // none may hide behind sequenced ones (only PostgreSQL commits out of order, briefly).
            let mut after = 0_i64;
            let now = Timestamp::now();
            loop {
                let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM audit_events WHERE leaf_index IS NULL AND id > $1 ORDER BY id LIMIT $2"
                )))
                .bind(after)
                .bind(PAGE)
                .fetch_all(pool)
                .await
                .map_err(crate::reading("audit_events"))?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in rows {
                    let (event, unhashed) = row.into_event();
                    if !unhashed && event.compute_hash() != event.hash {
                        check.broken = Some(broken(Some(event.id), "its columns do not match its leaf hash (the event was altered)"));
                        return Ok(check);
                    }
                    let late = event.id < highest_sequenced_id;
                    if late && (!postgres || now.duration_since(event.occurred_at) > LATE_COMMIT_GRACE) {
                        check.broken = Some(broken(Some(event.id), format!(
                            "it is not in the tree although later event {highest_sequenced_id} is: it was inserted afterwards"
                        )));
                        return Ok(check);
                    }
                    check.unsequenced += 1;
                    check.events += 1;
                }
            }
            Ok(check)
        })
    }

    /// Checks every event against the stored tree (no checkpoints: see
    /// [`Store::check_audit_tree`] and `crate::AuditSealer` for those).
    pub async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        let check = self.check_audit_tree(&BTreeSet::new()).await?;
        Ok(match check.broken {
            None => AuditVerification::Intact {
                events: check.events,
            },
            Some(fault) => AuditVerification::Broken(fault),
        })
    }
}

/// The stored hash of a perfect subtree: a leaf's from its event, an interior node's
/// from the node table.
async fn subtree_hash<'c, E, DB>(executor: E, subtree: Subtree) -> Result<TreeHash>
where
    E: sqlx::Executor<'c, Database = DB>,
    DB: sqlx::Database,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    i64: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let (sql, key, what) = if subtree.level == 0 {
        (
            "SELECT leaf_hash FROM audit_events WHERE leaf_index = $1 AND $2 = 0",
            subtree.index as i64,
            "leaf",
        )
    } else {
        (
            "SELECT hash FROM audit_tree_nodes WHERE node_index = $1 AND level = $2",
            subtree.index as i64,
            "node",
        )
    };
    let row: Option<(String,)> = sqlx::query_as(sql)
        .bind(key)
        .bind(i64::from(subtree.level))
        .fetch_optional(executor)
        .await?;
    let (hash,) = row.ok_or_else(|| {
        corrupt(format!(
            "the audit tree lacks {what} {} at level {}",
            subtree.index, subtree.level
        ))
    })?;
    parse_hash("audit tree hash", &hash)
}

/// Compares the interior nodes completed by leaves `start..end` with the stored ones.
async fn compare_nodes<'c, E, DB>(
    executor: E,
    start: u64,
    end: u64,
    computed: &BTreeMap<Subtree, (TreeHash, i64)>,
) -> Result<Option<AuditBreak>>
where
    E: sqlx::Executor<'c, Database = DB> + Copy,
    DB: sqlx::Database,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    i64: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    (i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut level = 1_u32;
    while (1_u64 << level) <= end {
        // Nodes whose last leaf lies in start..end.
        let first = start >> level;
        let last = (end >> level).checked_sub(1);
        if let Some(last) = last.filter(|last| *last >= first) {
            let stored: Vec<(i64, String)> = sqlx::query_as(
                "SELECT node_index, hash FROM audit_tree_nodes WHERE level = $1 AND node_index >= $2 AND node_index <= $3 ORDER BY node_index",
            )
            .bind(i64::from(level))
            .bind(first as i64)
            .bind(last as i64)
            .fetch_all(executor)
            .await?;
            let mut stored = stored.into_iter();
            for index in first..=last {
                let node = Subtree { level, index };
                let Some((hash, event_id)) = computed.get(&node) else {
                    return Err(corrupt(format!(
                        "node {index} at level {level} was not computed"
                    )));
                };
                let matches = match stored.next() {
                    Some((i, text)) if i as u64 == index => {
                        text.parse::<TreeHash>().ok() == Some(*hash)
                    }
                    _ => false,
                };
                if !matches {
                    return Ok(Some(broken(
                        Some(*event_id),
                        format!(
                            "the tree's node {index} at level {level} (leaves {}..{}) is missing or does not match the events",
                            node.leaves().start,
                            node.leaves().end
                        ),
                    )));
                }
            }
        }
        level += 1;
    }
    Ok(None)
}
