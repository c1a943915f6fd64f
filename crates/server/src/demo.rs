//! Demo clinic seeding lives in `demo` so the CLI and tests share it.
