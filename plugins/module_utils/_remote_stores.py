# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Secret stores that travel with the job, and the ``store`` option that chooses one.

Azure Key Vault (in the tenant's cloud) and OpenBao / HashiCorp Vault KV version 2, behind the
interface of _secret_stores.

Both are shared by runners on many machines, so runs do not take turns through a lock:
- Vault offers check-and-set: the record (value, key id, ..., pending additions) is one KV v2
  secret, every write names the version it was based on, and a runner whose claim lost waits.
- Key Vault has no conditional write. The value is secret ``<name>`` (its latest version is the
  current secret, the record in its tags, the expiry in ``exp``); additions are claimed in a second
  secret, ``<name>-claims``, whose versions form a log: the first unwithdrawn claim after the one the
  value resolved goes ahead, a later one withdraws itself and waits. Readers of ``<name>`` only ever
  see values.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import typing as t
import uuid

from ._clouds import check_key_vault_url
from ._errors import ConfigurationError, PartnerCenterCollectionError
from ._http import HttpClient
from ._secret_stores import (
    DEFAULT_LOCK_TIMEOUT,
    FileStore,
    PendingAddition,
    SecretRecord,
    SecretStore,
    Snapshot,
    StoreConflict,
    in_flight,
)
from ._specs import STORE_OPTION_SPEC, STORE_TYPES
from ._timestamps import format_datetime, parse_datetime

# The Key Vault and Vault clients are imported where a store of their kind is opened or used: a task
# with a file store (or none) does not compile them from the AnsiballZ zip (issue 16, start-up cost).
if t.TYPE_CHECKING:  # pragma: no cover - annotations only
    from ._hashi_vault import VaultClient
    from ._key_vault import KeyVaultClient

REQUIRED_KEYS = {
    "file": ("path",),
    "azure_key_vault": ("vault_url", "secret_name"),
    "hashi_vault": ("url", "path"),
}
KEYS_OF = {
    "file": ("path",),
    "azure_key_vault": ("vault_url", "secret_name"),
    "hashi_vault": ("url", "path", "engine_mount_point", "auth_method", "token", "role_id", "secret_id", "namespace", "ca_cert"),
}
CONTENT_TYPE = "Microsoft Entra ID client secret (partnercenter.national_cloud)"
# A claim is an addition in flight this long at most; older ones were abandoned by a run that died.
# Lost-secret proofs (claims never resolved) are kept this long beyond it.
PROOF_SECONDS = 3600.0
# Key Vault: 15 tags of 256 characters at most (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates).
MAX_PREVIOUS_IN_TAGS = 6
_KEY_VAULT_NAME = re.compile(r"[0-9A-Za-z-]{1,120}")


def version_of(bundle: t.Mapping[str, t.Any]) -> str:
    """_key_vault.version_of (imported on use: see the imports above)."""
    from ._key_vault import version_of as key_vault_version_of  # pylint: disable=import-outside-toplevel

    return key_vault_version_of(bundle)


def new_claim_id() -> str:
    """A short random id for one run's claim."""
    return uuid.uuid4().hex[:12]


# -------------------------------------------------------------------------------------------------
# Azure Key Vault
# -------------------------------------------------------------------------------------------------


class KeyVaultStore(SecretStore):
    """Secret ``secret_name`` of a vault in the tenant's cloud (and ``<secret_name>-claims``)."""

    kind = "azure_key_vault"

    def __init__(self, client: KeyVaultClient, secret_name: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 clock: t.Callable[[], float] = time.time) -> None:
        self.client = client
        self.name = secret_name
        self.claims = secret_name + "-claims"
        self.lock_timeout = lock_timeout
        self.clock = clock

    @property
    def description(self) -> str:
        return "Key Vault secret %s in %s" % (self.name, self.client.vault_url)

    def read(self) -> Snapshot:
        main = self.client.get_secret(self.name)
        log = self._claims_log()
        record = None
        reason = "%s does not exist" % self.description
        if main is not None:
            record = self._record(main, log)
            reason = "" if record.secret else "%s holds no value" % self.description
        elif log:
            record = SecretRecord(pending=tuple(self._proofs(log, resolved="")))
        now = self.clock()
        resolved = (main or {}).get("tags", {}).get("claim", "") if main else ""
        open_claim = self._first_open(log, resolved, now)
        return Snapshot(record, reason, version_of(main) if main else None, open_claim)

    def _record(self, main: t.Mapping[str, t.Any], log: list[dict[str, t.Any]]) -> SecretRecord:
        tags = main.get("tags") or {}
        previous = tuple(k for k in str(tags.get("previous-key-ids") or "").split(",") if k)
        return SecretRecord(
            tenant_id=tags.get("tenant-id"), cloud=tags.get("cloud"), app_id=tags.get("app-id"), key_id=tags.get("key-id"),
            display_name=tags.get("display-name"), secret=main.get("value") or None, start_date_time=tags.get("start"),
            end_date_time=tags.get("end"), previous_key_ids=previous,
            pending=tuple(self._proofs(log, resolved=str(tags.get("claim") or ""))),
        )

    def _claims_log(self) -> list[dict[str, t.Any]]:
        """The claims, oldest first: (created, version) orders them the same way for every runner."""
        entries = []
        for item in self.client.list_versions(self.claims):
            tags = item.get("tags") or {}
            if tags.get("claim"):
                entries.append({"version": version_of(item), "created": float((item.get("attributes") or {}).get("created") or 0),
                                "kind": tags.get("kind", "claim"), "claim": tags["claim"],
                                "addition": PendingAddition(str(tags.get("display-name") or ""), str(tags.get("start") or ""),
                                                            str(tags.get("end") or ""), str(tags["claim"]))})
        return sorted(entries, key=lambda e: (e["created"], e["version"]))

    def _after(self, log: list[dict[str, t.Any]], resolved: str) -> list[dict[str, t.Any]]:
        """The unwithdrawn claims made after the one the current value resolved."""
        withdrawn = {e["claim"] for e in log if e["kind"] == "withdraw"}
        claims = [e for e in log if e["kind"] == "claim" and e["claim"] not in withdrawn]
        ids = [e["claim"] for e in claims]
        if resolved in ids:
            claims = claims[ids.index(resolved) + 1:]
        return claims

    def _first_open(self, log: list[dict[str, t.Any]], resolved: str, now: float, mine: str = "") -> PendingAddition | None:
        for entry in self._after(log, resolved):
            if entry["claim"] == mine or now - entry["created"] < self.lock_timeout:
                return t.cast(PendingAddition, entry["addition"])
        return None

    def _proofs(self, log: list[dict[str, t.Any]], resolved: str) -> list[PendingAddition]:
        """Additions claimed recently and never resolved: the proofs of secrets lost by a run that died."""
        now = self.clock()
        withdrawn = {e["claim"] for e in log if e["kind"] == "withdraw"}
        return [e["addition"] for e in log if e["kind"] == "claim" and e["claim"] not in withdrawn and e["claim"] != resolved
                and now - e["created"] < PROOF_SECONDS + self.lock_timeout]

    def claim(self, record: SecretRecord, expected_version: t.Any) -> t.Any:
        """Append the claim to the log; go ahead only if it is the first open one, else withdraw it."""
        addition = record.pending[-1]
        self._check_unchanged(expected_version)
        self.client.set_secret(self.claims, "claim %s" % addition.claim_id, content_type="application/json", attributes={},
                               tags={"kind": "claim", "claim": addition.claim_id, "display-name": addition.display_name,
                                     "start": addition.start_date_time, "end": addition.end_date_time})
        main = self.client.get_secret(self.name)
        if (version_of(main) if main else None) != expected_version:
            self._withdraw(addition)
            raise StoreConflict("%s changed while this run was claiming it." % self.description)
        resolved = str(((main or {}).get("tags") or {}).get("claim") or "")
        first = self._first_open(self._claims_log(), resolved, self.clock(), mine=addition.claim_id)
        if first is None or first.claim_id != addition.claim_id:
            self._withdraw(addition)
            raise StoreConflict("Another runner is adding a secret through %s (claim %s); this run waits for it."
                                % (self.description, first.claim_id if first else "?"))
        return expected_version

    def abandon(self, claimed: SecretRecord, version: t.Any) -> None:
        with contextlib.suppress(PartnerCenterCollectionError):
            self._withdraw(claimed.pending[-1])

    def _withdraw(self, addition: PendingAddition) -> None:
        self.client.set_secret(self.claims, "withdraw %s" % addition.claim_id, content_type="application/json", attributes={},
                               tags={"kind": "withdraw", "claim": addition.claim_id})

    def _check_unchanged(self, expected_version: t.Any) -> None:
        main = self.client.get_secret(self.name)
        if (version_of(main) if main else None) != expected_version:
            raise StoreConflict("%s changed since this run read it; nothing was overwritten." % self.description)

    def write(self, record: SecretRecord, expected_version: t.Any, resolves: str = "") -> t.Any:
        """A new version of ``<name>``: the value, the record in tags, the expiry in ``exp``."""
        self._check_unchanged(expected_version)
        tags = {
            "tenant-id": record.tenant_id or "", "cloud": record.cloud or "", "app-id": record.app_id or "",
            "key-id": record.key_id or "", "display-name": record.display_name or "", "start": record.start_date_time or "",
            "end": record.end_date_time or "", "previous-key-ids": ",".join(record.previous_key_ids[:MAX_PREVIOUS_IN_TAGS]),
            "claim": resolves,
            "managed-by": "partnercenter.national_cloud.pc_app_secret",
        }
        attributes: dict[str, t.Any] = {"enabled": True}
        end = parse_datetime(record.end_date_time)
        if end is not None:
            attributes["exp"] = int(end)
        bundle = self.client.set_secret(self.name, str(record.secret), content_type=CONTENT_TYPE, tags=tags, attributes=attributes)
        return version_of(bundle)


# -------------------------------------------------------------------------------------------------
# OpenBao / HashiCorp Vault KV version 2
# -------------------------------------------------------------------------------------------------


class HashiVaultStore(SecretStore):
    """One KV version 2 secret: the value and the record in its data, a summary in its custom metadata."""

    kind = "hashi_vault"

    def __init__(self, client: VaultClient, *, mount: str, path: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 login: t.Callable[[], None] | None = None, clock: t.Callable[[], float] = time.time) -> None:
        self.client = client
        self.mount = mount.strip("/")
        self.secret_path = path.strip("/")
        self.lock_timeout = lock_timeout
        self.clock = clock
        self._login = login

    @property
    def description(self) -> str:
        return "Vault secret %s/%s at %s" % (self.mount, self.secret_path, self.client.url)

    def _signed_in(self) -> VaultClient:
        if self._login is not None:
            login, self._login = self._login, None
            login()
        return self.client

    def read(self) -> Snapshot:
        found = self._signed_in().read(self.mount, self.secret_path)
        if found is None:
            return Snapshot(None, "%s does not exist" % self.description, 0)
        version = int((found.get("metadata") or {}).get("version") or 0)
        try:
            record = SecretRecord.from_mapping(found["data"])
        except ValueError:
            raise ConfigurationError(
                "%s exists but is not a secret record written by pc_app_secret (data with app_id, key_id and secret); it was "
                "left alone and nothing was changed. Choose another path." % self.description, option="store") from None
        return Snapshot(record, "" if record.secret else "%s holds no value" % self.description, version,
                        in_flight(record, self.clock(), self.lock_timeout))

    def abandon(self, claimed: SecretRecord, version: t.Any) -> None:
        with contextlib.suppress(PartnerCenterCollectionError):
            self.write(claimed._replace(pending=claimed.pending[:-1]), version)

    def write(self, record: SecretRecord, expected_version: t.Any, resolves: str = "") -> t.Any:
        # Imported on use: see the imports at the top.
        from ._hashi_vault import CasMismatch  # pylint: disable=import-outside-toplevel

        client = self._signed_in()
        try:
            version = client.write(self.mount, self.secret_path, json.loads(record.to_json()), cas=int(expected_version or 0))
        except CasMismatch:
            raise StoreConflict("%s changed since this run read it (check-and-set); nothing was overwritten." % self.description,
                                hint="Rerun the task.") from None
        if record.secret:
            # A summary beside the value for people and tools that list metadata only (string values).
            client.write_metadata(self.mount, self.secret_path, {
                "app_id": record.app_id or "", "key_id": record.key_id or "", "tenant_id": record.tenant_id or "",
                "cloud": record.cloud or "", "end_date_time": record.end_date_time or "",
                "managed_by": "partnercenter.national_cloud.pc_app_secret"})
        return version


# -------------------------------------------------------------------------------------------------
# The store option
# -------------------------------------------------------------------------------------------------


def check_store_option(store: t.Mapping[str, t.Any], option: str = "store") -> dict[str, t.Any]:
    """Refuse missing or foreign keys for the store's type (before any request); returns the settings."""
    kind = store.get("type")
    if kind not in STORE_TYPES:
        raise ConfigurationError("%s.type must be one of %s; got %r." % (option, ", ".join(STORE_TYPES), kind), option=option)
    missing = [k for k in REQUIRED_KEYS[kind] if not str(store.get(k) or "").strip()]
    if missing:
        raise ConfigurationError("%s of type %s needs %s." % (option, kind, " and ".join("%s.%s" % (option, k) for k in missing)),
                                 option=option)
    defaults = {k: v.get("default") for k, v in STORE_OPTION_SPEC.items()}
    foreign = sorted(k for k, v in store.items() if k != "type" and k not in KEYS_OF[kind] and v is not None and v != defaults.get(k))
    if foreign:
        raise ConfigurationError("%s of type %s does not use %s (they belong to another store type)."
                                 % (option, kind, ", ".join("%s.%s" % (option, k) for k in foreign)), option=option)
    if kind == "azure_key_vault" and not _KEY_VAULT_NAME.fullmatch(str(store["secret_name"])):
        raise ConfigurationError("%s.secret_name must be 1 to 120 letters, digits and hyphens (Key Vault's rule, with room for "
                                 "the -claims suffix); got %r." % (option, store["secret_name"]), option=option)
    if kind == "hashi_vault":
        if store.get("auth_method") == "approle" and not (store.get("role_id") and store.get("secret_id")):
            raise ConfigurationError("%s.auth_method=approle needs %s.role_id and %s.secret_id." % (option, option, option), option=option)
        if store.get("auth_method", "token") == "token" and not store.get("token"):
            raise ConfigurationError("%s.auth_method=token needs %s.token (or VAULT_TOKEN in the environment)." % (option, option),
                                     option=option)
        if not re.match(r"^https?://", str(store["url"]).strip()):
            raise ConfigurationError("%s.url must be an http:// or https:// URL of the Vault server; got %r." % (option, store["url"]),
                                     option=option)
    return dict(store)


def with_vault_environment(store: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """``store`` with Vault's environment variables filled in where options are not given, as
    community.hashi_vault does (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE); only for type hashi_vault."""
    settings = dict(store)
    if settings.get("type") == "hashi_vault":
        for key, variable in (("url", "VAULT_ADDR"), ("token", "VAULT_TOKEN"), ("namespace", "VAULT_NAMESPACE")):
            if not settings.get(key) and os.environ.get(variable):
                settings[key] = os.environ[variable]
    return settings


def claim_window(lock_timeout: float, params: t.Mapping[str, t.Any]) -> float:
    """How long another runner's claim on a shared store counts as in flight: at least ``lock_timeout``, and
    never less than its addPassword may still run (retries for retry_timeout, then one more request).

    After the window a claim is taken as abandoned by a run that died, and a secret matching it as lost,
    which the store's next addition removes. A shorter window could remove the secret of a runner whose
    addPassword is still being retried, just before it stores the value (it assumes runners share the
    default or the same retry_timeout and request_timeout).
    """
    return max(float(lock_timeout), float(params.get("retry_timeout") or 0) + float(params.get("request_timeout") or 0))


def open_store(module: t.Any, store: t.Mapping[str, t.Any], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
               option: str = "store") -> SecretStore:
    """The store a ``store`` option describes (already checked with check_store_option)."""
    kind = store["type"]
    if kind == "file":
        file_store = FileStore.from_option(store["path"], lock_timeout=lock_timeout)
        file_store.option = option
        return file_store
    # Shared stores have no lock: runners see each other's claims instead (file stores take turns).
    lock_timeout = claim_window(lock_timeout, module.params)
    if kind == "azure_key_vault":
        cloud = module.cloud
        vault_url = check_key_vault_url(cloud, "%s.vault_url" % option, store["vault_url"])
        # Imported on use: see the imports at the top.
        from ._key_vault import KeyVaultClient  # pylint: disable=import-outside-toplevel

        client = KeyVaultClient(module.http, module.token_provider, vault_url=vault_url, resource=cloud.key_vault_resource)
        return KeyVaultStore(client, str(store["secret_name"]), lock_timeout=lock_timeout)
    # Imported on use: see the imports at the top.
    from ._hashi_vault import VaultClient  # pylint: disable=import-outside-toplevel

    params = module.params
    http = HttpClient(ca_bundle=store.get("ca_cert"), request_timeout=params["request_timeout"], retry_timeout=params["retry_timeout"],
                      connect_retry_timeout=params["connect_retry_timeout"], on_retry=module.module.debug)
    client = VaultClient(http, url=str(store["url"]).strip(), token=store.get("token"), namespace=store.get("namespace"))
    login: t.Callable[[], None] | None = None
    if store.get("auth_method") == "approle":
        role_id, secret_id = str(store["role_id"]), str(store["secret_id"])

        def approle_login() -> None:
            try:
                client.login_approle(role_id, secret_id)
            except PartnerCenterCollectionError as exc:
                raise PartnerCenterCollectionError("Could not sign in to the Vault server with the AppRole: %s" % exc.to_message()) from None

        login = approle_login
    return HashiVaultStore(client, mount=str(store.get("engine_mount_point") or "secret"), path=str(store["path"]),
                           lock_timeout=lock_timeout, login=login)


def new_addition(display_name: str, start: float, end: float) -> PendingAddition:
    """This run's addition, with a fresh claim id."""
    return PendingAddition(display_name, format_datetime(start), format_datetime(end), new_claim_id())


def open_webapp_store(module: t.Any) -> SecretStore | None:
    """The store of the web app's secret named by ``webapp_secret_file`` or ``webapp_secret_store``, if any."""
    params = module.params
    if params.get("webapp_secret_file"):
        return FileStore(os.path.abspath(params["webapp_secret_file"]), option="webapp_secret_file")
    if params.get("webapp_secret_store"):
        settings = check_store_option(with_vault_environment(params["webapp_secret_store"]), option="webapp_secret_store")
        if settings["type"] == "file":
            return FileStore(os.path.abspath(str(settings["path"])), option="webapp_secret_store.path")
        return open_store(module, settings, option="webapp_secret_store")
    return None
