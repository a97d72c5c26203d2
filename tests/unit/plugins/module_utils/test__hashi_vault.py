# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The OpenBao / HashiCorp Vault store without a server: VaultClient over a scripted session (requests sent,
answers understood, Vault's error texts), HashiVaultStore over a fake client (snapshot, claim and write with
check-and-set, the summary in custom metadata, AppRole sign-in once), and check_store_option's refusals for
type hashi_vault. The real server is in tests/e2e (tests/openbao.py)."""

from __future__ import annotations

import time
import typing as t

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    ConfigurationError,
    PartnerCenterCollectionError,
    ServiceError,
)
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._hashi_vault import CasMismatch, VaultClient
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._http import HttpClient, vault_error_text
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._remote_stores import (
    HashiVaultStore,
    check_store_option,
    claim_window,
    open_store,
)
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secret_stores import (
    PendingAddition,
    SecretRecord,
    StoreConflict,
)
from tests.unit.conftest import FakeResponse, ScriptedSession

URL = "http://127.0.0.1:8200"
TOKEN = "s.unit-test-token-0000"
TENANT = "11111111-2222-3333-4444-555555555555"
APP = "0a0a0a0a-0000-0000-0000-000000000001"
KEY = "0b0b0b0b-0000-0000-0000-000000000002"
PERMISSION_DENIED = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
CAS_ERROR = {"errors": ["check-and-set parameter did not match the current version"]}


def client(*script: t.Any, token: str | None = TOKEN, namespace: str | None = None) -> tuple[VaultClient, ScriptedSession]:
    session = ScriptedSession(*script)
    http = HttpClient(session=session, retry_timeout=0, connect_retry_timeout=0, sleep=lambda s: None)
    return VaultClient(http, url=URL + "/", token=token, namespace=namespace), session


def record(secret: str | None = "abc8Q~value", pending: tuple[PendingAddition, ...] = ()) -> SecretRecord:
    return SecretRecord(tenant_id=TENANT, cloud="usgov", app_id=APP, key_id=KEY if secret else None, display_name="Partner Center",
                        secret=secret, start_date_time="2027-01-15T08:00:00Z" if secret else None,
                        end_date_time="2028-01-15T08:00:00Z" if secret else None, pending=pending)


# VaultClient -----------------------------------------------------------------------------------------


def test_read_sends_the_token_and_returns_data_and_metadata():
    vault, session = client(FakeResponse(200, {"data": {"data": {"app_id": APP}, "metadata": {"version": 3}}}), namespace="team")
    found = vault.read("secret", "/partner center/web/")
    assert found == {"data": {"app_id": APP}, "metadata": {"version": 3}}
    [sent] = session.sent
    assert (sent.method, sent.url) == ("GET", URL + "/v1/secret/data/partner%20center/web")
    assert sent.headers["X-Vault-Token"] == TOKEN and sent.headers["X-Vault-Namespace"] == "team"


def test_read_of_a_missing_or_deleted_secret_is_none():
    vault, dummy = client(FakeResponse(404, {"errors": []}), FakeResponse(404, {"data": {"data": None, "metadata": {"version": 2}}}))
    assert vault.read("secret", "pc/a") is None
    assert vault.read("secret", "pc/a") is None


def test_write_uses_check_and_set_and_returns_the_new_version():
    vault, session = client(FakeResponse(200, {"data": {"version": 4}}))
    assert vault.write("kv", "pc/a", {"x": "1"}, cas=3) == 4
    assert session.sent[0].json == {"options": {"cas": 3}, "data": {"x": "1"}}
    assert session.sent[0].url == URL + "/v1/kv/data/pc/a"


def test_a_check_and_set_mismatch_is_cas_mismatch_and_other_refusals_keep_vaults_words():
    vault, dummy = client(FakeResponse(400, CAS_ERROR), FakeResponse(403, PERMISSION_DENIED))
    with pytest.raises(CasMismatch):
        vault.write("secret", "pc/a", {}, cas=0)
    with pytest.raises(ServiceError) as caught:
        vault.write("secret", "pc/a", {}, cas=0)
    assert caught.value.status == 403 and caught.value.service_message == "permission denied"
    assert "permission denied" in caught.value.to_message() and TOKEN not in caught.value.to_message()


@pytest.mark.parametrize(("text", "expected"), [
    ("1 error occurred:\n\t* permission denied\n\n", "permission denied"),
    ("2 errors occurred:\n\t* first\n\t* second\n\n", "first; second"),
    ("check-and-set parameter did not match the current version", "check-and-set parameter did not match the current version"),
    ("invalid role or secret ID\nmore", "invalid role or secret ID"),
])
def test_vault_error_text(text, expected):
    assert vault_error_text(text) == expected


def test_approle_login_keeps_the_token_and_sends_no_token_itself():
    vault, session = client(FakeResponse(200, {"auth": {"client_token": "s.from-approle"}}), token=None)
    vault.login_approle("role", "secret-id")
    assert vault.token == "s.from-approle"
    [sent] = session.sent
    assert sent.url == URL + "/v1/auth/approle/login" and sent.json == {"role_id": "role", "secret_id": "secret-id"}
    assert "X-Vault-Token" not in sent.headers


# HashiVaultStore over a fake client ------------------------------------------------------------------


class FakeVault:
    """A KV v2 secret in memory, with check-and-set as Vault does it."""

    url = URL

    def __init__(self, data: dict[str, t.Any] | None = None, version: int = 0) -> None:
        self.data = data
        self.version = version
        self.metadata: dict[str, str] = {}
        self.calls: list[str] = []

    def read(self, mount: str, path: str) -> dict[str, t.Any] | None:
        self.calls.append("read")
        return None if self.data is None else {"data": self.data, "metadata": {"version": self.version}}

    def write(self, mount: str, path: str, data: t.Mapping[str, t.Any], *, cas: int) -> int:
        self.calls.append("write cas=%d" % cas)
        if cas != self.version:
            raise CasMismatch("check-and-set parameter did not match the current version")
        self.data, self.version = dict(data), self.version + 1
        return self.version

    def write_metadata(self, mount: str, path: str, custom_metadata: t.Mapping[str, str]) -> None:
        self.calls.append("metadata")
        self.metadata = dict(custom_metadata)


def store(fake: FakeVault, **kwargs: t.Any) -> HashiVaultStore:
    return HashiVaultStore(t.cast(VaultClient, fake), mount="/secret/", path="/pc/web/", **kwargs)


def test_an_empty_path_reads_as_version_zero():
    snapshot = store(FakeVault()).read()
    assert snapshot.record is None and snapshot.version == 0 and snapshot.open_claim is None
    assert snapshot.reason == "Vault secret secret/pc/web at %s does not exist" % URL


def test_something_else_at_the_path_is_refused_and_left_alone():
    fake = FakeVault({"password": "x"}, version=5)
    with pytest.raises(ConfigurationError, match="is not a secret record written by pc_app_secret"):
        store(fake).read()
    assert fake.calls == ["read"] and fake.data == {"password": "x"}


def test_claim_then_write_with_check_and_set_and_the_summary_only_beside_a_value():
    fake = FakeVault()
    hashi = store(fake)
    addition = PendingAddition("Partner Center", "2027-01-15T08:00:00Z", "2028-01-15T08:00:00Z", "c1")
    claimed = hashi.claim(record(None, (addition,)), hashi.read().version)
    assert claimed == 1 and fake.metadata == {} and fake.calls == ["read", "write cas=0"]
    assert fake.data["secret"] is None and fake.data["pending"][0]["claim_id"] == "c1"
    assert hashi.write(record(), claimed, resolves="c1") == 2
    assert fake.calls[-2:] == ["write cas=1", "metadata"]
    assert fake.metadata == {"app_id": APP, "key_id": KEY, "tenant_id": TENANT, "cloud": "usgov",
                             "end_date_time": "2028-01-15T08:00:00Z", "managed_by": "partnercenter.national_cloud.pc_app_secret"}
    assert "abc8Q~value" not in str(fake.metadata)


def test_a_claim_that_lost_check_and_set_is_a_store_conflict_and_overwrites_nothing():
    fake = FakeVault()
    first, second = store(fake), store(fake)
    mine = PendingAddition("Partner Center", "2027-01-15T08:00:00Z", "2028-01-15T08:00:00Z", "mine")
    theirs = mine._replace(claim_id="theirs")
    version = first.read().version
    assert second.read().version == version
    first.claim(record(None, (mine,)), version)
    with pytest.raises(StoreConflict, match="check-and-set") as caught:
        second.claim(record(None, (theirs,)), version)
    assert caught.value.hint == "Rerun the task."
    assert fake.version == 1 and fake.data["pending"][0]["claim_id"] == "mine"


def test_another_runners_recent_claim_is_in_flight_and_an_old_one_is_not():
    now = time.time()
    recent = PendingAddition("Partner Center", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)), "2099-01-01T00:00:00Z", "r")
    fake = FakeVault(dict(record(None, (recent,))._asdict(), pending=[recent.to_dict()], previous_key_ids=[]), version=1)
    assert store(fake, lock_timeout=120).read().open_claim == recent
    assert store(fake, lock_timeout=120, clock=lambda: now + 300).read().open_claim is None


def test_approle_sign_in_happens_once_before_the_first_request():
    fake = FakeVault()
    logins: list[int] = []
    hashi = store(fake, login=lambda: logins.append(len(fake.calls)))
    hashi.read()
    hashi.read()
    assert logins == [0]


class FakeModule:
    """What open_store needs of a module for type hashi_vault."""

    params = {"request_timeout": 5, "retry_timeout": 0, "connect_retry_timeout": 0}

    class module:  # noqa: N801 - the AnsibleModule attribute
        @staticmethod
        def debug(text: str) -> None:
            """Ignore retry notes."""


def test_open_store_wraps_a_refused_approle_sign_in(monkeypatch):
    settings = check_store_option({"type": "hashi_vault", "url": URL, "path": "pc/web", "auth_method": "approle", "role_id": "r",
                                   "secret_id": "wrong-secret-id", "engine_mount_point": "secret", "token": None})
    hashi = t.cast(HashiVaultStore, open_store(FakeModule(), settings))
    monkeypatch.setattr(hashi.client.http, "session", ScriptedSession(FakeResponse(400, {"errors": ["invalid role or secret ID"]})))
    with pytest.raises(PartnerCenterCollectionError) as caught:
        hashi.read()
    text = caught.value.to_message()
    assert text.startswith("Could not sign in to the Vault server with the AppRole") and "invalid role or secret ID" in text
    assert "wrong-secret-id" not in text


def test_a_shared_store_counts_a_claim_in_flight_while_its_add_password_may_still_run():
    """A claim is taken as abandoned (and a secret matching it as lost) only once the claimant's addPassword,
    retried for retry_timeout plus one request, cannot still be running."""
    settings = check_store_option({"type": "hashi_vault", "url": URL, "path": "pc/web", "token": TOKEN,
                                   "engine_mount_point": "secret"})
    module = FakeModule()
    module.params = {**FakeModule.params, "retry_timeout": 120, "request_timeout": 30}
    assert open_store(module, settings, lock_timeout=120).lock_timeout == 150
    assert open_store(module, settings, lock_timeout=600).lock_timeout == 600
    assert claim_window(5, {"retry_timeout": 0, "request_timeout": 5}) == 5


# check_store_option ------------------------------------------------------------------------------------

DEFAULTS = {"engine_mount_point": "secret", "auth_method": "token"}


@pytest.mark.parametrize(("store_option", "fragment"), [
    ({"type": "hashi_vault", "url": URL, "token": TOKEN}, "needs store.path"),
    ({"type": "hashi_vault", "path": "pc/a", "token": TOKEN}, "needs store.url"),
    ({"type": "hashi_vault", "url": URL, "path": " ", "token": TOKEN}, "needs store.path"),
    ({"type": "hashi_vault", "url": URL, "path": "pc/a"}, "auth_method=token needs store.token"),
    ({"type": "hashi_vault", "url": URL, "path": "pc/a", "auth_method": "approle", "role_id": "r"}, "needs store.role_id and store.secret_id"),
    ({"type": "hashi_vault", "url": URL, "path": "pc/a", "auth_method": "approle", "secret_id": "s"}, "needs store.role_id and store.secret_id"),
    ({"type": "hashi_vault", "url": URL, "path": "pc/a", "token": TOKEN, "vault_url": "https://v.vault.azure.net"}, "does not use store.vault_url"),
    ({"type": "hashi_vault", "url": URL, "path": "pc/a", "token": TOKEN, "secret_name": "web"}, "does not use store.secret_name"),
    ({"type": "hashi_vault", "url": "127.0.0.1:8200", "path": "pc/a", "token": TOKEN}, "must be an http:// or https:// URL"),
    ({"type": "consul", "path": "pc/a"}, "store.type must be one of file, azure_key_vault, hashi_vault"),
])
def test_check_store_option_refuses(store_option, fragment):
    with pytest.raises(ConfigurationError) as caught:
        check_store_option({**DEFAULTS, **store_option})
    assert fragment in caught.value.to_message()
    assert TOKEN not in caught.value.to_message()


def test_check_store_option_accepts_token_and_approle():
    token = {**DEFAULTS, "type": "hashi_vault", "url": URL, "path": "pc/a", "token": TOKEN}
    assert check_store_option(token) == token
    approle = {**DEFAULTS, "type": "hashi_vault", "url": URL, "path": "pc/a", "auth_method": "approle", "role_id": "r", "secret_id": "s"}
    assert check_store_option(approle) == approle
