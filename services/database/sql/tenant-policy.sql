-- Flotilla database server: tenant isolation for one table by PostgreSQL row-level security.
--
-- With DB_TENANT_MODE=rls the server sets the verified tenant of every call as the transaction-local
-- setting flotilla.tenant before any statement runs. This script makes Postgres itself filter on it:
-- every read, update and delete sees only the caller's rows, and every insert or update must keep
-- them the caller's. The tenant column defaults to the caller's tenant, so insert_rows need not name
-- it. Run as the table's owner, once per table:
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -v table=public.orders -v column=tenant_id \
--        -f tenant-policy.sql
--
-- The column must exist (text, NOT NULL). An unset tenant matches no row at all: missing context
-- fails closed. The owner is subject to the policy too (FORCE); superusers and BYPASSRLS roles are
-- not, which is why the runtime role is NOBYPASSRLS (runtime-role.sql).

SELECT set_config('flotilla.policy_table', :'table', false),
       set_config('flotilla.policy_column', :'column', false);

DO $$
DECLARE
  target regclass := to_regclass(current_setting('flotilla.policy_table'));
  tenant_column text := current_setting('flotilla.policy_column');
BEGIN
  IF target IS NULL THEN
    RAISE EXCEPTION 'table % does not exist', current_setting('flotilla.policy_table');
  END IF;
  EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT current_setting(''flotilla.tenant'', true)',
                 target, tenant_column);
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
  EXECUTE format('DROP POLICY IF EXISTS flotilla_tenant ON %s', target);
  EXECUTE format(
    'CREATE POLICY flotilla_tenant ON %s USING (%I = current_setting(''flotilla.tenant'', true)) '
      'WITH CHECK (%I = current_setting(''flotilla.tenant'', true))',
    target, tenant_column, tenant_column);
END $$;
