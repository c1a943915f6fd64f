//! The HTTP integration suite: each test starts the real server on an ephemeral
//! port with its own database and talks to it over HTTP. Every test runs twice,
//! on SQLite and on PostgreSQL (see `helpers::TestApp`).

mod helpers;

mod accounts;
mod alerts;
mod appointments;
mod assessments;
mod audit;
mod audit_tree;
mod audit_views;
mod authorization;
mod calendar;
mod coa_units;
mod conventions;
mod dose_amounts;
mod doses;
mod forwarded_for;
mod heavy_metals;
mod legal;
mod legal_pages;
mod medications_pages;
mod medicines;
mod metrics;
mod monitoring;
mod notifications;
mod offline_app;
mod pages;
mod patient_plan_pages;
mod patients;
mod plan_pages;
mod plan_rules;
mod plans;
mod product_privacy;
mod products;
mod push;
mod resilience;
mod route_matrix;
mod session;
mod session_lifetime;
mod sleep;
mod summaries;
mod supervision_pages;
mod timeline;
mod users;
