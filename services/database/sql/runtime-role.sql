-- Flotilla database server: the runtime login role, layer 3 of read-only enforcement.
--
-- The server connects as this role and nothing else. It can log in, read the granted schema and
-- nothing more: no superuser, no CREATE anywhere, no role management, no replication, and no
-- BYPASSRLS, so row-level security applies to it. Run once per schema, as a role with CREATEROLE:
--
--   psql "$ADMIN_DATABASE_URL" -v role=flotilla_database -v password="$PASSWORD" \
--        -v database=app -v schema=public -v connection_limit=20 -f runtime-role.sql
--
-- Running it again (for example for another schema) is safe: the role is created only once.

-- psql variables are not expanded inside a DO body, so they travel in as session settings.
SELECT set_config('flotilla.role', :'role', false),
       set_config('flotilla.password', :'password', false),
       set_config('flotilla.connection_limit', :'connection_limit', false);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_setting('flotilla.role')) THEN
    EXECUTE format(
      'CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS '
        'CONNECTION LIMIT %s',
      current_setting('flotilla.role'),
      current_setting('flotilla.password'),
      current_setting('flotilla.connection_limit')::int
    );
  END IF;
END $$;

SELECT set_config('flotilla.password', '', false);

-- Defaults the server also sets per transaction; they hold even for a session opened by hand.
ALTER ROLE :"role" SET default_transaction_read_only = on;
ALTER ROLE :"role" SET statement_timeout = '30s';
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '60s';

REVOKE ALL ON DATABASE :"database" FROM :"role";
GRANT CONNECT ON DATABASE :"database" TO :"role";
GRANT USAGE ON SCHEMA :"schema" TO :"role";
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO :"role";
-- Tables created later by the schema owner running this script are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA :"schema" GRANT SELECT ON TABLES TO :"role";
