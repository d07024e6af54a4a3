-- Flotilla notifications server: the runtime login role, the only role the server connects as.
--
-- It owns nothing. It may read and change the rows of the tables in the server's two schemas
-- (`notifications` and the pg-boss queue in `notifications_queue`), use their sequences and call
-- their functions, and nothing else: no CREATE anywhere, no TRUNCATE, no DDL, no temporary tables,
-- no superuser, no BYPASSRLS, and no way into any other schema of the database. Tables the migration
-- role creates later are covered by default privileges, so migrations never need to re-grant. Run
-- once, as a superuser (or a member of the migration role with CREATEROLE), after migration-role.sql:
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -v role=flotilla_notifications \
--        -v password="$RUNTIME_PASSWORD" -v database=app -v migration_role=flotilla_notifications_migrator \
--        -v connection_limit=20 -f runtime-role.sql
--
-- Running it again is safe. It takes PUBLIC's default grants on the `public` schema (USAGE, and
-- CREATE on clusters older than PostgreSQL 15) and TEMPORARY on the database away, because every
-- role inherits them: without this the runtime role could list and call what other applications
-- keep in `public`, and read any table there granted to PUBLIC. Roles that relied on those defaults
-- need an explicit GRANT afterwards (Flotilla's database server grants its own).

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

-- Defaults for sessions opened by hand; the server bounds its own statements more tightly.
ALTER ROLE :"role" SET statement_timeout = '60s';
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '60s';

REVOKE ALL ON DATABASE :"database" FROM :"role";
GRANT CONNECT ON DATABASE :"database" TO :"role";
REVOKE TEMPORARY ON DATABASE :"database" FROM PUBLIC;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
  END IF;
END $$;

GRANT USAGE ON SCHEMA notifications, notifications_queue TO :"role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA notifications, notifications_queue TO :"role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA notifications, notifications_queue TO :"role";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA notifications, notifications_queue TO :"role";

ALTER DEFAULT PRIVILEGES FOR ROLE :"migration_role" IN SCHEMA notifications, notifications_queue
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migration_role" IN SCHEMA notifications, notifications_queue
  GRANT USAGE, SELECT ON SEQUENCES TO :"role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migration_role" IN SCHEMA notifications, notifications_queue
  GRANT EXECUTE ON FUNCTIONS TO :"role";
