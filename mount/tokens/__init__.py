"""Tokens: the token store, its expiry worker, and the tokens a login earns."""
