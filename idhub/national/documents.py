"""Signing and verifying export documents: compact JWS (joserfc) and XAdES (signxml).

The JWS payload is a JWT-shaped JSON object (`iss`, `jti`, `iat`, then the records), so
any JOSE library verifies it against the keys published at `/national/jwks.json`.
The XML form carries the same records as elements, enveloped-signed in XAdES-BES with the
signing key's self-signed certificate in KeyInfo.
"""

from __future__ import annotations

import json
import re
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, RSAKey
from lxml import etree
from signxml import SignatureMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.xades import XAdESSigner, XAdESVerifier

from idhub.errors import Invalid

NS = "urn:idhub:national:personnel:1"
ROOT = "HoSoNhanSu"  # personnel records
_DEFAULT_ALG = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}
_LISTS = {"people", "units", "reorganisations", "posts", "changed_in_place", "periods"}
_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sign_jws(payload: dict[str, Any], private_pem: str, kid: str) -> str:
    key = RSAKey.import_key(private_pem)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return jws.serialize_compact(
        {"alg": "RS256", "kid": kid, "typ": "JWT"}, body.encode(), key, algorithms=["RS256"]
    )


def verify_jws(token: str, jwks: list[dict[str, Any]]) -> dict[str, Any]:
    """The payload of a compact JWS signed by one of `jwks`; Invalid otherwise."""
    token = token.strip()
    parts = token.split(".")
    if token.startswith(("{", "[")) or len(parts) != 3 or not parts[2]:
        raise Invalid("The document is not signed (no JWS signature).", code="national_unsigned")
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise Invalid(f"The document is not a valid JWS: {exc}", code="national_malformed") from exc
    if header.get("alg") in (None, "none"):
        raise Invalid("The document is not signed (alg none).", code="national_unsigned")
    candidates = [k for k in jwks if k.get("kid") == header.get("kid")] or jwks
    for jwk in candidates:
        alg = jwk.get("alg") or _DEFAULT_ALG.get(jwk.get("kty", ""), "RS256")
        if header["alg"] != alg:
            continue
        try:
            key = JWKRegistry.import_key({k: v for k, v in jwk.items() if k != "alg"})
            result = jws.deserialize_compact(token, key, algorithms=[alg])
        except (JoseError, ValueError):
            continue
        return dict(json.loads(result.payload))
    raise Invalid(
        "The signature does not verify against the published keys (altered or wrong key).",
        code="national_bad_signature",
    )


def _element(parent: etree._Element, key: str, value: Any) -> None:
    tag = key if _TAG.match(key) else "field"
    child = etree.SubElement(parent, f"{{{NS}}}{tag}")
    if isinstance(value, dict):
        for k, v in value.items():
            _element(child, k, v)
    elif isinstance(value, list):
        for item in value:
            _element(child, "item", item)
    elif value is None:
        child.set("nil", "true")
    else:
        child.text = str(value).lower() if isinstance(value, bool) else str(value)


def to_xml(payload: dict[str, Any]) -> etree._Element:
    root = etree.Element(f"{{{NS}}}{ROOT}", nsmap={None: NS})
    for key, value in payload.items():
        _element(root, key, value)
    return root


def from_xml(element: etree._Element) -> Any:
    """The JSON form back from the XML form (lists are the elements of `item`s)."""
    children = list(element)
    if element.get("nil") == "true":
        return None
    if (
        etree.QName(element).localname in _LISTS
        and all(etree.QName(c).localname == "item" for c in children)
        and (children or not (element.text or "").strip())
    ):
        return [from_xml(c) for c in children]
    if not children:
        return element.text or ""
    return {etree.QName(c).localname: from_xml(c) for c in children}


def sign_xml(payload: dict[str, Any], private_pem: str, certificate_pem: str) -> str:
    signer = XAdESSigner(signature_algorithm=SignatureMethod.RSA_SHA256)
    signed = signer.sign(to_xml(payload), key=private_pem.encode(), cert=certificate_pem)
    return str(etree.tostring(signed, xml_declaration=True, encoding="UTF-8").decode())


def verify_xml(document: str | bytes, certificates: list[str]) -> dict[str, Any]:
    """The records of an XAdES-signed document signed by one of `certificates`."""
    data = document.encode() if isinstance(document, str) else document
    if b"Signature" not in data:
        raise Invalid("The document is not signed (no XML signature).", code="national_unsigned")
    for cert in certificates:
        try:
            results = XAdESVerifier().verify(data, x509_cert=cert)
        except (InvalidSignature, InvalidInput, etree.XMLSyntaxError, ValueError):
            continue
        signed = results[0].signed_xml
        if signed is None:
            continue
        payload = from_xml(signed)
        return dict(payload) if isinstance(payload, dict) else {}
    raise Invalid(
        "The XML signature does not verify against the published keys (altered or wrong key).",
        code="national_bad_signature",
    )


def verify(document: str | bytes, jwks: list[dict[str, Any]], certificates: list[str]) -> dict:
    """Either form, by its first character."""
    text = document.decode() if isinstance(document, bytes) else document
    if text.lstrip().startswith("<"):
        return verify_xml(text, certificates)
    return verify_jws(text, jwks)
