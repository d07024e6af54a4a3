-- Flotilla database server: the runtime login role, layer 3 of read-only enforcement.
--
-- The server connects as this role and nothing else. It can log in, read the granted schema and
-- nothing more: no superuser, no CREATE anywhere, no role management, no replication, and no
-- BYPASSRLS, so row-level security applies to it. With writable_tables (a comma list of `table` or
-- `schema.table`, as in DB_WRITABLE_TABLES) it may also INSERT, UPDATE and DELETE those tables, and
-- the flotilla.idempotency_keys table that makes retried writes safe is created, with the one function
-- (flotilla.delete_expired_idempotency_keys) that sweeps every tenant's expired records. Run once per
-- schema, as the schema's owner (or a superuser), with CREATEROLE:
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -v role=flotilla_database -v password="$PASSWORD" \
--        -v database=app -v schema=public -v connection_limit=20 -v writable_tables=orders,order_items \
--        -f runtime-role.sql
--
-- Pass -v writable_tables= (empty) for a read-only server. Running it again (for another schema, or
-- with more writable tables) is safe: the role, schema, table and policies are created only once.

-- psql variables are not expanded inside a DO body, so they travel in as session settings.
SELECT set_config('flotilla.role', :'role', false),
       set_config('flotilla.password', :'password', false),
       set_config('flotilla.connection_limit', :'connection_limit', false),
       set_config('flotilla.schema', :'schema', false),
       set_config('flotilla.writable_tables', :'writable_tables', false);

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

-- Every role holds PUBLIC's grants, so "no CREATE" needs PUBLIC's taken away too: CREATE on the
-- schema (PostgreSQL 15+ already withholds it; older clusters do not) and TEMPORARY on the database
-- (granted by default everywhere). Owners keep both; grant TEMPORARY back to any other role that
-- needs temporary tables.
REVOKE CREATE ON SCHEMA :"schema" FROM PUBLIC;
REVOKE TEMPORARY ON DATABASE :"database" FROM PUBLIC;

-- Writable tables: row changes only (never TRUNCATE, REFERENCES or TRIGGER), plus the sequences
-- behind their serial columns, and the idempotency records that structured writes keep.
DO $$
DECLARE
  runtime_role text := current_setting('flotilla.role');
  entry text;
  writable regclass;
  sequence_name text;
BEGIN
  FOREACH entry IN ARRAY coalesce(string_to_array(nullif(current_setting('flotilla.writable_tables'), ''), ','), '{}')
  LOOP
    entry := trim(entry);
    IF position('.' IN entry) = 0 THEN
      entry := format('%I.%I', current_setting('flotilla.schema'), entry);
    END IF;
    writable := to_regclass(entry);
    IF writable IS NULL THEN
      RAISE EXCEPTION 'writable table % does not exist', entry;
    END IF;
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO %I', writable, runtime_role);
    FOR sequence_name IN
      SELECT pg_get_serial_sequence(writable::text, a.attname)
        FROM pg_attribute a
       WHERE a.attrelid = writable AND a.attnum > 0 AND NOT a.attisdropped
         AND pg_get_serial_sequence(writable::text, a.attname) IS NOT NULL
    LOOP
      EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', sequence_name, runtime_role);
    END LOOP;
  END LOOP;

  IF current_setting('flotilla.writable_tables') <> '' THEN
    CREATE SCHEMA IF NOT EXISTS flotilla;
    -- One row per (tenant, key), written in the same transaction as the change it records.
    CREATE TABLE IF NOT EXISTS flotilla.idempotency_keys (
      tenant text NOT NULL DEFAULT current_setting('flotilla.tenant', true),
      key text NOT NULL,
      fingerprint text NOT NULL,
      result jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, key)
    );
    COMMENT ON TABLE flotilla.idempotency_keys IS 'Results of structured writes by idempotencyKey, kept for 24 hours.';
    -- The server's periodic sweep finds expired records by age.
    CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON flotilla.idempotency_keys (created_at);
    -- Agent SQL could name this table, so a policy keeps each tenant to its own records; FORCE makes
    -- it hold for the owner too.
    ALTER TABLE flotilla.idempotency_keys ENABLE ROW LEVEL SECURITY;
    ALTER TABLE flotilla.idempotency_keys FORCE ROW LEVEL SECURITY;
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'flotilla' AND tablename = 'idempotency_keys'
                                               AND policyname = 'own_tenant') THEN
      CREATE POLICY own_tenant ON flotilla.idempotency_keys
        USING (tenant = current_setting('flotilla.tenant', true))
        WITH CHECK (tenant = current_setting('flotilla.tenant', true));
    END IF;
    -- Earlier versions let every role delete expired rows. It never worked across tenants (a DELETE
    -- whose WHERE reads a column is also held to the SELECT policies, i.e. to the caller's tenant) and
    -- gave the runtime role a cross-tenant DELETE it does not need: the function below replaces it.
    DROP POLICY IF EXISTS sweep_expired ON flotilla.idempotency_keys;
    -- The cross-tenant sweep. The runtime role sees one tenant's records at a time, so it cannot find
    -- the others' expired ones itself; this function runs as its owner (the role running this script)
    -- and deletes at most batch_size records older than 24 hours, whoever's they are, and nothing
    -- else. The owner is held to row-level security too (FORCE), so it gets a policy of its own that
    -- reaches expired records only. SKIP LOCKED lets replicas sweeping at once take disjoint batches.
    IF to_regprocedure('flotilla.delete_expired_idempotency_keys(integer)') IS NULL THEN
      CREATE POLICY owner_sweeps_expired ON flotilla.idempotency_keys TO CURRENT_USER
        USING (created_at < now() - interval '24 hours');
      CREATE FUNCTION flotilla.delete_expired_idempotency_keys(batch_size integer) RETURNS integer
        LANGUAGE sql VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
      AS $sweep$
        WITH batch AS (
          SELECT tenant, key FROM flotilla.idempotency_keys
           WHERE created_at < now() - interval '24 hours'
           LIMIT batch_size
             FOR UPDATE SKIP LOCKED
        ), deleted AS (
          DELETE FROM flotilla.idempotency_keys k USING batch
           WHERE k.tenant = batch.tenant AND k.key = batch.key
          RETURNING 1
        )
        SELECT count(*)::integer FROM deleted
      $sweep$;
      COMMENT ON FUNCTION flotilla.delete_expired_idempotency_keys(integer) IS
        'Deletes up to batch_size idempotency records older than 24 hours, across tenants; returns how many.';
      -- Functions are executable by PUBLIC unless revoked.
      REVOKE ALL ON FUNCTION flotilla.delete_expired_idempotency_keys(integer) FROM PUBLIC;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA flotilla TO %I', runtime_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON flotilla.idempotency_keys TO %I', runtime_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION flotilla.delete_expired_idempotency_keys(integer) TO %I', runtime_role);
  END IF;
END $$;
