# OpenBao (or Vault) Agent for the demo. The broker's address comes from BAO_ADDR
# (VAULT_ADDR for the vault binary).
auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "/approle/role-id"
      secret_id_file_path = "/approle/secret-id"
      # Keep the file: the agent logs in again with it at token_max_ttl.
      remove_secret_id_file_after_reading = false
    }
  }
}

template {
  contents    = "{{ with secret \"entra/creds/alice\" }}{{ .Data.password }}{{ end }}"
  destination = "/rendered/alice-password"
  perms       = "0600"
  error_on_missing_key = true

  # Runs after each render that changed the file: here it only records the rotation;
  # an application would be restarted or told to reload (see docs/recipes.md).
  exec {
    command = ["/bin/sh", "-c", "date -u '+%Y-%m-%dT%H:%M:%SZ alice password rendered' >> /rendered/rotations.log"]
    timeout = "10s"
  }
}
