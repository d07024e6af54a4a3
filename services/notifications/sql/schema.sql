-- Flotilla notifications server: its own tables. Applied by `flotilla-notifications --migrate` as
-- the migration role (inside one transaction, under an advisory lock); safe to apply again.

-- One row per accepted notification: what to send, to which channel, and where its delivery stands.
-- The row and its first delivery job are committed in one transaction, so an accepted notification
-- is never lost, and (tenant, idempotency_key) is unique, so a retried send never creates a second.
CREATE TABLE IF NOT EXISTS notifications.notification (
  id uuid PRIMARY KEY,
  -- Insertion order, for stable keyset pagination.
  seq bigint GENERATED ALWAYS AS IDENTITY,
  tenant text NOT NULL,
  idempotency_key text NOT NULL,
  -- SHA-256 of the request's content: the same key with different content is a conflict.
  fingerprint text NOT NULL,
  created_by text NOT NULL,
  channel text NOT NULL,
  recipients text[] NOT NULL DEFAULT '{}',
  subject text,
  body text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  status text NOT NULL
    CHECK (status IN ('scheduled', 'queued', 'sending', 'retrying', 'delivered', 'failed', 'cancelled')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  -- The one pg-boss job currently responsible for delivering it; a job that no longer matches is stale.
  job_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  send_at timestamptz NOT NULL,
  next_attempt_at timestamptz,
  delivered_at timestamptz,
  cancelled_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notification_idempotency UNIQUE (tenant, idempotency_key)
);

COMMENT ON TABLE notifications.notification IS 'Accepted notifications and their delivery state, one tenant per row.';

CREATE INDEX IF NOT EXISTS notification_tenant_seq ON notifications.notification (tenant, seq DESC);
CREATE INDEX IF NOT EXISTS notification_pending ON notifications.notification (send_at)
  WHERE status IN ('scheduled', 'queued', 'sending', 'retrying');

-- The retention sweep finds finished notifications by the time they finished: a final row is never
-- updated again, so updated_at is that time.
CREATE INDEX IF NOT EXISTS notification_finished ON notifications.notification (updated_at)
  WHERE status IN ('delivered', 'failed', 'cancelled');
