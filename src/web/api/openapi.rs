//! `GET /api/v1/openapi.json`: the API described for clients and code generators. A test
//! (tests/api/token_api.rs) checks that every operation listed here is routed, and that
//! the routed paths answer no method that is not listed.

use axum::Json;
use serde_json::{Value, json};

pub(super) async fn document() -> Json<Value> {
    Json(description())
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn seller_and_app() -> Value {
    json!([
        {"name": "seller", "in": "path", "required": true,
         "description": "The seller's seller_id or user_id (a Lazada country's too).",
         "schema": {"type": "string"}},
        {"name": "app", "in": "query", "required": false,
         "description": "The app's name, needed only when the id is known under several apps.",
         "schema": {"type": "string"}}
    ])
}

fn common_errors() -> Vec<(&'static str, Value)> {
    vec![
        (
            "401",
            error_response("Missing or wrong API key (WWW-Authenticate: Bearer)."),
        ),
        ("404", error_response("No stored seller has this id.")),
        (
            "409",
            error_response(
                "The seller must authorize again (`authorize_url`), or the id is ambiguous (`candidates`).",
            ),
        ),
        (
            "502",
            error_response("The platform refused or failed the refresh (`platform`)."),
        ),
        (
            "504",
            error_response("The platform did not answer in time."),
        ),
    ]
}

fn responses(ok: (&str, Value)) -> Value {
    let mut all = serde_json::Map::new();
    all.insert(ok.0.to_owned(), ok.1);
    for (status, response) in common_errors() {
        all.insert(status.to_owned(), response);
    }
    Value::Object(all)
}

fn json_of(schema: &str, description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

pub(super) fn description() -> Value {
    let time = json!({"type": ["string", "null"], "format": "date-time"});
    let text = json!({"type": ["string", "null"]});
    let status =
        json!({"type": "string", "enum": ["reauthorize", "failing", "refresh_expiring", "active"]});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "iop-callback token API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Current access tokens of the sellers who authorized through iop-callback. Every response has Cache-Control: no-store."
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/tokens": {"get": {
                "operationId": "listTokens",
                "summary": "Every stored seller, without token values.",
                "parameters": [{"name": "app", "in": "query", "required": false, "schema": {"type": "string"}}],
                "responses": responses(("200", json!({
                    "description": "The sellers.",
                    "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/TokenSummary"}}}}
                })))
            }},
            "/api/v1/tokens/{seller}": {
                "get": {
                    "operationId": "currentToken",
                    "summary": "The seller's working access token; refreshed first when due or expired.",
                    "parameters": seller_and_app(),
                    "responses": responses(("200", json_of("CurrentToken", "A working access token.")))
                },
                "delete": {
                    "operationId": "forgetSeller",
                    "summary": "Forget the seller and its tokens.",
                    "parameters": seller_and_app(),
                    "responses": responses(("204", json!({"description": "Forgotten."})))
                }
            },
            "/api/v1/tokens/{seller}/refresh": {"post": {
                "operationId": "refreshToken",
                "summary": "Refresh the seller's tokens now.",
                "parameters": seller_and_app(),
                "responses": responses(("200", json_of("RefreshedToken", "The new expiry.")))
            }},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi",
                "summary": "This document.",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}
            }}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A key from IOP_API_KEYS."}},
            "schemas": {
                "Country": {"type": "object", "properties": {
                    "country": text, "seller_id": text, "user_id": text, "short_code": text}},
                "TokenSummary": {"type": "object", "properties": {
                    "app": {"type": "string"}, "platform": {"type": "string"}, "app_key": {"type": "string"},
                    "seller_id": text, "user_id": text, "nick": text, "account": text,
                    "countries": {"type": "array", "items": {"$ref": "#/components/schemas/Country"}},
                    "status": status, "access_expires_at": time, "refresh_expires_at": time,
                    "last_refresh_at": time, "last_error": text, "consecutive_failures": {"type": "integer"}}},
                "CurrentToken": {"type": "object", "properties": {
                    "app": {"type": "string"}, "platform": {"type": "string"}, "seller_id": text, "user_id": text,
                    "access_token": {"type": "string"}, "access_expires_at": time, "status": status}},
                "RefreshedToken": {"type": "object", "properties": {
                    "app": {"type": "string"}, "seller_id": text, "access_expires_at": time,
                    "refresh_expires_at": time, "last_refresh_at": time, "status": status}},
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"},
                    "authorize_url": {"type": "string"},
                    "candidates": {"type": "array", "items": {"type": "object"}},
                    "platform": {"type": ["object", "null"], "properties": {
                        "code": {"type": "string"}, "message": text, "request_id": text}}}}
            }
        }
    })
}
