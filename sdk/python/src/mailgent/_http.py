"""The one place that speaks HTTP to Vault: request building and error mapping."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from ._version import VERSION
from .errors import MailgentError, error_for_status

Query = Mapping[str, str | int | bool | None]
JSON = dict[str, Any]

USER_AGENT = f"mailgent-python/{VERSION}"


class Transport:
    """Sends requests to one Vault server with one token (or none)."""

    def __init__(
        self,
        vault_addr: str,
        token: str | None,
        *,
        namespace: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not vault_addr.startswith(("http://", "https://")):
            raise ValueError(f"vault_addr: {vault_addr!r} is not an http:// or https:// URL")
        self.addr = vault_addr.rstrip("/")
        self.token = token
        self.namespace = namespace
        self.timeout = timeout
        self.ssl_context = ssl_context

    def with_token(self, token: str | None) -> Transport:
        """A transport to the same Vault with another token."""
        return Transport(self.addr, token, namespace=self.namespace, timeout=self.timeout, ssl_context=self.ssl_context)

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: JSON | None = None,
        timeout: float | None = None,
    ) -> JSON | None:
        """Send one request and return Vault's JSON envelope (``None`` for a 204).

        Raises the :class:`MailgentError` subclass for the answer's status.
        """
        req = self._build(method, path, query, body)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self.ssl_context) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            e.close()
            raise error_for_status(operation, e.code, _errors_of(raw, e.code)) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise MailgentError(operation, None, [f"cannot reach Vault at {self.addr}: {reason}"]) from None
        if status == 204 or not raw:
            return None
        try:
            out = json.loads(raw)
        except ValueError:
            raise MailgentError(operation, status, ["Vault's answer is not JSON"]) from None
        if not isinstance(out, dict):
            raise MailgentError(operation, status, ["Vault's answer is not a JSON object"])
        return out

    def _build(self, method: str, path: str, query: Query | None, body: JSON | None) -> urllib.request.Request:
        url = f"{self.addr}/v1/{path}"
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["X-Vault-Token"] = self.token
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(url, data=data, method=method, headers=headers)


def _query_value(v: str | int | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _errors_of(raw: bytes, status: int) -> list[str]:
    """Vault's ``errors`` list, or a short description of a non-Vault answer."""
    try:
        doc = json.loads(raw)
    except ValueError:
        text = raw[:200].decode("utf-8", "replace").strip()
        return [text] if text else [f"HTTP {status}"]
    if isinstance(doc, dict) and isinstance(doc.get("errors"), list):
        return [str(e) for e in doc["errors"]]
    return [f"HTTP {status}"]


def segment(name: str, field: str) -> str:
    """One path segment, refused when it would change the path's shape."""
    if not isinstance(name, str) or name == "" or "/" in name or name in (".", ".."):
        raise ValueError(f"{field}: {name!r} is not a valid name")
    return urllib.parse.quote(name, safe="@+.-_")
