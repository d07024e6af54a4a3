#!/usr/bin/env bash
# Prepares namespace $1 (default flotilla) for `helm install` in the kind job: PostgreSQL databases
# and roles set up with the shipped SQL scripts, the way an operator would (README, charts), and the
# Secrets each chart reads by its default name (<fullname>-<purpose>). Prints nothing secret.
set -euo pipefail
ns="${1:-flotilla}"
cd "$(dirname "$0")/../.."

psql() { kubectl -n "$ns" exec -i deploy/postgres -- psql -v ON_ERROR_STOP=1 -q -U postgres "$@"; }
password() { openssl rand -hex 16; }
secret() { local name="$1"; shift; kubectl -n "$ns" create secret generic "$name" "$@" --dry-run=client -o yaml | kubectl -n "$ns" apply -f -; }

pg="postgres.${ns}.svc:5432"
redis_url="redis://redis.${ns}.svc:6379"

# One API key with every scope for the helm test pods; the servers get only its hash.
key="flt_$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')"
hash="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
keys="{\"keys\":[{\"sha256\":\"${hash}\",\"subject\":\"helm-test\",\"tenant\":\"ci\",\"scopes\":[\"db:read\",\"db:write\",\"files:read\",\"files:write\",\"files:delete\",\"notify:read\",\"notify:send\",\"notify:broadcast\"]}]}"
for server in database files notifications; do
  secret "flotilla-${server}-auth" --from-literal=api-keys.json="$keys"
  secret "flotilla-${server}-test" --from-literal=api-key="$key"
  secret "flotilla-${server}-redis" --from-literal=redis-url="$redis_url"
done

# database: the demo schema; the chart's migration Job creates the runtime role (as the superuser here).
database_password="$(password)"
psql -d app <services/database/sql/demo-schema.sql
secret flotilla-database-database --from-literal=database-url="postgres://flotilla_database:${database_password}@${pg}/app"
secret flotilla-database-migration \
  --from-literal=migration-url="postgres://postgres:ci-postgres-password@${pg}/app" \
  --from-literal=runtime-password="$database_password"

# notifications: its own database, a migration role and a runtime role; the chart's hook Job migrates.
migrator_password="$(password)"
runtime_password="$(password)"
psql -d postgres -c 'CREATE DATABASE notifications'
psql -d notifications -v role=flotilla_notifications_migrator -v password="$migrator_password" -v database=notifications \
  <services/notifications/sql/migration-role.sql
psql -d notifications -v role=flotilla_notifications -v password="$runtime_password" -v database=notifications \
  -v migration_role=flotilla_notifications_migrator -v connection_limit=20 <services/notifications/sql/runtime-role.sql
secret flotilla-notifications-database \
  --from-literal=database-url="postgres://flotilla_notifications:${runtime_password}@${pg}/notifications"
secret flotilla-notifications-migration \
  --from-literal=migration-url="postgres://flotilla_notifications_migrator:${migrator_password}@${pg}/notifications"
channels="channels:
  - name: ci-webhook
    kind: webhook
    description: Never delivered to; helm test only lists tools.
    url: http://webhook.${ns}.svc/hooks
    secret: whsec_$(openssl rand -base64 24)"
secret flotilla-notifications-channels --from-literal=channels.yaml="$channels"
