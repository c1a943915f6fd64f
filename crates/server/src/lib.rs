//! Speciosa's HTTP surface: the JSON API under `/api/v1`, the server-rendered
//! pages, sessions, authorization and audit. Handlers stay thin: they extract,
//! authorize through `speciosa_core::policy`, call the store and map the result.
#![forbid(unsafe_code)]

mod api;
mod app;
mod auth;
mod config;
mod error;
mod extract;
mod metrics;
mod pages;
mod problems;
mod views;

pub use app::{AppState, router, serve, serve_on};
pub use config::ServerConfig;
pub use metrics::metrics_allowed;
pub use speciosa_app::passwords::hash_password;
pub use speciosa_app::{App, AppSettings, demo};
