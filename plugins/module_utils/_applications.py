# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""App registrations as desired state (the logic of the pc_aad_app module).

- Lookup (_directory.find_application) by object_id, app_id or unique_name (alternate keys), else by
  exact display_name with an escaped ``$filter``; several matches are an error that lists them.
- Only the options that are set are compared and written; lists compare as sets.
- Creation: with unique_name, Graph's upsert ``PATCH /applications(uniqueName='...')`` with
  ``Prefer: create-if-missing`` (201 created, 204 existed), so concurrent runs create one app
  (https://learn.microsoft.com/graph/api/application-upsert); without it, look up then POST.
- The service principal is ensured (_directory.ensure_service_principal: ``POST /servicePrincipals``),
  retrying while the new app has not replicated (``NoBackingApplicationObject``); 409 means it exists.
- Every request goes through _directory, which knows the paths and operation names.
- Redirect URIs are validated before any request, following
  https://learn.microsoft.com/entra/identity-platform/reply-url
"""

from __future__ import annotations

import copy
import typing as t
from urllib.parse import urlsplit

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ._auth import token_tenant
from ._directory import (
    APPLICATION_SELECT,
    application_by_unique_name,
    create_application,
    delete_application,
    describe,
    ensure_service_principal,
    find_application,
    update_application,
    upsert_application,
    wait_until_visible,
)
from ._errors import ConfigurationError, ConsistencyTimeout, NotFoundError, ServiceError, TransportError

if t.TYPE_CHECKING:  # pragma: no cover
    from ._module import PartnerCenterModule

SIGN_IN_AUDIENCES = (
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
)
WORK_OR_SCHOOL_ONLY = frozenset(("AzureADMyOrg", "AzureADMultipleOrgs"))
# New apps sign in this audience when none is given (Graph default since April 2024).
DEFAULT_AUDIENCE = "AzureADMyOrg"

# The properties pc_aad_app manages: what _directory.APPLICATION_SELECT reads beyond the identifiers
# (displayName is both: it designates an application and pc_aad_app sets it).
MANAGED = tuple(name for name in APPLICATION_SELECT if name not in ("id", "appId", "uniqueName"))
# Writable sub-properties of the complex properties we manage.
WRITABLE = {
    "web": ("redirectUris", "homePageUrl", "logoutUrl", "implicitGrantSettings"),
    "publicClient": ("redirectUris",),
}
# Paths compared as sets (order never matters).
SET_PATHS = frozenset((("web", "redirectUris"), ("publicClient", "redirectUris"), ("identifierUris",), ("tags",)))

_SPECIAL = set("!$'(),;")
MAX_URI_LENGTH = 256
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


# -------------------------------------------------------------------------------------------------
# Validation (before any request)
# -------------------------------------------------------------------------------------------------


def _check_common(option: str, uri: str) -> t.Any:
    if not isinstance(uri, str) or not uri.strip() or uri != uri.strip():
        raise ConfigurationError("%s: %r is not a valid redirect URI." % (option, uri), option=option)
    if _has_space_or_control(uri):
        raise ConfigurationError(
            "%s: %r contains a space or a control character, which a URI cannot hold; percent-encode it (a space is %%20)."
            % (option, uri),
            option=option,
        )
    if len(uri) > MAX_URI_LENGTH:
        raise ConfigurationError(
            "%s: %s is longer than %d characters." % (option, uri[:40] + "...", MAX_URI_LENGTH), option=option
        )
    bad = sorted(_SPECIAL & set(uri))
    if bad:
        raise ConfigurationError(
            "%s: %s contains %s, which Entra ID does not allow in redirect URIs (! $ ' ( ) , ;)."
            % (option, uri, " ".join(bad)),
            option=option,
        )
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigurationError("%s: %s is not a valid URI." % (option, uri), option=option) from None
    if parts.fragment or "#" in uri:
        raise ConfigurationError("%s: %s must not contain a fragment (#)." % (option, uri), option=option)
    return parts


def _has_space_or_control(text: str) -> bool:
    """Whether text holds whitespace or a control character (RFC 3986 allows neither in a URI)."""
    return any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def _http_allowed(parts: t.Any) -> bool:
    """http is accepted only for loopback (RFC 8252 §7.3/§8.3); IPv6 [::1] is not supported."""
    return parts.scheme == "http" and (parts.hostname or "").lower() in _LOOPBACK_HOSTS


def validate_web_redirect_uri(uri: str, option: str = "web.redirect_uris") -> None:
    """Web redirect URIs: https, or http on localhost/127.0.0.1."""
    parts = _check_common(option, uri)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if _http_allowed(parts._replace(scheme=scheme)):
        return
    if scheme == "http" and (parts.hostname or "") in ("::1", "[::1]"):
        raise ConfigurationError(
            "%s: %s uses the IPv6 loopback, which Entra ID does not support." % (option, uri), option=option
        )
    raise ConfigurationError(
        "%s: %s must use https (http is allowed only for http://localhost or http://127.0.0.1)." % (option, uri),
        option=option,
    )


def validate_public_client_redirect_uri(uri: str, option: str = "public_client_redirect_uris") -> None:
    """Public client (mobile/desktop) redirect URIs: https, http loopback, custom schemes, OOB."""
    if uri == "urn:ietf:wg:oauth:2.0:oob":
        return
    parts = _check_common(option, uri)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http":
        if _http_allowed(parts._replace(scheme=scheme)):
            return
        raise ConfigurationError(
            "%s: %s must use https, http://localhost, http://127.0.0.1 or a custom scheme (e.g. msal<app id>://auth)."
            % (option, uri),
            option=option,
        )
    if not scheme or "://" not in uri:
        raise ConfigurationError(
            "%s: %s needs a scheme, e.g. https://..., http://localhost or myapp://callback." % (option, uri),
            option=option,
        )
    if scheme in ("javascript", "data", "vbscript", "file"):
        raise ConfigurationError("%s: the %s: scheme is not allowed." % (option, scheme), option=option)


def validate_logout_url(url: str | None) -> None:
    """The front-channel logout URL: https only, localhost included.

    Entra ID refuses the http scheme for it, whatever the sign-in audience, and accepts
    https://localhost: https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation
    (row "Front-channel logout URL"). Unlike redirect URIs, http://localhost is no exception.
    """
    if url and urlsplit(url).scheme == "http":
        raise ConfigurationError(
            "web.logout_url must use https, got %r: Entra ID accepts only https front-channel logout URLs, even for "
            "localhost. Serve the logout page over https and set %s (https://localhost is allowed)."
            % (url, urlsplit(url)._replace(scheme="https").geturl()),
            option="web",
        )


def validate_audience_rules(web_uris: t.Sequence[str], public_uris: t.Sequence[str], audience: str) -> None:
    """Limits that depend on the sign-in audience: count, wildcards, query strings."""
    uris = list(web_uris) + list(public_uris)
    work_only = audience in WORK_OR_SCHOOL_ONLY
    limit = 256 if work_only else 100
    if len(set(uris)) > limit:
        raise ConfigurationError(
            "An application with sign-in audience %s may have at most %d redirect URIs; %d were given."
            % (audience, limit, len(set(uris))),
            option="web",
        )
    if work_only:
        return
    for uri in uris:
        if "*" in uri:
            raise ConfigurationError(
                "Wildcard redirect URIs (%s) are not supported for apps that sign in personal Microsoft accounts "
                "(sign_in_audience %s)." % (uri, audience),
                option="sign_in_audience",
            )
        if urlsplit(uri).query:
            raise ConfigurationError(
                "Query parameters in redirect URIs (%s) are not allowed for apps that sign in personal Microsoft "
                "accounts (sign_in_audience %s)." % (uri, audience),
                option="sign_in_audience",
            )


def validate_params(params: t.Mapping[str, t.Any]) -> None:
    """Everything that can be checked without a request."""
    web = params.get("web") or {}
    web_uris = web.get("redirect_uris") or []
    public_uris = params.get("public_client_redirect_uris") or []
    for uri in web_uris:
        validate_web_redirect_uri(uri)
    for uri in public_uris:
        validate_public_client_redirect_uri(uri)
    for name in ("home_page_url", "logout_url"):
        value = web.get(name)
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ConfigurationError("web.%s must be an http(s) URL, got %r." % (name, value), option="web")
    validate_logout_url(web.get("logout_url"))
    for uri in params.get("identifier_uris") or []:
        if not isinstance(uri, str) or ":" not in uri or _has_space_or_control(uri):
            raise ConfigurationError(
                "identifier_uris: %r is not an absolute URI (e.g. api://<app id>)." % (uri,), option="identifier_uris"
            )
    if params.get("sign_in_audience"):
        validate_audience_rules(web_uris, public_uris, params["sign_in_audience"])
    if params.get("display_name") is not None and not str(params["display_name"]).strip():
        raise ConfigurationError("display_name must not be empty.", option="display_name")
    if (
        params.get("state") == "present"
        and params.get("unique_name") is not None
        and not str(params["unique_name"]).strip()
    ):
        raise ConfigurationError("unique_name must not be empty.", option="unique_name")


# -------------------------------------------------------------------------------------------------
# Desired state and comparison
# -------------------------------------------------------------------------------------------------


def desired_state(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Graph (camelCase) properties for the options that are set; unset options are left alone."""
    desired: dict[str, t.Any] = {}
    if params.get("display_name") is not None:
        desired["displayName"] = params["display_name"]
    if params.get("sign_in_audience") is not None:
        desired["signInAudience"] = params["sign_in_audience"]
    web = params.get("web")
    if web:
        out: dict[str, t.Any] = {}
        for option, prop in (
            ("redirect_uris", "redirectUris"),
            ("home_page_url", "homePageUrl"),
            ("logout_url", "logoutUrl"),
        ):
            if web.get(option) is not None:
                out[prop] = _none_if_blank(web[option])
        grant = web.get("implicit_grant") or {}
        settings = {
            prop: grant[option]
            for option, prop in (("id_token", "enableIdTokenIssuance"), ("access_token", "enableAccessTokenIssuance"))
            if grant.get(option) is not None
        }
        if settings:
            out["implicitGrantSettings"] = settings
        if out:
            desired["web"] = out
    if params.get("public_client_redirect_uris") is not None:
        desired["publicClient"] = {"redirectUris": list(params["public_client_redirect_uris"])}
    if params.get("is_fallback_public_client") is not None:
        desired["isFallbackPublicClient"] = params["is_fallback_public_client"]
    if params.get("identifier_uris") is not None:
        desired["identifierUris"] = list(params["identifier_uris"])
    if params.get("notes") is not None:
        desired["notes"] = _none_if_blank(params["notes"])
    if params.get("tags") is not None:
        desired["tags"] = list(params["tags"])
    return desired


def _none_if_blank(value: t.Any) -> t.Any:
    return None if isinstance(value, str) and not value.strip() else value


def _differs(path: tuple[str, ...], have: t.Any, want: t.Any) -> bool:
    if isinstance(want, dict):
        have = have if isinstance(have, dict) else {}
        return any(_differs(path + (key,), have.get(key), value) for key, value in want.items())
    if path in SET_PATHS:
        return set(have or []) != set(want or [])
    if isinstance(want, bool):
        return bool(have) != want
    return _none_if_blank(have) != _none_if_blank(want)


def _merge(base: t.Any, update: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in update.items():
        if isinstance(value, dict):
            result[key] = _merge(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _writable(prop: str, value: t.Any) -> dict[str, t.Any]:
    value = value if isinstance(value, dict) else {}
    return {k: copy.deepcopy(value[k]) for k in WRITABLE[prop] if k in value}


def compute_patch(current: t.Mapping[str, t.Any] | None, desired: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The PATCH body that brings ``current`` to ``desired`` (empty when nothing differs).

    Complex properties (web, publicClient) are sent whole (their writable parts, with the desired
    sub-properties applied), so the result is right whether Graph merges or replaces them.
    """
    current = current or {}
    patch: dict[str, t.Any] = {}
    for prop, want in desired.items():
        have = current.get(prop)
        if not _differs((prop,), have, want):
            continue
        patch[prop] = _merge(_writable(prop, have), want) if prop in WRITABLE else copy.deepcopy(want)
    return patch


def managed_view(app: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """The managed properties of an application, in snake_case, lists sorted (for diff)."""
    if not app:
        return {}
    view: dict[str, t.Any] = {}
    for prop in MANAGED:
        if prop not in app:
            continue
        value = copy.deepcopy(app[prop])
        if prop in WRITABLE:
            value = _writable(prop, value)
            if "redirectUris" in value:
                value["redirectUris"] = sorted(value["redirectUris"] or [])
        elif (prop,) in SET_PATHS:
            value = sorted(value or [])
        view[prop] = value
    return camel_dict_to_snake_dict(view)


def to_snake(app: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """An application as returned to the user: snake_case, without OData annotations."""
    if not app:
        return {}
    return camel_dict_to_snake_dict({k: v for k, v in app.items() if not k.startswith("@odata")})


# -------------------------------------------------------------------------------------------------
# Graph operations (through _directory)
# -------------------------------------------------------------------------------------------------


def _create(module: PartnerCenterModule, desired: dict[str, t.Any]) -> tuple[dict[str, t.Any], bool]:
    """Create the app; return it and whether it came from our write (False: a concurrent run's)."""
    graph = module.graph
    unique_name = module.params.get("unique_name")
    if unique_name:
        response = upsert_application(graph, unique_name, dict(desired))
        if response.status == 201 and response.body:
            return response.body, True
        # 204: it already existed (a concurrent run won the race) and our PATCH set the desired state.
        app = wait_until_visible(
            graph,
            lambda: application_by_unique_name(graph, unique_name, APPLICATION_SELECT),
            what="application with unique name %r" % unique_name,
        )
        return app, False
    try:
        response = create_application(graph, desired)
    except (TransportError, ServiceError) as exc:
        if isinstance(exc, ServiceError) and exc.status < 500:
            raise
        return _recover_lost_create(module, desired, exc), False
    return response.body or {}, True


def _recover_lost_create(module: PartnerCenterModule, desired: dict[str, t.Any], exc: TransportError | ServiceError) -> dict[str, t.Any]:
    """After an ambiguous create (answer lost, or 5xx after sending): find the application before any new create.

    The create may have taken effect while its answer was lost, and a new application can stay invisible
    to reads for a while (https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
    A rerun that looked up at once would miss it and create a second one, so the lookup is repeated here
    for up to ``consistency_timeout``; the application found is adopted and brought to the desired state.
    Waiting only here (not on every first lookup) keeps ordinary creations fast; a run that is killed
    during this wait leaves the race that only unique_name closes.
    """
    graph = module.graph
    name = desired["displayName"]
    reason = getattr(exc, "reason", None) or "HTTP %s" % getattr(exc, "status", "?")
    try:
        app = wait_until_visible(
            graph,
            lambda: find_application(graph, display_name=name, select=APPLICATION_SELECT),
            what="the application %r whose create answer was lost" % name,
        )
    except ConsistencyTimeout:
        exc.hint = _join(
            exc.hint,
            "The create was not retried, to avoid a duplicate, and no application named %r became visible within %s "
            "seconds (consistency_timeout), so it was probably not created: a rerun creates it. Set unique_name for "
            "race-free creation." % (name, graph.consistency_timeout),
        )
        raise exc from None
    app = dict(app or {})
    patch = compute_patch(app, desired)
    if patch:
        update_application(graph, app["id"], patch)
    module.module.warn(
        "The response to the create of application %r was lost (%s); the application %s appeared in the directory "
        "afterwards and was used instead of creating another one (it is the one this run created, or one created "
        "concurrently with the same display name). Set unique_name for race-free creation." % (name, reason, describe(app))
    )
    return _merge(app, patch)


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def tenant_label(module: PartnerCenterModule) -> str:
    """``tenant <tenant_id>`` as given, with the GUID of the Graph token's ``tid`` when it differs (a domain)."""
    given = module.params.get("tenant_id")
    graph = module.graph
    tid = token_tenant(graph.token_provider, graph.resource)  # the token is already held (memo): no request
    if given and tid and str(tid).lower() != str(given).lower():
        return "tenant %s (%s)" % (given, tid)
    return "tenant %s" % (given or tid or "of the credentials")


def _missing_id_error(module: PartnerCenterModule) -> ConfigurationError:
    """An app_id/object_id that designates nothing: never fall back to creating an app (a typo, another tenant)."""
    p = module.params
    option = "object_id" if p.get("object_id") else "app_id"
    cloud = module.cloud
    return ConfigurationError(
        "No application has %s %s in %s of cloud %s (%s); nothing was created or changed."
        % (option, p[option], tenant_label(module), cloud.name, cloud.display_name),
        option=option,
        hint="Check the id, the tenant and the cloud. %s designates an existing application only: to create one, give "
        "unique_name (race-free) or display_name without %s." % (option, option),
    )


def run_pc_aad_app(module: PartnerCenterModule) -> dict[str, t.Any]:
    """The pc_aad_app module: returns the result mapping (changed, app_id, object_id, ...)."""
    p = module.params
    validate_params(p)
    module.validate()
    display_name_is_key = not (p.get("object_id") or p.get("app_id") or p.get("unique_name"))
    app = find_application(
        module.graph,
        object_id=p.get("object_id"),
        app_id=p.get("app_id"),
        unique_name=p.get("unique_name"),
        display_name=p.get("display_name") if display_name_is_key else None,
        select=APPLICATION_SELECT,
    )

    if app is None and p["state"] == "present" and (p.get("object_id") or p.get("app_id")):
        raise _missing_id_error(module)
    if p["state"] == "absent":
        return _absent(module, app)

    desired = desired_state(p)
    audience = desired.get("signInAudience") or (app or {}).get("signInAudience") or DEFAULT_AUDIENCE
    web_uris = ((desired.get("web") or {}).get("redirectUris")) or []
    public_uris = ((desired.get("publicClient") or {}).get("redirectUris")) or []
    validate_audience_rules(web_uris, public_uris, audience)

    before, after, changed, fresh = _present(module, app, desired)
    sp_id = None
    app_id = after.get("appId")
    if p.get("service_principal", True):
        if app_id:
            sp_id, sp_created = ensure_service_principal(
                module.graph, app_id, fresh=fresh, check_mode=module.check_mode
            )
            changed = changed or sp_created
        else:  # check mode, app to be created: its service principal would be created too
            changed = True
    module.set_diff(managed_view(before), managed_view(after))
    return {
        "changed": changed,
        "app_id": app_id,
        "object_id": after.get("id"),
        "service_principal_id": sp_id,
        "application": to_snake(after),
    }


def _present(
    module: PartnerCenterModule, app: dict[str, t.Any] | None, desired: dict[str, t.Any]
) -> tuple[dict[str, t.Any], dict[str, t.Any], bool, bool]:
    """Create or update the application: (before, after, changed, fresh).

    ``fresh``: the application came from our own create (its service principal cannot exist yet).
    """
    if app is None:
        if not desired.get("displayName"):
            raise ConfigurationError("display_name is required to create the application.", option="display_name")
        if module.check_mode:
            return {}, desired, True, False
        after, fresh = _create(module, desired)
        return {}, after, True, fresh
    patch = compute_patch(app, desired)
    if not patch:
        return app, app, False, False
    if not module.check_mode:
        update_application(module.graph, app["id"], patch)
    return app, _merge(app, patch), True, False


def _absent(module: PartnerCenterModule, app: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """state=absent: delete the application if it exists."""
    if app is None:
        module.set_diff({}, {})
        return {
            "changed": False,
            "app_id": None,
            "object_id": None,
            "service_principal_id": None,
            "application": {},
        }
    module.set_diff(managed_view(app), {})
    changed = True
    if not module.check_mode:
        try:
            delete_application(module.graph, app["id"])
        except NotFoundError:  # deleted meanwhile by someone else
            changed = False
    return {
        "changed": changed,
        "app_id": app.get("appId"),
        "object_id": app.get("id"),
        "service_principal_id": None,
        "application": to_snake(app),
    }
