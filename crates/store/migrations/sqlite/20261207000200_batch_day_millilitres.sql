-- Liquids are dosed in mL and carry no grams: keep their volume per day and batch too, so
-- heavy metals count every batch a patient took on a day (issue 14 item 3). Whole
-- microlitres, like the other summary amounts. Existing rows are refilled by a rebuild
-- the next time the store is opened.
ALTER TABLE patient_day_batch_grams ADD COLUMN millilitres_ul INTEGER NOT NULL DEFAULT 0;
UPDATE summary_state SET rebuilt_at = NULL;
