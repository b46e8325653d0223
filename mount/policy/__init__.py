"""Policies: the HCL/JSON language, ACLs built from policies, the policy store."""
