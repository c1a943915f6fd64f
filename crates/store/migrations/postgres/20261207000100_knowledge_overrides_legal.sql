-- A clinic's own legal rows join its lexicon entries and interaction rows.
ALTER TABLE knowledge_overrides DROP CONSTRAINT knowledge_overrides_kind_check;
ALTER TABLE knowledge_overrides
    ADD CONSTRAINT knowledge_overrides_kind_check CHECK (kind IN ('lexicon', 'interaction', 'legal'));
