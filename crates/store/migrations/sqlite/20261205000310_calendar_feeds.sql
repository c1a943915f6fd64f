-- One secret calendar-feed address per user, kept only as the SHA-256 of its token.
CREATE TABLE calendar_feeds (
    user_id       BLOB PRIMARY KEY NOT NULL REFERENCES users (id),
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL
);
