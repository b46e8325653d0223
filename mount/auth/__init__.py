"""Auth: the token store's paths (auth/token/), the auth-method table, and approle/."""
