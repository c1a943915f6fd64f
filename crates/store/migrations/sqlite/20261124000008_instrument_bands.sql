-- An organization's own severity bands for instruments that publish none (SOWS).
CREATE TABLE organization_instrument_bands (
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    instrument       TEXT NOT NULL,
    bands            TEXT NOT NULL,
    updated_by       BLOB NOT NULL REFERENCES users (id),
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (organization_id, instrument)
);
