"""Verifies an access token the way seed 004's backends do: PyJWT with
PyJWKClient against the provider's JWKS. Prints the header's typ and the
claims as JSON; exits 1 with the reason when the token does not verify.

usage: python verify_token.py JWKS_URI ISSUER AUDIENCE TOKEN
"""
import json
import sys

import jwt


def main() -> int:
    jwks_uri, issuer, audience, token = sys.argv[1:5]
    try:
        signing_key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except Exception as e:  # noqa: BLE001 - report any refusal
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"typ": jwt.get_unverified_header(token).get("typ"), "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
