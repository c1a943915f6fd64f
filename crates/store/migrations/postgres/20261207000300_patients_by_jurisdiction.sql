-- The distinct places an organization's patients live (legal status on product pages),
-- read from the index alone.
CREATE INDEX patients_by_jurisdiction ON patients (organization_id, jurisdiction_country, jurisdiction_subdivision);
