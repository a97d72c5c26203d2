# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The base of every module: shared auth options, lazily built clients, diff, redaction, errors."""

from __future__ import annotations

import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.errors import NoLogError
from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ._auth import HAS_MSAL, MSAL_IMPORT_ERROR, TokenProvider
from ._clouds import Cloud, check_endpoint_override, resolve_cloud
from ._credentials import AUTH_METHODS, ENV_VARS, Credentials
from ._errors import ConfigurationError, PartnerCenterCollectionError
from ._graph import GraphClient
from ._http import DEFAULT_CONNECT_RETRY_TIMEOUT, HAS_REQUESTS, REQUESTS_IMPORT_ERROR, HttpClient
from ._token_cache import default_cache_dir

if t.TYPE_CHECKING:  # pragma: no cover - annotations only: see partner_center_client
    from ._partner_center import PartnerCenterClient


def _env(option: str) -> tuple[t.Any, list[str]]:
    """The environment fallback of an auth option: its name in _credentials.ENV_VARS."""
    return (env_fallback, [ENV_VARS[option]])


# The ONE shared argument spec; plugins/doc_fragments/auth.py documents exactly this.
AUTH_ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "cloud": {"type": "str", "default": "public", "fallback": _env("cloud")},
    "tenant_id": {"type": "str", "fallback": _env("tenant_id")},
    "client_id": {"type": "str", "fallback": _env("client_id")},
    "client_secret": {"type": "str", "no_log": True, "fallback": _env("client_secret")},
    "client_certificate_path": {"type": "path", "fallback": _env("client_certificate_path")},
    "client_certificate_password": {"type": "str", "no_log": True, "fallback": _env("client_certificate_password")},
    "federated_token_file": {"type": "path", "fallback": _env("federated_token_file")},
    "managed_identity": {"type": "str"},
    "access_token": {"type": "str", "no_log": True},
    "auth_method": {"type": "str", "default": "auto", "choices": list(AUTH_METHODS)},
    "authority_host": {"type": "str", "fallback": _env("authority_host")},
    "graph_endpoint": {"type": "str"},
    "partner_center_endpoint": {"type": "str"},
    "ca_bundle": {"type": "path"},
    "token_cache": {"type": "raw", "default": True, "no_log": False},
    "request_timeout": {"type": "int", "default": 30},
    "retry_timeout": {"type": "int", "default": 120},
    "connect_retry_timeout": {"type": "int", "default": DEFAULT_CONNECT_RETRY_TIMEOUT},
    "consistency_timeout": {"type": "int", "default": 120},
}

# An explicit auth_method needs its credential (auto is checked in _credentials.select_auth_method, which
# also names the environment variables). Credentials are not mutually exclusive: environment
# fallbacks may set several, and auto has a documented precedence.
AUTH_REQUIRED_IF: list[tuple[str, str, list[str]]] = [
    ("auth_method", "access_token", ["access_token"]),
    ("auth_method", "client_certificate", ["client_certificate_path"]),
    ("auth_method", "client_secret", ["client_secret"]),
    ("auth_method", "workload_identity", ["federated_token_file"]),
    ("auth_method", "managed_identity", ["managed_identity"]),
]

# Keys whose values are never returned (compared without case, "_" or "-").
SECRET_KEYS = frozenset(
    (
        "accesstoken",
        "clientcertificatepassword",
        "clientsecret",
        "key",
        "passphrase",
        "password",
        "privatekey",
        "refreshtoken",
        "secret",
        "secrettext",
    )
)
REDACTED_VALUE = "VALUE_REDACTED"


def redact(value: t.Any) -> t.Any:
    """A copy of ``value`` with secret-looking keys' values replaced, recursively."""
    if isinstance(value, dict):
        return {
            k: (REDACTED_VALUE if v is not None and _norm(k) in SECRET_KEYS else redact(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def _norm(key: t.Any) -> str:
    return str(key).replace("_", "").replace("-", "").lower()


def parse_token_cache(value: t.Any) -> str | None:
    """``token_cache``: true (default directory), false (memory only) or a directory path."""
    if value is None or value is True:
        return default_cache_dir()
    if value is False:
        return None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.lower() in BOOLEANS_TRUE:
            return default_cache_dir()
        if text.lower() in BOOLEANS_FALSE:
            return None
        return text
    raise ConfigurationError(
        "token_cache must be true, false or a directory path; got %r." % (value,), option="token_cache"
    )


def token_cache_is_explicit(value: t.Any) -> bool:
    """Whether ``token_cache`` names a folder (rather than true/false)."""
    return isinstance(value, str) and bool(value.strip()) and value.strip().lower() not in BOOLEANS_TRUE | BOOLEANS_FALSE


def no_log_values(argument_spec: t.Mapping[str, t.Any], params: t.Any) -> set[str]:
    """The values of the ``no_log`` options, suboptions included; malformed suboption values are skipped."""
    found: set[str] = set()
    if not isinstance(params, t.Mapping):
        return found
    for name, spec in argument_spec.items():
        value = params.get(name)
        if value is None:
            continue
        if spec.get("no_log"):
            found.update(_leaves(value))
        if spec.get("options"):
            for entry in value if isinstance(value, list) else [value]:
                found.update(no_log_values(spec["options"], entry))
    return found


def _leaves(value: t.Any) -> t.Iterator[str]:
    if isinstance(value, t.Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _leaves(item)
    elif value not in (None, "") and not isinstance(value, bool):
        yield str(value)


class _AnsibleModule(AnsibleModule):
    """AnsibleModule whose failures never show a ``no_log`` value.

    ansible-core collects the no_log values in one pass that stops at the first malformed value of an
    option with suboptions (a string where a dict is expected), so a task failing on such a value
    shows client_secret in ``invocation`` (https://github.com/ansible/ansible/pull/81672, not merged).
    This collects them again, skipping what is malformed, before any failure is returned.
    """

    def fail_json(self, msg: str, **kwargs: t.Any) -> t.NoReturn:  # type: ignore[override]
        self.no_log_values.update(no_log_values(self.argument_spec, self.params))
        # That aborted pass is reported first, in words that name no option ("dictionary requested,
        # could not parse JSON or key=value"); the type check of the same option says which it is.
        errors = list(getattr(getattr(self, "validation_result", None), "errors", None) or [])
        if errors and isinstance(errors[0], NoLogError) and msg == errors[0].msg:
            msg = next((error.msg for error in errors if not isinstance(error, NoLogError)), msg)
        super().fail_json(msg, **kwargs)


class PartnerCenterModule:
    """AnsibleModule plus the collection's clients, built lazily from the shared options."""

    def __init__(
        self,
        argument_spec: t.Mapping[str, t.Any] | None = None,
        *,
        supports_check_mode: bool = True,
        mutually_exclusive: t.Sequence[t.Sequence[str]] = (),
        required_if: t.Sequence[t.Sequence[t.Any]] = (),
        required_one_of: t.Sequence[t.Sequence[str]] = (),
        required_together: t.Sequence[t.Sequence[str]] = (),
        required_by: t.Mapping[str, t.Any] | None = None,
        reveal: t.Sequence[str] = (),
    ) -> None:
        """``reveal`` names result keys returned as they are, not redacted: a value the user asked for
        (pc_app_secret's ``secret_text``), documented with the advice to use ``no_log``."""
        spec = dict(AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec or {})
        self.module = _AnsibleModule(
            argument_spec=spec,
            supports_check_mode=supports_check_mode,
            mutually_exclusive=list(mutually_exclusive),
            required_if=AUTH_REQUIRED_IF + list(required_if),
            required_one_of=list(required_one_of),
            required_together=list(required_together),
            required_by=dict(required_by or {}),
        )
        if not HAS_REQUESTS:
            self.module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        self.params: dict[str, t.Any] = self.module.params
        self.reveal = tuple(reveal)
        self.before: t.Any = None
        self.after: t.Any = None
        self._cloud: Cloud | None = None
        self._endpoints: dict[str, str] | None = None
        self._http: HttpClient | None = None
        self._tokens: TokenProvider | None = None
        self._graph: GraphClient | None = None

    @property
    def check_mode(self) -> bool:
        return bool(self.module.check_mode)

    # Clients ----------------------------------------------------------------------------------

    @property
    def cloud(self) -> Cloud:
        if self._cloud is None:
            self._cloud = resolve_cloud(self.params["cloud"] or "public")
        return self._cloud

    @property
    def endpoints(self) -> dict[str, str]:
        """Where requests go: the cloud's endpoints, or validated overrides."""
        if self._endpoints is None:
            cloud = self.cloud
            endpoints = {
                "authority_host": cloud.authority_host,
                "graph_endpoint": cloud.graph_endpoint,
                "partner_center_endpoint": cloud.partner_center_endpoint,
            }
            for option in endpoints:
                if self.params.get(option):
                    endpoints[option] = check_endpoint_override(cloud, option, self.params[option])
            self._endpoints = endpoints
        return self._endpoints

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            for option, minimum in (("request_timeout", 1), ("retry_timeout", 0), ("connect_retry_timeout", 0),
                                    ("consistency_timeout", 0)):
                if self.params[option] < minimum:
                    raise ConfigurationError("%s must be at least %d." % (option, minimum), option=option)
            self._http = HttpClient(
                ca_bundle=self.params["ca_bundle"],
                request_timeout=self.params["request_timeout"],
                retry_timeout=self.params["retry_timeout"],
                connect_retry_timeout=self.params["connect_retry_timeout"],
                on_retry=self.module.debug,
            )
        return self._http

    @property
    def token_provider(self) -> TokenProvider:
        self.validate()
        return t.cast(TokenProvider, self._tokens)

    def validate(self) -> None:
        """Check cloud, overrides and credentials before any request (bad input fails early)."""
        if self._tokens is None:
            p = self.params
            credentials = Credentials(
                tenant_id=p["tenant_id"],
                client_id=p["client_id"],
                client_secret=p["client_secret"],
                client_certificate_path=p["client_certificate_path"],
                client_certificate_password=p["client_certificate_password"],
                federated_token_file=p["federated_token_file"],
                managed_identity=p["managed_identity"],
                access_token=p["access_token"],
                auth_method=p["auth_method"],
            )
            endpoints = self.endpoints
            provider = TokenProvider(
                cloud=self.cloud,
                credentials=credentials,
                http=self.http,
                authority_host=endpoints["authority_host"],
                cache_dir=parse_token_cache(p["token_cache"]),
                # A folder the user named is an error when unusable; the default one only a warning.
                cache_explicit=token_cache_is_explicit(p["token_cache"]),
            )
            if provider.method != "access_token" and not HAS_MSAL:
                self.module.fail_json(msg=missing_required_lib("msal"), exception=MSAL_IMPORT_ERROR)
            self._tokens = provider

    def partner_center_client(self, credentials: Credentials) -> PartnerCenterClient:
        """A Partner Center client signing in with other credentials (pc_register_webapp: the web app's
        own), on this task's cloud, endpoints, HTTP session and token cache folder.

        Each call builds a new token provider: msal replays an identical refused token request for 60
        seconds, so a caller that polls (waiting for replication or a registration) needs a fresh one.
        """
        # Imported here: only pc_register_webapp and pc_aad_app_info (with webapp_*) call Partner Center;
        # every other task would compile it from the AnsiballZ zip for nothing (issue 16, start-up cost).
        from ._partner_center import PartnerCenterClient  # pylint: disable=import-outside-toplevel

        provider = TokenProvider(cloud=self.cloud, credentials=credentials, http=self.http,
                                 authority_host=self.endpoints["authority_host"],
                                 cache_dir=parse_token_cache(self.params["token_cache"]))
        return PartnerCenterClient(self.http, provider, base_url=self.endpoints["partner_center_endpoint"],
                                   resource=self.cloud.partner_center_resource)

    @property
    def graph(self) -> GraphClient:
        if self._graph is None:
            self._graph = GraphClient(
                self.http,
                self.token_provider,
                base_url=self.endpoints["graph_endpoint"],
                resource=self.cloud.graph_resource,
                consistency_timeout=self.params["consistency_timeout"],
            )
        return self._graph

    # Results ----------------------------------------------------------------------------------

    def set_diff(self, before: t.Any, after: t.Any) -> None:
        """Record before/after of what the module manages (returned only with --diff)."""
        self.before, self.after = before, after

    def _emit_warnings(self) -> None:
        if self._tokens is not None:
            for warning in self._tokens.warnings:
                self.module.warn(warning)

    def exit_json(self, changed: bool = False, **result: t.Any) -> t.NoReturn:
        """Exit with redacted results, and ``diff`` when the task runs with --diff."""
        self._emit_warnings()
        revealed = {key: result.pop(key) for key in self.reveal if result.get(key) is not None}
        output = redact(result)
        output.update(revealed)
        if self.module._diff and (self.before is not None or self.after is not None):
            output["diff"] = {"before": redact(self.before) or {}, "after": redact(self.after) or {}}
        self.module.exit_json(changed=changed, **output)

    def fail_from_exception(self, exc: BaseException) -> t.NoReturn:
        """Expected errors: actionable msg and structured ``error``, no traceback. Others: traceback.

        Call it outside an ``except`` block for expected errors: ansible-core attaches the pending
        exception's traceback to ``fail_json`` when tracebacks are enabled (2.19) or at -vvv (older).
        """
        self._emit_warnings()
        if isinstance(exc, PartnerCenterCollectionError):
            details = {key: value for key, value in redact(exc.result).items() if key not in ("msg", "error", "failed")}
            self.module.fail_json(msg=exc.to_message(), error=redact(exc.to_dict()), **details)
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.module.fail_json(msg="Unexpected error (%s): %s" % (type(exc).__name__, exc), exception=tb)

    def run(self, func: t.Callable[[PartnerCenterModule], t.Mapping[str, t.Any]]) -> t.NoReturn:
        """Run ``func(self)`` and exit with the mapping it returns (``changed`` and results)."""
        expected: PartnerCenterCollectionError | None = None
        try:
            result = dict(func(self))
        except PartnerCenterCollectionError as exc:
            expected = exc
        except Exception as exc:  # noqa: BLE001 - an unexpected failure still becomes fail_json
            self.fail_from_exception(exc)
        if expected is not None:
            self.fail_from_exception(expected)  # outside the except block: no traceback attached
        self.exit_json(**result)
