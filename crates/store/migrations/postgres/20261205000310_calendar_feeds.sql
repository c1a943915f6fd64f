-- One secret calendar-feed address per user, kept only as the SHA-256 of its token.
CREATE TABLE calendar_feeds (
    user_id       UUID PRIMARY KEY REFERENCES users (id),
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL
);
