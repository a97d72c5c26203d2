# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the authentication and transport options every module shares.

Keep in step with AUTH_ARGUMENT_SPEC in plugins/module_utils/_module.py (a unit test compares them).
"""

from __future__ import annotations


class ModuleDocFragment:
    """Shared options: cloud, credentials, endpoint overrides, TLS, token cache, timeouts."""

    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - The Microsoft cloud of the tenant.
      - V(public) is the global cloud, V(usgov) is Azure Government GCC High (L4), V(usgov_dod) is Azure Government DoD (L5),
        V(china) is Azure operated by 21Vianet.
      - V(germany) (Microsoft Cloud Deutschland) is recognised and refused, because it closed on 2021-10-29;
        tenants migrated from it now live in the global cloud, use V(public) for them.
      - The names used by other tools are accepted, case-insensitively, for example V(AzureCloud), V(AzurePublicCloud), V(global),
        V(AzureUSGovernment), V(usgovernment), V(usgovernmentl4), V(gcchigh), V(USGovDoD), V(usgovernmentl5), V(dod),
        V(AzureChinaCloud), V(china21vianet), V(AzureGermanCloud).
      - If not set, the value of the E(AZURE_CLOUD_ENVIRONMENT) environment variable is used.
    type: str
    default: public
  tenant_id:
    description:
      - The directory (tenant) ID, a GUID, or a verified domain of the tenant such as V(contoso.onmicrosoft.com).
      - Required with O(client_secret), O(client_certificate_path) and O(federated_token_file).
      - If not set, the value of the E(AZURE_TENANT_ID) environment variable is used.
    type: str
  client_id:
    description:
      - The application (client) ID of the app registration that authenticates.
      - If not set, the value of the E(AZURE_CLIENT_ID) environment variable is used.
    type: str
  client_secret:
    description:
      - A client secret of the authenticating application (the secret's value, not its ID).
      - If not set, the value of the E(AZURE_CLIENT_SECRET) environment variable is used.
    type: str
  client_certificate_path:
    description:
      - Path to a certificate of the authenticating application, either a PEM file with the private key and the certificate,
        or a PFX (PKCS#12) file.
      - The certificate is sent with the client assertion (C(x5c)), so Subject Name/Issuer authentication works.
      - If not set, the value of the E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable is used.
    type: path
  client_certificate_password:
    description:
      - Password of the private key in O(client_certificate_path), if it is encrypted.
      - If not set, the value of the E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable is used.
    type: str
  federated_token_file:
    description:
      - Path to a file holding a federated token (workload identity federation, for example in Kubernetes or a CI system).
        The file is read again whenever a new token is needed, so it may be rotated.
      - If not set, the value of the E(AZURE_FEDERATED_TOKEN_FILE) environment variable is used.
    type: path
  managed_identity:
    description:
      - Authenticate with a managed identity of the Azure resource the task runs on.
      - V(system) for the system-assigned identity, or the client ID (or Azure resource ID) of a user-assigned identity.
    type: str
  access_token:
    description:
      - An access token to use as is, for example one obtained by another tool.
      - Its payload is read (not verified) to refuse a token for another resource or cloud, or one that has expired,
        before any request is made.
    type: str
  auth_method:
    description:
      - How to authenticate.
      - V(auto) uses the first credential that is set, in this order, O(access_token), O(client_certificate_path),
        O(client_secret), O(federated_token_file), O(managed_identity), and warns when several are set.
      - The other values require their credential.
    type: str
    default: auto
    choices: [auto, access_token, client_certificate, client_secret, workload_identity, managed_identity]
  authority_host:
    description:
      - Send identity-platform requests to this https URL instead of the cloud's authority host, for example a local
        emulator or a new sovereign cloud. C(https://) is assumed when only a host name is given.
      - The token scope stays the cloud's real resource. A URL that is the real endpoint of another cloud is refused.
      - If not set, the value of the E(AZURE_AUTHORITY_HOST) environment variable is used.
    type: str
  graph_endpoint:
    description:
      - Send Microsoft Graph requests to this https URL instead of the cloud's Graph endpoint.
      - The token audience stays the cloud's Graph resource. A URL that is the real endpoint of another cloud is refused.
    type: str
  partner_center_endpoint:
    description:
      - Send Partner Center requests to this https URL instead of the cloud's Partner Center endpoint.
      - The token audience stays the cloud's Partner Center resource. A URL that is the real endpoint of another cloud is refused.
    type: str
  ca_bundle:
    description:
      - Path to a PEM file of certificate authorities to trust, for example the CA of a TLS-inspecting proxy or of an emulator.
      - It takes effect for every request, including token requests, even when E(REQUESTS_CA_BUNDLE) is set.
      - If not set, the usual trust applies (E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) when set, else the certifi bundle).
      - TLS certificate verification cannot be turned off.
    type: path
  token_cache:
    description:
      - Where tokens and identity-platform metadata are cached between tasks, so that a later task for the same tenant and
        client needs no request to the identity platform.
      - V(true) uses C($XDG_CACHE_HOME/partnercenter.national_cloud) (default C(~/.cache/partnercenter.national_cloud)),
        V(false) keeps them in memory for the task only, any other value is the path of a directory to use.
      - The directory is created with mode 0700 and files with mode 0600. The cache is used only when the directory belongs to
        the user running the module and neither group nor others can write it, and each file in it belongs to that user with
        mode 0600. Otherwise, or when the cache cannot be read or written, the task fails when the directory was given here,
        and warns and keeps tokens in memory only when it is the default one.
      - A cached access token is used only when its tenant (C(tid)), audience (C(aud)) and client (C(appid)/C(azp)) are those of
        the task; any other is discarded, with a warning, and a new one is requested.
      - Entries are separate per cloud, authority host, tenant, client and credential; file names contain no secret.
    type: raw
    default: true
  request_timeout:
    description:
      - Timeout in seconds of one HTTP request.
    type: int
    default: 30
  retry_timeout:
    description:
      - Total time in seconds spent retrying one request that is throttled (HTTP 429 or 503, honouring C(Retry-After)),
        or that failed in a way that is safe to retry.
    type: int
    default: 120
  connect_retry_timeout:
    description:
      - Time in seconds spent retrying a request whose endpoint cannot be reached at all (connection refused, name not
        resolved, connection timed out), before the task fails naming the endpoint.
      - Kept short so that an outage or a wrong endpoint fails each host in seconds; throttling and server errors are
        retried for O(retry_timeout). TLS failures are never retried.
    type: int
    default: 5
  consistency_timeout:
    description:
      - Time in seconds to wait for a change to become visible in the directory (replication delay) before a dependent
        read or write gives up.
    type: int
    default: 120
requirements:
  - python >= 3.10
  - msal
  - requests
  - cryptography (for O(client_certificate_path))
notes:
  - Tokens are requested with the scope C(<resource>/.default) of the selected cloud, for example C(https://graph.microsoft.us/.default).
  - Every request sends a C(client-request-id) header; it is reported with the service's C(request-id) when a request fails.
"""
