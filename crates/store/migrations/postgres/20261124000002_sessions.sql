-- Server-side sessions: the cookie holds a random token, the table its SHA-256,
-- so a leaked database does not yield usable cookies.
CREATE TABLE sessions (
    token_hash            TEXT PRIMARY KEY,
    user_id               UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token            TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    last_seen_at          TIMESTAMPTZ NOT NULL,
    idle_timeout_seconds  BIGINT NOT NULL,
    -- last_seen_at + idle_timeout_seconds, kept so expired sessions can be swept by index.
    expires_at            TIMESTAMPTZ NOT NULL,
    client_addr           TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Failed sign-ins, kept for the throttling window.
CREATE TABLE login_failures (
    id           BIGSERIAL PRIMARY KEY,
    email        TEXT NOT NULL,
    client_addr  TEXT NOT NULL,
    failed_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_by_email ON login_failures (email, failed_at);
CREATE INDEX login_failures_by_addr ON login_failures (client_addr, failed_at);
