//! The scheduler's queue on both databases: due patients only, leased so that two
//! servers never check the same patient at once, and re-queued after each check.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use speciosa_app::{App, AppSettings, DatabaseLocation, PoolOptions};
use speciosa_store::Store;
use sqlx::Connection;
use uuid::Uuid;

struct Fixture {
    app: App,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn demo_on(location: DatabaseLocation, dir: tempfile::TempDir) -> Fixture {
    let store = Store::open(&location, &PoolOptions::default())
        .await
        .expect("open the store");
    let app = App::with_store(store.clone(), AppSettings::default()).expect("bundled data");
    assert!(speciosa_app::demo::seed(&app).await.expect("seed the demo"));
    Fixture {
        app,
        store,
        _dir: dir,
    }
}

async fn fixtures() -> Vec<Fixture> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut all = vec![demo_on(DatabaseLocation::DataDir(dir.path().to_owned()), dir).await];
    if let Ok(admin_url) = std::env::var("SPECIOSA_TEST_DATABASE_URL") {
        let name = format!(
            "speciosa_sched_{}_{}",
            std::process::id(),
            Timestamp::now().as_microsecond()
        );
        let mut connection = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .expect("create the test database");
        let (prefix, _) = admin_url.rsplit_once('/').expect("a database name");
        let dir = tempfile::tempdir().expect("temporary directory");
        all.push(demo_on(DatabaseLocation::Url(format!("{prefix}/{name}")), dir).await);
    } else {
        assert!(
            std::env::var("SPECIOSA_REQUIRE_POSTGRES").is_err(),
            "SPECIOSA_REQUIRE_POSTGRES is set but SPECIOSA_TEST_DATABASE_URL is not"
        );
    }
    all
}

const LEASE: SignedDuration = SignedDuration::from_mins(5);

#[tokio::test]
async fn two_servers_claiming_at_once_never_get_the_same_patient() {
    for f in fixtures().await {
        let now = Timestamp::now();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (first, second) = tokio::join!(
            f.store.claim_due_checks(a, now, LEASE, 3),
            f.store.claim_due_checks(b, now, LEASE, 3),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        let first: BTreeSet<_> = first.into_iter().collect();
        let second: BTreeSet<_> = second.into_iter().collect();
        assert!(
            first.is_disjoint(&second),
            "{first:?} and {second:?} overlap"
        );
        // The demo has five patients, all due: between them the two claims took all five.
        assert_eq!(first.len() + second.len(), 5);
        // Leased patients are not handed out again while their lease lasts.
        assert!(
            f.store
                .claim_due_checks(a, now, LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_lease_that_lapses_hands_the_patient_to_another_server() {
    for f in fixtures().await {
        let now = Timestamp::now();
        let claimed = f
            .store
            .claim_due_checks(Uuid::now_v7(), now, LEASE, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 5);
        // The first server died: after its lease, another server takes every patient over.
        let later = now + LEASE + SignedDuration::from_secs(1);
        let taken_over = f
            .store
            .claim_due_checks(Uuid::now_v7(), later, LEASE, 10)
            .await
            .unwrap();
        assert_eq!(
            taken_over.into_iter().collect::<BTreeSet<_>>(),
            claimed.into_iter().collect::<BTreeSet<_>>()
        );
    }
}

#[tokio::test]
async fn a_pass_checks_only_the_patients_that_are_due() {
    for f in fixtures().await {
        let worker = Uuid::now_v7();
        let interval = SignedDuration::from_mins(5);
        let first = speciosa_app::safety::check_due_patients(&f.app, worker, interval)
            .await
            .unwrap();
        assert_eq!(first.checked, 5, "every demo patient was due: {first:?}");
        assert_eq!(first.unreadable, 0);
        // Each was re-queued five minutes on: a pass now has nothing to do.
        let second = speciosa_app::safety::check_due_patients(&f.app, worker, interval)
            .await
            .unwrap();
        assert_eq!(second.checked, 0, "{second:?}");
        let queue = f.store.check_queue(Timestamp::now()).await.unwrap();
        assert_eq!(queue.due, 0);
        let queue = f
            .store
            .check_queue(Timestamp::now() + interval + SignedDuration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(queue.due, 5, "all five fall due again after the interval");
    }
}

#[tokio::test]
async fn the_demo_clinic_has_a_signed_taper_whose_signature_covers_its_stored_content() {
    for fixture in fixtures().await {
        let patients = fixture.store.all_patient_ids().await.expect("patients");
        let mut signed = Vec::new();
        for (_, patient) in patients {
            if let Some(plan) = fixture.store.active_plan(patient).await.expect("plans") {
                signed.push(plan);
            }
        }
        assert_eq!(signed.len(), 1, "Dana's taper");
        let plan = &signed[0];
        let signature = plan.signature.as_ref().expect("a signature");
        assert_eq!(
            signature.content_sha256,
            speciosa_core::plan::content_digest(&plan.content_json)
        );
        assert_eq!(plan.content.schedule.unit(), "g");
        assert!(plan.content.schedule.bedtime().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_gives_dana_a_session_this_week_and_a_visit_next_week() {
    for fixture in fixtures().await {
        let now = Timestamp::now();
        let coming = fixture
            .store
            .appointments_starting_between(now, now + SignedDuration::from_hours(14 * 24), 10)
            .await
            .expect("appointments");
        let seen: Vec<(&str, &str, &str)> = coming
            .iter()
            .map(|a| {
                (
                    a.kind.as_str(),
                    a.patient_name.as_str(),
                    a.clinician_name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("therapy_session", "Dana Reyes", "Dr Amara Okafor"),
                ("visit", "Dana Reyes", "Dr Amara Okafor"),
            ]
        );
    }
}
