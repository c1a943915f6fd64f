-- An organization's own severity bands for instruments that publish none (SOWS).
CREATE TABLE organization_instrument_bands (
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    instrument       TEXT NOT NULL,
    bands            JSONB NOT NULL,
    updated_by       UUID NOT NULL REFERENCES users (id),
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (organization_id, instrument)
);
