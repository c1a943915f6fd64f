-- A client's idempotency key for an assessment (the patient app's offline queue, API
-- retries), with a hash of the request it came with: a replay is stored once.
ALTER TABLE assessments ADD COLUMN idempotency_key TEXT;
ALTER TABLE assessments ADD COLUMN request_hash TEXT;
CREATE UNIQUE INDEX assessments_idempotency ON assessments (patient_id, idempotency_key);
