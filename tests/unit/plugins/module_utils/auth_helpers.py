# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the tests of the auth files: tenant and client ids, JWTs, certificate files, file modes."""

from __future__ import annotations

import base64
import json
import os
import stat

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._clouds import CLOUDS

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
OTHER_CLIENT = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"
SECRET = "Xy7~secret.VALUE_abcdefghijklmnopqrstu"
PUBLIC = CLOUDS["public"]
USGOV = CLOUDS["usgov"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict, header: dict | None = None) -> str:
    head = header or {"alg": "RS256", "typ": "JWT"}
    return "%s.%s.%s" % (b64url(json.dumps(head).encode()), b64url(json.dumps(claims).encode()), b64url(b"sig"))


def jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def pem_file(tmp_path, key, cert, password=None, name="cert.pem"):
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    path = tmp_path / name
    path.write_bytes(key_pem + cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def pfx_file(tmp_path, key, cert, password):
    path = tmp_path / "cert.pfx"
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"pc", key, cert, None, enc))
    return str(path)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)
