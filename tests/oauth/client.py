"""A real OAuth 2.0 client (authlib) against the gateway's token endpoint, for
tests/oauth_token_endpoint.rs: fetch a token with the client-credentials grant, then read
GET {tenant_url}/Users with it. Prints one JSON object; never prints the client secret.

usage: client.py TENANT_URL CLIENT_ID CLIENT_SECRET client_secret_basic|client_secret_post [SCOPE]
"""

import json
import sys

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session


def main() -> int:
    tenant_url, client_id, client_secret, method = sys.argv[1:5]
    scope = sys.argv[5] if len(sys.argv) > 5 else None
    session = OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method=method,
        scope=scope,
    )
    try:
        token = session.fetch_token(
            f"{tenant_url}/oauth/token", grant_type="client_credentials", timeout=30
        )
    except OAuthError as e:
        print(json.dumps({"error": e.error, "error_description": e.description}))
        return 0
    users = session.get(f"{tenant_url}/Users", timeout=30)
    print(
        json.dumps(
            {
                "access_token": token["access_token"],
                "token_type": token["token_type"],
                "expires_in": token["expires_in"],
                "expires_at": token.get("expires_at"),
                "users_status": users.status_code,
                "users_body": users.text,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
