//! Speciosa's HTTP surface: the JSON API under `/api/v1`, the server-rendered
//! pages, sessions, authorization and audit. Handlers stay thin: they extract,
//! authorize through `speciosa_core::policy`, call the store and map the result.
#![forbid(unsafe_code)]

mod access;
mod api;
mod app;
mod auth;
mod config;
pub mod demo;
mod error;
mod extract;
mod metrics;
mod pages;
mod passwords;
mod problems;
pub mod safety;

pub use app::{AppState, router, serve, serve_on};
pub use config::ServerConfig;
pub use metrics::metrics_allowed;
pub use passwords::hash_password;
