# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials: method selection, tenant and client ids, client certificates."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _credentials
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError
from tests.unit.plugins.module_utils.auth_helpers import CLIENT, SECRET, TENANT, pem_file, pfx_file


# -------------------------------------------------------------------------------------------------
# Method selection
# -------------------------------------------------------------------------------------------------

FULL = dict(
    tenant_id=TENANT,
    client_id=CLIENT,
    client_secret=SECRET,
    client_certificate_path="/c.pem",
    federated_token_file="/token",
    managed_identity="system",
    access_token="a.b.c",
)


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ((), "access_token"),
        (("access_token",), "client_certificate"),
        (("access_token", "client_certificate_path"), "client_secret"),
        (("access_token", "client_certificate_path", "client_secret"), "workload_identity"),
        (("access_token", "client_certificate_path", "client_secret", "federated_token_file"), "managed_identity"),
    ],
)
def test_auto_precedence(drop, expected):
    creds = _credentials.Credentials(**{k: v for k, v in FULL.items() if k not in drop})
    method, warnings = _credentials.select_auth_method(creds)
    assert method == expected
    if expected != "managed_identity":
        assert warnings and "auth_method=auto uses" in warnings[0]


def test_auto_single_credential_has_no_warning():
    method, warnings = _credentials.select_auth_method(
        _credentials.Credentials(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET)
    )
    assert (method, warnings) == ("client_secret", [])


def test_auto_without_credentials_names_options_and_env_vars():
    with pytest.raises(ConfigurationError) as err:
        _credentials.select_auth_method(_credentials.Credentials(tenant_id=TENANT, client_id=CLIENT))
    text = err.value.to_message()
    for name in (
        "client_secret (or AZURE_CLIENT_SECRET)",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "managed_identity",
        "access_token",
    ):
        assert name in text


@pytest.mark.parametrize(
    ("method", "option"),
    [
        ("client_secret", "client_secret"),
        ("client_certificate", "client_certificate_path"),
        ("workload_identity", "federated_token_file"),
        ("managed_identity", "managed_identity"),
        ("access_token", "access_token"),
    ],
)
def test_explicit_method_needs_its_credential(method, option):
    creds = _credentials.Credentials(tenant_id=TENANT, client_id=CLIENT, auth_method=method)
    with pytest.raises(ConfigurationError) as err:
        _credentials.select_auth_method(creds)
    assert err.value.option == option


def test_explicit_method_overrides_precedence():
    method, _warnings = _credentials.select_auth_method(_credentials.Credentials(**FULL, auth_method="client_secret"))
    assert method == "client_secret"


@pytest.mark.parametrize("missing", ["tenant_id", "client_id"])
def test_app_credentials_need_tenant_and_client(missing):
    values = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET)
    values[missing] = None
    with pytest.raises(ConfigurationError) as err:
        _credentials.select_auth_method(_credentials.Credentials(**values))
    assert err.value.option == missing
    assert "AZURE_" in err.value.to_message()


@pytest.mark.parametrize("tenant", ["common", "organizations", "a/b", "x y", "../etc", "contoso..com"])
def test_bad_tenant_ids_are_refused(tenant):
    with pytest.raises(ConfigurationError):
        _credentials.select_auth_method(_credentials.Credentials(tenant_id=tenant, client_id=CLIENT, client_secret=SECRET))


@pytest.mark.parametrize("tenant", [TENANT, "contoso.onmicrosoft.com", "contoso.partner.onmschina.cn"])
def test_good_tenant_ids(tenant):
    assert (
        _credentials.select_auth_method(_credentials.Credentials(tenant_id=tenant, client_id=CLIENT, client_secret=SECRET))[0]
        == "client_secret"
    )


def test_client_id_must_be_a_guid():
    with pytest.raises(ConfigurationError) as err:
        _credentials.select_auth_method(_credentials.Credentials(tenant_id=TENANT, client_id="my-app", client_secret=SECRET))
    assert err.value.option == "client_id"


@pytest.mark.parametrize(
    "value,ok", [("system", True), ("SYSTEM", True), (CLIENT, True), ("/subscriptions/x/rg/y", True), ("mine", False)]
)
def test_managed_identity_values(value, ok):
    creds = _credentials.Credentials(managed_identity=value)
    if ok:
        assert _credentials.select_auth_method(creds)[0] == "managed_identity"
    else:
        with pytest.raises(ConfigurationError):
            _credentials.select_auth_method(creds)


def test_certificate_password_without_certificate_warns():
    _method, warnings = _credentials.select_auth_method(
        _credentials.Credentials(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, client_certificate_password="pw")
    )
    assert any("client_certificate_password is ignored" in w for w in warnings)


def test_unknown_auth_method():
    with pytest.raises(ConfigurationError):
        _credentials.select_auth_method(_credentials.Credentials(auth_method="kerberos"))


def test_credentials_repr_hides_secrets():
    text = repr(_credentials.Credentials(**FULL))
    assert SECRET not in text and "a.b.c" not in text


# -------------------------------------------------------------------------------------------------
# Certificates
# -------------------------------------------------------------------------------------------------


def test_load_pem_certificate(tmp_path, cert_material):
    key, cert = cert_material
    loaded = _credentials.load_certificate(pem_file(tmp_path, key, cert), None)
    assert loaded.sha256_thumbprint == cert.fingerprint(hashes.SHA256()).hex().upper()
    assert loaded.sha1_thumbprint == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert "BEGIN CERTIFICATE" in loaded.client_credential["public_certificate"]
    assert "PRIVATE KEY" in loaded.client_credential["private_key"]
    assert "passphrase" not in loaded.client_credential


def test_load_encrypted_pem(tmp_path, cert_material):
    key, cert = cert_material
    path = pem_file(tmp_path, key, cert, password="pw")
    assert _credentials.load_certificate(path, "pw").client_credential["passphrase"] == "pw"
    with pytest.raises(ConfigurationError) as err:
        _credentials.load_certificate(path, None)
    assert "encrypted: set client_certificate_password" in err.value.to_message()
    with pytest.raises(ConfigurationError) as err:
        _credentials.load_certificate(path, "wrong")
    assert "wrong client_certificate_password" in err.value.to_message()


def test_load_pfx(tmp_path, cert_material):
    key, cert = cert_material
    path = pfx_file(tmp_path, key, cert, "pfxpw")
    loaded = _credentials.load_certificate(path, "pfxpw")
    assert loaded.client_credential == {"private_key_pfx_path": path, "public_certificate": True, "passphrase": "pfxpw"}
    with pytest.raises(ConfigurationError) as err:
        _credentials.load_certificate(path, "nope")
    assert err.value.option == "client_certificate_password"


def test_pem_without_certificate_or_with_foreign_key(tmp_path, cert_material):
    key, cert = cert_material
    only_key = tmp_path / "key.pem"
    only_key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(ConfigurationError, match="both the private key and the certificate"):
        _credentials.load_certificate(str(only_key), None)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ConfigurationError, match="does not belong"):
        _credentials.load_certificate(pem_file(tmp_path, other, cert, name="mismatch.pem"), None)
    with pytest.raises(ConfigurationError, match="Cannot read"):
        _credentials.load_certificate(str(tmp_path / "missing.pem"), None)
