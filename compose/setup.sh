#!/bin/sh
# Configures the demo broker once: entra/ against the emulator service, a role for
# alice, and an AppRole login for the agent that may read alice's credentials only.
set -eu

printf '%s' "$CLIENT_SECRET" | bao write entra/config \
    tenant_id="$TENANT_ID" client_id="$CLIENT_ID" client_secret=- \
    authority_host="$EMULATOR_URL" graph_endpoint="$EMULATOR_URL" \
    ca_cert=@/certs/ca.pem

# Short TTLs, so that a rotation shows within minutes: the agent renews the lease at
# two thirds of its TTL and takes a new password when max_ttl is reached.
bao write entra/roles/alice user_principal_name=alice@example.test ttl=1m max_ttl=3m

bao policy write alice-app /compose/alice-app-policy.hcl
bao auth enable approle
bao write auth/approle/role/alice-app token_policies=alice-app token_ttl=10m token_max_ttl=1h
bao read -field=role_id auth/approle/role/alice-app/role-id > /approle/role-id
bao write -f -field=secret_id auth/approle/role/alice-app/secret-id > /approle/secret-id
chmod 0644 /approle/role-id /approle/secret-id  # the agent container reads them
echo "setup done: entra/roles/alice and auth/approle/role/alice-app"
