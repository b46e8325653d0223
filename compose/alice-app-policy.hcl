# What an application bound to alice may do (docs/recipes.md): issue alice's password,
# renew its leases, and revoke them when done. The demo's agent uses the first two;
# looking up and renewing its own token come with the default policy.
path "entra/creds/alice" {
  capabilities = ["read"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

# `bao lease revoke <lease_id>` sends PUT sys/leases/revoke/<lease_id>: only alice's.
path "sys/leases/revoke/entra/creds/alice/*" {
  capabilities = ["update"]
}

# hvac's sys.revoke_lease sends the id in the body (PUT sys/leases/revoke), which a
# rule cannot narrow to alice's leases: it revokes any lease whose id the caller knows.
path "sys/leases/revoke" {
  capabilities = ["update"]
}
