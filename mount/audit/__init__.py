"""The audit log: devices that record every request and response, secrets HMAC'd.

Modules: `hashing` (per-device HMAC-SHA256), `entries` (Vault's entry shapes as JSON
lines), `device` (the file device and its options), `broker` (the device table and the
per-request trail the core writes through).
"""
