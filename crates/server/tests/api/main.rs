//! The HTTP integration suite: each test starts the real server on an ephemeral
//! port with its own database and talks to it over HTTP. Every test runs twice,
//! on SQLite and on PostgreSQL (see `helpers::TestApp`).

mod helpers;

mod alerts;
mod assessments;
mod audit;
mod authorization;
mod conventions;
mod doses;
mod medications_pages;
mod pages;
mod patients;
mod products;
mod session;
mod supervision_pages;
mod timeline;
mod users;
