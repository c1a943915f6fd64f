-- Medicines are resolved by name with the drug lexicon (data/medicines/lexicon.toml):
-- the ingredient it found, whether it found one, and the strength typed in the name.
-- recognised stays NULL for entries made before the lexicon; they are resolved once when
-- Speciosa starts (speciosa_app::medications::resolve_legacy).
ALTER TABLE medications ADD COLUMN ingredient TEXT;
ALTER TABLE medications ADD COLUMN recognised BOOLEAN;
ALTER TABLE medications ADD COLUMN strength_text TEXT;
CREATE INDEX medications_unresolved ON medications (id) WHERE recognised IS NULL;
