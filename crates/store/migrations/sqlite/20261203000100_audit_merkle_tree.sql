-- The audit log becomes an append-only Merkle tree (RFC 9162). An append no longer
-- touches any shared row: the event takes its own id and carries its leaf hash; the
-- sequencer later gives it a leaf index and stores the tree's interior nodes.
-- AUTOINCREMENT: an id is never handed out twice, even after the last event is deleted.
CREATE TABLE audit_events_tree (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at      TEXT NOT NULL,
    actor_user_id    BLOB,
    actor_role       TEXT,
    organization_id  BLOB,
    action           TEXT NOT NULL,
    resource_type    TEXT NOT NULL,
    resource_id      TEXT,
    patient_id       BLOB,
    outcome          TEXT NOT NULL,
    client_addr      TEXT,
    detail           TEXT,
    -- SHA-256(0x00 || AuditEvent::leaf_data), hex. NULL only for events recorded
    -- before the tree existed; the sequencer hashes those.
    leaf_hash        TEXT,
    -- The event's leaf in the tree; NULL until the sequencer places it.
    leaf_index       INTEGER UNIQUE
);
INSERT INTO audit_events_tree (id, occurred_at, actor_user_id, actor_role, organization_id,
    action, resource_type, resource_id, patient_id, outcome, client_addr, detail)
SELECT id, occurred_at, actor_user_id, actor_role, organization_id,
    action, resource_type, resource_id, patient_id, outcome, client_addr, detail
FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_tree RENAME TO audit_events;
CREATE INDEX audit_events_by_organization ON audit_events (organization_id, id);
CREATE INDEX audit_events_by_patient ON audit_events (patient_id, id);
CREATE INDEX audit_events_unsequenced ON audit_events (id) WHERE leaf_index IS NULL;
DROP TABLE audit_chain_head;

-- Every complete interior node: level L, index i covers leaves [i·2^L, (i+1)·2^L).
-- Level 0 is audit_events.leaf_hash.
CREATE TABLE audit_tree_nodes (
    level       INTEGER NOT NULL,
    node_index  INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (level, node_index)
) WITHOUT ROWID;

-- The sequencer's own row: the tree's size and root. Request transactions never touch it.
CREATE TABLE audit_tree_head (
    singleton  INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    tree_size  INTEGER NOT NULL,
    root_hash  TEXT NOT NULL
);
INSERT INTO audit_tree_head (singleton, tree_size, root_hash)
VALUES (1, 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

-- Signed checkpoints (C2SP signed notes), also appended to a file outside the database.
CREATE TABLE audit_checkpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tree_size  INTEGER NOT NULL,
    root_hash  TEXT NOT NULL,
    signed_at  TEXT NOT NULL,
    note       TEXT NOT NULL UNIQUE
);
