# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The persistent token cache: its private folder, salt, http cache format and lock."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _token_cache
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError
from tests.unit.plugins.module_utils.auth_helpers import SECRET, mode


# -------------------------------------------------------------------------------------------------
# Cache primitives
# -------------------------------------------------------------------------------------------------


def test_private_dir_is_created_0700_and_shared_dirs_refused(tmp_path):
    warnings = []
    path = _token_cache.TokenCacheStore.open_folder(str(tmp_path / "a" / "b"), strict=True, warnings=warnings)
    assert mode(path) == 0o700 and warnings == []
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ConfigurationError, match="can be written by group and others") as caught:
        _token_cache.TokenCacheStore.open_folder(str(shared), strict=True, warnings=warnings)
    assert caught.value.option == "token_cache"
    # The default location (not chosen by the user): a warning, and no cache for this task.
    assert _token_cache.TokenCacheStore.open_folder(str(shared), strict=False, warnings=warnings) is None
    [warning] = warnings
    assert str(shared) in warning and "not used" in warning


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _token_cache.default_cache_dir() == str(tmp_path / "partnercenter.national_cloud")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _token_cache.default_cache_dir() == str(tmp_path / "home" / ".cache" / "partnercenter.national_cloud")


def test_salt_is_random_stable_and_private(tmp_path):
    directory = _token_cache.TokenCacheStore.open_folder(str(tmp_path / "c"), strict=True, warnings=[])
    salt = _token_cache.TokenCacheStore.salt(directory)
    assert len(salt) == 32 and _token_cache.TokenCacheStore.salt(directory) == salt
    assert mode(os.path.join(directory, "salt")) == 0o600
    assert os.listdir(directory) == ["salt"]


def test_http_cache_round_trip_keeps_only_successful_gets():
    class Resp:
        def __init__(self, status, text):
            self.status_code, self.text, self.headers = status, text, {"content-type": "application/json"}

    mapping = {
        "GET https://h/t/v2.0/.well-known/openid-configuration hash=abc 2xx": Resp(200, '{"token_endpoint": "x"}'),
        "POST https://h/t/oauth2/v2.0/token hash=%s 400" % hashlib.sha256(SECRET.encode()).hexdigest(): Resp(400, "{}"),
        "_index_": (
            [[2, 1, "GET https://h/t/v2.0/.well-known/openid-configuration hash=abc 2xx"], [2, 1, "POST x"]],
            {"GET https://h/t/v2.0/.well-known/openid-configuration hash=abc 2xx": [2, 1], "POST x": [2, 1]},
        ),
    }
    data = _token_cache.dump_http_cache(mapping)
    assert b"POST" not in data and b"400" not in data
    loaded = _token_cache.load_http_cache(data)
    key = "GET https://h/t/v2.0/.well-known/openid-configuration hash=abc 2xx"
    assert loaded[key].status_code == 200 and loaded[key].text == '{"token_endpoint": "x"}'
    assert loaded["_index_"] == ([[2, 1, key]], {key: [2, 1]})


@pytest.mark.parametrize("content", [None, b"", b"garbage", b'{"format": 2}', b'{"format": 1}', b"\x80\x81"])
def test_corrupt_http_cache_starts_empty(content):
    assert _token_cache.load_http_cache(content) == {}


def test_lock_serialises_holders(tmp_path):
    directory = _token_cache.TokenCacheStore.open_folder(str(tmp_path / "c"), strict=True, warnings=[])
    first = _token_cache.TokenCacheStore(directory, ["k"])
    second = _token_cache.TokenCacheStore(directory, ["k"])
    events = []
    entered = threading.Event()

    def hold():
        with first.locked():
            entered.set()
            events.append("first-in")
            time.sleep(0.3)
            events.append("first-out")

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    with second.locked():
        events.append("second-in")
    thread.join()
    assert events == ["first-in", "first-out", "second-in"]
    assert mode(first.lock_path) == 0o600


def test_lock_gives_up_waiting_after_timeout(tmp_path):
    directory = _token_cache.TokenCacheStore.open_folder(str(tmp_path / "c"), strict=True, warnings=[])
    holder = _token_cache.TokenCacheStore(directory, ["k"])
    waiter = _token_cache.TokenCacheStore(directory, ["k"], lock_timeout=0.1)
    with holder.locked(), waiter.locked():
        assert waiter.directory is None  # carries on without the cache files
    [warning] = waiter.warnings
    assert "is locked by" in warning and "not used" in warning
