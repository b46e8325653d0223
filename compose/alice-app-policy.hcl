# What the demo's agent may do: issue alice's password and renew its leases.
# Looking up and renewing its own token come with the default policy.
path "entra/creds/alice" {
  capabilities = ["read"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}
