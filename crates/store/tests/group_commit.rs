//! SQLite's group commit: concurrent write transactions share one commit, each answers
//! only once its writes are durable, and a failing one rolls back alone.

use std::sync::Arc;

use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_store::{DatabaseLocation, PoolOptions, Store, StoreError};
use tokio::sync::Barrier;

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &DatabaseLocation::DataDir(dir.path().to_owned()),
        &PoolOptions::default(),
    )
    .await
    .expect("open the store")
}

fn read_event(n: usize) -> AuditEntry {
    AuditEntry {
        actor_user_id: None,
        actor_role: None,
        organization_id: None,
        action: "patient.read".into(),
        resource_type: "patient".into(),
        resource_id: Some(format!("reader-{n}")),
        patient_id: None,
        outcome: Outcome::Success,
        client_addr: None,
        detail: None,
    }
}

/// Runs `writes` organization creations at once, all released together; each task
/// checks from the read pool that its write is visible the moment it returns.
async fn create_at_once(store: &Store, names: Vec<String>) -> Vec<Result<(), StoreError>> {
    let barrier = Arc::new(Barrier::new(names.len()));
    let tasks: Vec<_> = names
        .into_iter()
        .map(|name| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.create_organization(&name).await?;
                let found = store.find_organization_by_name(&name).await?;
                assert!(
                    found.is_some(),
                    "{name} is readable once its write returned"
                );
                Ok(())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("the task finished"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_all_visible_when_they_return_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let names: Vec<String> = (0..48).map(|n| format!("Clinic {n}")).collect();
    let results = create_at_once(&store, names.clone()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    store.close().await;
    drop(store);

    let reopened = open(&dir).await;
    for name in &names {
        assert!(
            reopened
                .find_organization_by_name(name)
                .await
                .unwrap()
                .is_some(),
            "{name} was committed to disk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writes_commit_in_fewer_batches_than_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let before = store.write_stats().expect("SQLite counts its batches");
    let writes = 64;
    let barrier = Arc::new(Barrier::new(writes));
    let tasks: Vec<_> = (0..writes)
        .map(|n| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.append_audit(read_event(n)).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("the audit event is recorded");
    }
    let after = store.write_stats().unwrap();
    let requests = after.requests - before.requests;
    let batches = after.batches - before.batches;
    assert_eq!(requests, writes as u64, "every write is counted once");
    assert!(
        batches < requests,
        "{requests} concurrent writes took {batches} commits"
    );
    let events = store
        .list_audit_events(&speciosa_store::AuditFilter {
            action: Some("patient.read".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), writes, "every event is in the log");
    assert!(matches!(
        store.verify_audit_chain().await.unwrap(),
        speciosa_store::AuditVerification::Intact { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lone_write_commits_in_a_batch_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let before = store.write_stats().unwrap();
    store.create_organization("Alone").await.unwrap();
    let after = store.write_stats().unwrap();
    assert_eq!(after.batches - before.batches, 1);
    assert_eq!(after.requests - before.requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflicting_write_rolls_back_alone_while_its_batch_mates_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store.create_organization("Taken").await.unwrap();
    let before = store.write_stats().unwrap();
    // Every fourth write collides with an existing name.
    let names: Vec<String> = (0..48)
        .map(|n| {
            if n % 4 == 0 {
                "Taken".to_owned()
            } else {
                format!("Fresh {n}")
            }
        })
        .collect();
    let results = create_at_once(&store, names.clone()).await;
    for (name, result) in names.iter().zip(&results) {
        if name == "Taken" {
            assert!(
                matches!(result, Err(StoreError::Conflict(_))),
                "{name}: {result:?}"
            );
        } else {
            assert!(result.is_ok(), "{name}: {result:?}");
        }
    }
    let after = store.write_stats().unwrap();
    let committed = after.requests - before.requests;
    assert_eq!(committed, 36, "only the fresh names committed");
    assert!(
        after.batches - before.batches < committed,
        "the writes shared batches"
    );
    store.close().await;
    drop(store);
    let reopened = open(&dir).await;
    for name in names.iter().filter(|name| *name != "Taken") {
        assert!(
            reopened
                .find_organization_by_name(name)
                .await
                .unwrap()
                .is_some()
        );
    }
}
