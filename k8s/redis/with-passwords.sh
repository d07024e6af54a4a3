#!/bin/sh
# Prints users.acl with each server user's password added as a SHA-256 hash (#<hex>), so the
# plain passwords never land in the file Redis reads. The passwords come from the environment:
#   FLOTILLA_REDIS_PASSWORD_DATABASE, FLOTILLA_REDIS_PASSWORD_FILES, FLOTILLA_REDIS_PASSWORD_NOTIFICATIONS
# A user whose variable is unset keeps no password and so cannot log in.
#   sh k8s/redis/with-passwords.sh > users.acl && kubectl -n redis create secret generic redis-acl --from-file=users.acl
set -eu
here=$(dirname "$0")
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
while IFS= read -r line; do
  case "$line" in
    "user flotilla-"*)
      user=$(printf %s "$line" | cut -d' ' -f2)
      var="FLOTILLA_REDIS_PASSWORD_$(printf %s "${user#flotilla-}" | tr '[:lower:]' '[:upper:]')"
      eval "password=\${$var:-}"
      if [ -n "$password" ]; then
        line="$line #$(hash "$password")"
      fi
      ;;
  esac
  printf '%s\n' "$line"
done < "$here/users.acl"
