-- NULL rows when the schema or the table is missing (nothing applied).
SELECT version, name, applied_at FROM schema_migrations ORDER BY version
