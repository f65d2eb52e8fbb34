SELECT EXISTS (SELECT FROM schema_migrations WHERE version = $1)
