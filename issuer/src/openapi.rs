//! The OpenAPI 3.1 document of the issuer's HTTP API, served at `/openapi.json`, and the list of routes it
//! covers (a test holds the two to each other, and to the router).

use serde_json::json;

/// Every route the service serves, with its method: the OpenAPI document covers exactly these (tested).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/trust-bundle"),
    ("get", "/v1/province-bundle"),
    ("post", "/v1/credentials"),
    ("post", "/v1/credentials/bulk"),
    ("get", "/v1/credentials/{id}"),
    ("get", "/v1/credentials/{id}/qr.png"),
    ("get", "/v1/credentials/{id}/qr.svg"),
    ("get", "/v1/credentials/{id}/qr.txt"),
    ("post", "/v1/credentials/{id}/claim-link"),
    ("get", "/v1/claim/{secret}"),
    ("post", "/v1/credentials/{id}/revoke"),
    ("post", "/v1/credentials/{id}/suspend"),
    ("post", "/v1/credentials/{id}/reinstate"),
    ("get", "/v1/status/{list}"),
    ("get", "/v1/status/{list}/delta/{from}"),
];

/// The OpenAPI 3.1 document of the API.
pub(crate) fn openapi() -> serde_json::Value {
    let problem = json!({ "description": "problem+json (RFC 9457)", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } });
    let secured = json!([{ "token": [] }]);
    let id = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{16,32}$" } }]);
    let op = |summary: &str, roles: Option<&str>, params: Option<&serde_json::Value>, ok: &str, body: Option<&str>| {
        let mut o = json!({ "summary": summary, "responses": { ok: { "description": "success" }, "default": problem.clone() } });
        if let Some(r) = roles {
            o["security"] = secured.clone();
            o["description"] = json!(format!("Token roles: {r}."));
        }
        if let Some(p) = params {
            o["parameters"] = p.clone();
        }
        if let Some(b) = body {
            o["requestBody"] = json!({ "required": true, "content": { b: {} } });
        }
        o
    };
    let list =
        json!([{ "name": "list", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } }]);
    let list_from = json!([
        { "name": "list", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } },
        { "name": "from", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } }
    ]);
    let status_change = |what: &str| op(what, Some("revoker, admin"), Some(&id), "200", Some("application/json"));
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Huren issuer", "version": env!("CARGO_PKG_VERSION") },
        "components": {
            "securitySchemes": { "token": { "type": "http", "scheme": "bearer", "description": "hrt_<id>.<secret>" } },
            "schemas": { "Problem": { "type": "object", "properties": {
                "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" }, "detail": { "type": "string" } } } }
        },
        "paths": {
            "/healthz": { "get": op("Liveness", None, None, "200", None) },
            "/readyz": { "get": op("Readiness: the database answers", None, None, "200", None) },
            "/metrics": { "get": op("Prometheus metrics", None, None, "200", None) },
            "/openapi.json": { "get": op("This document", None, None, "200", None) },
            "/v1/trust-bundle": { "get": op("The federation trust bundle (ETag; If-None-Match answers 304)", None, None, "200", None) },
            "/v1/province-bundle": { "get": op("This province's signed bundle (ETag; If-None-Match answers 304)", None, None, "200", None) },
            "/v1/credentials": { "post": op("Issue one credential (an Idempotency-Key header makes retries of the same request return the first credential, 200; the same key with another request is 422 and issues nothing). An optional `holder_key` (the holder device's 32-byte Ed25519 public key as 64 hex digits) binds the credential to that device: verifiers then accept it only as the wallet's dynamic code (HP1:), not as the static QR code returned here", Some("issuer, admin"), None, "201", Some("application/json")) },
            "/v1/credentials/bulk": { "post": op("Bulk issuance: NDJSON (application/x-ndjson, or no Content-Type) or text/csv in (UTF-8; one byte order mark at the start is dropped; only the first CSV line may be the header), NDJSON out (one line per input line, then a summary); other media types are 415", Some("issuer, admin"), None, "200", Some("application/x-ndjson")) },
            "/v1/credentials/{id}": { "get": op("A credential's status and QR text", Some("any"), Some(&id), "200", None) },
            "/v1/credentials/{id}/qr.png": { "get": op("QR code as PNG", Some("any"), Some(&id), "200", None) },
            "/v1/credentials/{id}/qr.svg": { "get": op("QR code as SVG", Some("any"), Some(&id), "200", None) },
            "/v1/credentials/{id}/qr.txt": { "get": op("QR code for a terminal", Some("any"), Some(&id), "200", None) },
            "/v1/credentials/{id}/claim-link": { "post": op("Create a one-time claim link (valid 24 h)", Some("issuer, admin"), Some(&id), "201", None) },
            "/v1/claim/{secret}": { "get": op("Redeem a claim link once (no token; 410 when used or expired)", None, Some(&json!([{ "name": "secret", "in": "path", "required": true, "schema": { "type": "string" } }])), "200", None) },
            "/v1/credentials/{id}/revoke": { "post": status_change("Revoke (final), with a reason") },
            "/v1/credentials/{id}/suspend": { "post": status_change("Suspend, with a reason") },
            "/v1/credentials/{id}/reinstate": { "post": status_change("Reinstate a suspended credential, with a reason") },
            "/v1/status/{list}": { "get": op("The newest signed status list (ETag; If-None-Match answers 304)", None, Some(&list), "200", None) },
            "/v1/status/{list}/delta/{from}": { "get": op("A signed delta from version `from` to the newest (304 when `from` is the newest; 404 when unknown: fetch the full list)", None, Some(&list_from), "200", None) },
        }
    })
}
