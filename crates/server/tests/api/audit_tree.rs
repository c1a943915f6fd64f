//! The audit log's Merkle tree: the server's sealer sequences what requests append,
//! sequencers sharing a database build one tree, and a late commit is not lost.

use std::time::Duration;

use jiff::Timestamp;
use speciosa_app::store::{AuditVerification, DatabaseLocation, SealerConfig};
use speciosa_core::audit::{AuditEntry, AuditEvent, Outcome};
use speciosa_server::ServerConfig;
use sqlx::Connection;

use crate::helpers::{Backend, TestApp, on_both_backends};

on_both_backends!(
    the_server_sequences_every_event_it_appends,
    each_checkpoint_is_signed_filed_and_sent_to_the_witness,
    concurrent_sequencers_build_one_consistent_tree
);

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        actor_user_id: None,
        actor_role: None,
        organization_id: None,
        action: action.into(),
        resource_type: "test".into(),
        resource_id: None,
        patient_id: None,
        outcome: Outcome::Success,
        client_addr: Some("test".into()),
        detail: None,
    }
}

async fn assert_intact(app: &TestApp) -> u64 {
    match app.store.verify_audit_chain().await.unwrap() {
        AuditVerification::Intact { events } => events,
        AuditVerification::Broken(broken) => panic!("the audit log broke: {broken}"),
    }
}

async fn the_server_sequences_every_event_it_appends(app: TestApp) {
    let files = tempfile::tempdir().unwrap();
    let sealed = app
        .sibling(ServerConfig {
            audit_sealer: Some(SealerConfig {
                sequence_interval: Duration::from_millis(50),
                ..SealerConfig::in_dir(files.path())
            }),
            ..ServerConfig::default()
        })
        .await;
    let clinic = sealed.clinic("Northside").await;
    let casey = sealed.staff(&clinic, "clinician", "Casey Doe").await;
    for _ in 0..5 {
        casey.get("/api/v1/patients").await;
    }
    let mut lag = None;
    for _ in 0..100 {
        let now = sealed.store.audit_sequencing_lag().await.unwrap();
        if now.unsequenced == 0 {
            lag = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(lag.is_some(), "the sealer never caught up");
    let events = assert_intact(&sealed).await;
    let (size, _) = sealed.store.audit_tree_head().await.unwrap();
    assert_eq!(size, events);
    assert!(files.path().join("audit-signing.key").exists());
}

async fn concurrent_sequencers_build_one_consistent_tree(app: TestApp) {
    let appenders = (0..4).map(|n| {
        let store = app.store.clone();
        tokio::spawn(async move {
            for i in 0..25 {
                store
                    .append_audit(entry(&format!("test.append{n}_{i}")))
                    .await
                    .unwrap();
            }
        })
    });
    let sequencers = (0..3).map(|_| {
        let store = app.store.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                store.sequence_audit(7).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    });
    for task in appenders.chain(sequencers).collect::<Vec<_>>() {
        task.await.unwrap();
    }
    while app.store.sequence_audit(1000).await.unwrap().sequenced > 0 {}
    let events = assert_intact(&app).await;
    let (size, root) = app.store.audit_tree_head().await.unwrap();
    assert_eq!(size, events);
    assert!(size >= 100);
    let proof = app
        .store
        .audit_inclusion_proof(1, size)
        .await
        .unwrap()
        .expect("event 1 is in the tree");
    assert_eq!(proof.root_hash, root);
    assert!(speciosa_core::merkle::verify_inclusion(
        proof.leaf_index,
        size,
        &proof.leaf_hash,
        &proof.proof,
        &root
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_after_a_later_one_is_sequenced_by_a_later_batch_on_postgresql() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    assert_eq!(app.backend, Backend::Postgres);
    let DatabaseLocation::Url(url) = &app.location else {
        panic!("a PostgreSQL URL")
    };
    // A request that takes its id first and commits last.
    let mut slow = sqlx::PgConnection::connect(url).await.unwrap();
    let mut tx = slow.begin().await.unwrap();
    let id: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('audit_events', 'id'))")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    let event = AuditEvent::seal(entry("test.slow"), id, Timestamp::now());
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, action, resource_type, outcome, client_addr, leaf_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(speciosa_app::store::DbTime(event.occurred_at))
    .bind(&event.action)
    .bind(&event.resource_type)
    .bind(&event.outcome)
    .bind(&event.client_addr)
    .bind(&event.hash)
    .execute(&mut *tx)
    .await
    .unwrap();
    let fast = app.store.append_audit(entry("test.fast")).await.unwrap();
    assert!(fast.id > id);
    while app.store.sequence_audit(1000).await.unwrap().sequenced > 0 {}
    let (before, _) = app.store.audit_tree_head().await.unwrap();

    tx.commit().await.unwrap();
    let report = app.store.sequence_audit(1000).await.unwrap();
    assert_eq!(report.sequenced, 1, "the late event joins the tree");
    assert_eq!(report.tree_size, before + 1);
    assert_eq!(assert_intact(&app).await, before + 1);
    let late = app
        .store
        .audit_inclusion_proof(id, report.tree_size)
        .await
        .unwrap()
        .expect("the late event is in the tree");
    assert_eq!(late.leaf_index, before);
}

/// A witness that keeps what it is sent.
async fn witness() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = received.clone();
    let router = axum::Router::new().route(
        "/checkpoints",
        axum::routing::post(move |body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/checkpoints", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

async fn each_checkpoint_is_signed_filed_and_sent_to_the_witness(app: TestApp) {
    let files = tempfile::tempdir().unwrap();
    let (url, received) = witness().await;
    let config = SealerConfig {
        sequence_interval: Duration::from_millis(50),
        checkpoint_interval: Duration::from_millis(200),
        witness_url: Some(url),
        ..SealerConfig::in_dir(files.path())
    };
    let sealed = app
        .sibling(ServerConfig {
            audit_sealer: Some(config.clone()),
            ..ServerConfig::default()
        })
        .await;
    let clinic = sealed.clinic("Northside").await;
    sealed.staff(&clinic, "clinician", "Casey Doe").await;
    let mut notes = Vec::new();
    for _ in 0..100 {
        notes = received.lock().unwrap().clone();
        if !notes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let verifier = speciosa_app::store::load_verifier(&config.key_path, None)
        .unwrap()
        .expect("the key was created");
    let first = notes.first().expect("the witness received a checkpoint");
    let checkpoint = speciosa_app::store::open_checkpoint(&verifier, first).expect("it is signed");
    assert!(checkpoint.tree_size > 0);
    let filed = speciosa_app::store::read_checkpoint_file(&config.checkpoint_path)
        .unwrap()
        .unwrap();
    assert!(filed.contains(first), "the witness got what the file holds");
    let stored: Vec<String> = sealed
        .store
        .list_audit_checkpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.note)
        .collect();
    assert!(stored.contains(first), "the database holds it too");
}
