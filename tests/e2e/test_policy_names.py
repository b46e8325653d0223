"""Policy names outside our rule, as hvac's own tests send them (`sys/policy/['testpolicy']`).

Vault routes any one segment as a policy name. Here a write of a name outside the rule is
a 400 that says which names to use (not 404 "unsupported path"), and a read or delete of
such a name answers as for any missing policy: 404 and 204, as Vault does.
"""

from __future__ import annotations

import hvac
import pytest

from tests.e2e.conftest import Bao

POLICY = 'path "entra/creds/alice" { capabilities = ["read"] }'
ODD = "['testpolicy']"  # hvac formats a list given as a name into the URL so


def test_hvac_deletes_a_policy_name_no_policy_can_have(client: hvac.Client) -> None:
    deleted = client.sys.delete_policy(["testpolicy"])
    assert deleted.status_code == 204
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.read_policy(ODD)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.read_acl_policy(ODD)
    client.sys.delete_acl_policy(ODD)


def test_writing_such_a_name_says_which_names_to_use(client: hvac.Client) -> None:
    for write in (client.sys.create_or_update_policy, client.sys.create_or_update_acl_policy):
        with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
            write(ODD, POLICY)
        assert "invalid policy name \"['testpolicy']\"" in str(refused.value)
        assert "letters, digits" in str(refused.value)
    assert client.sys.list_acl_policies()["data"]["keys"] == ["default", "root"]


def test_bao_policy_write_and_delete_of_such_a_name(bao: Bao, tmp_path) -> None:
    (tmp_path / "p.hcl").write_text(POLICY)
    refused = bao("policy", "write", "a+b", str(tmp_path / "p.hcl"))
    assert refused.code == 2 and "Code: 400" in refused.stderr
    assert 'invalid policy name "a+b"' in refused.stderr
    deleted = bao("policy", "delete", "a+b")
    assert deleted.code == 0, deleted.stderr
    assert "Success! Deleted policy: a+b" in deleted.stdout
