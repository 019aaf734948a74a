"""The operator endpoints (`/metrics`, the API document under `/docs`) behind a token or an address list.

Open in development and test unless configured; in production closed unless `DENGJI_OPS_TOKEN` or
`DENGJI_OPS_ALLOW` (comma-separated addresses or CIDR networks) lets a caller in.
"""

from __future__ import annotations

import hmac
import ipaddress

from sanic import Request

from server.core.errors import Forbidden

OPS_PREFIXES = ("/metrics", "/docs")


class OpsForbidden(Forbidden):
    code, message = "OPS_FORBIDDEN", "运维接口仅限授权访问（请提供运维令牌或从允许的地址访问）"


class OpsGate:
    """Decide whether a request may read an operator endpoint."""

    def __init__(self, token: str, allow: str) -> None:
        self.token = token
        self.networks = [ipaddress.ip_network(part.strip(), strict=False) for part in allow.split(",") if part.strip()]

    @classmethod
    def from_settings(cls, settings) -> OpsGate | None:
        """The gate, or None when the endpoints stay open (development/test with nothing configured)."""
        token, allow = settings.ops_token.get_secret_value(), settings.ops_allow
        if settings.env != "production" and not token and not allow:
            return None
        return cls(token, allow)

    def allows(self, request: Request) -> bool:
        if self.token:
            given = request.headers.get("x-ops-token", "")
            scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                given = given or bearer.strip()
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return True
        if self.networks:
            try:
                address = ipaddress.ip_address(request.remote_addr or request.ip)
            except ValueError:
                return False
            return any(address in net for net in self.networks)
        return False

    async def check(self, request: Request) -> None:
        """Request middleware: refuse an operator endpoint to a caller the gate does not let in."""
        if request.path.startswith(OPS_PREFIXES) and not self.allows(request):
            raise OpsForbidden()
