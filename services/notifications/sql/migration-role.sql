-- Flotilla notifications server: the migration role, owner of the server's two schemas.
--
-- `notifications` holds the server's own tables, `notifications_queue` the pg-boss job queue. This
-- role creates and changes them (`flotilla-notifications --migrate`, run by a Helm hook Job with
-- DATABASE_MIGRATION_URL) and nothing else: it can log in to this one database, owns these two
-- schemas, and has no CREATE on the database, no superuser, no role management and no replication.
-- The server itself never logs in as this role (see runtime-role.sql). Run once, as a superuser
-- (or a role that is a member of the migration role and may create schemas):
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -v role=flotilla_notifications_migrator \
--        -v password="$MIGRATION_PASSWORD" -v database=app -f migration-role.sql
--
-- Running it again is safe: the role and schemas are created only once, and schemas that already
-- exist are handed to the role.

-- psql variables are not expanded inside a DO body, so they travel in as session settings.
SELECT set_config('flotilla.role', :'role', false),
       set_config('flotilla.password', :'password', false);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_setting('flotilla.role')) THEN
    EXECUTE format(
      'CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS '
        'CONNECTION LIMIT 4',
      current_setting('flotilla.role'),
      current_setting('flotilla.password')
    );
  END IF;
END $$;

SELECT set_config('flotilla.password', '', false);

REVOKE ALL ON DATABASE :"database" FROM :"role";
GRANT CONNECT ON DATABASE :"database" TO :"role";

CREATE SCHEMA IF NOT EXISTS notifications AUTHORIZATION :"role";
CREATE SCHEMA IF NOT EXISTS notifications_queue AUTHORIZATION :"role";
ALTER SCHEMA notifications OWNER TO :"role";
ALTER SCHEMA notifications_queue OWNER TO :"role";
COMMENT ON SCHEMA notifications IS 'Flotilla notifications: accepted notifications and their delivery state.';
COMMENT ON SCHEMA notifications_queue IS 'Flotilla notifications: the pg-boss delivery queue.';

-- Only the roles runtime-role.sql names may look inside.
REVOKE ALL ON SCHEMA notifications, notifications_queue FROM PUBLIC;
