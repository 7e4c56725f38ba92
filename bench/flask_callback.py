"""The callback service people write by hand, for the side-by-side benchmark only.

What a typical integration does, in Flask on gunicorn: a state in Flask's signed session
cookie, the signed /auth/token/create call with requests, the tokens in SQLite, a redirect
to a result page. Written to be fair to it (WAL, one pooled HTTP session per worker), not
to be used. Configured by the same variables as iop-callback.
"""
import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from urllib.parse import urlencode

import requests
from flask import Flask, abort, redirect, request, session
from markupsafe import escape

APP_KEY = os.environ["IOP_APP_KEY"]
APP_SECRET = os.environ["IOP_APP_SECRET"].encode()
API_URL = os.environ["IOP_API_URL"]
AUTHORIZE_URL = os.environ["IOP_AUTHORIZE_URL"]
PUBLIC_URL = os.environ["IOP_PUBLIC_URL"]
DB = os.environ["FLASK_DATABASE"]

app = Flask(__name__)
app.secret_key = os.environ["FLASK_SECRET_KEY"]
http = requests.Session()

with sqlite3.connect(DB) as conn:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tokens (seller_id TEXT PRIMARY KEY, access_token TEXT,"
        " refresh_token TEXT, expires_at INTEGER, updated_at INTEGER)"
    )


def sign(api_path, params):
    text = api_path + "".join(k + params[k] for k in sorted(params))
    return hmac.new(APP_SECRET, text.encode(), hashlib.sha256).hexdigest().upper()


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/authorize")
def authorize():
    session["state"] = secrets.token_urlsafe(32)
    query = urlencode({"response_type": "code", "force_auth": "true", "client_id": APP_KEY,
                       "redirect_uri": PUBLIC_URL + "/callback", "state": session["state"]})
    return redirect(f"{AUTHORIZE_URL}?{query}", 303)


@app.get("/callback")
def callback():
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not code or not hmac.compare_digest(state, session.pop("state", "")):
        abort(400)
    params = {"app_key": APP_KEY, "timestamp": str(int(time.time() * 1000)),
              "sign_method": "sha256", "code": code}
    params["sign"] = sign("/auth/token/create", params)
    body = http.post(API_URL + "/auth/token/create", data=params, timeout=10).json()
    if "access_token" not in body:
        abort(502)
    now = int(time.time() * 1000)
    with sqlite3.connect(DB, timeout=10) as conn:
        conn.execute(
            "INSERT INTO tokens VALUES (?, ?, ?, ?, ?) ON CONFLICT (seller_id) DO UPDATE SET"
            " access_token = excluded.access_token, refresh_token = excluded.refresh_token,"
            " expires_at = excluded.expires_at, updated_at = excluded.updated_at",
            (str(body["seller_id"]), body["access_token"], body.get("refresh_token"),
             now + 1000 * int(body.get("expires_in", 0)), now),
        )
    session["result"] = str(body["seller_id"])
    return redirect(f"/result/{body['seller_id']}", 303)


@app.get("/result/<seller_id>")
def result(seller_id):
    if session.get("result") != seller_id:
        abort(404)
    with sqlite3.connect(DB) as conn:
        row = conn.execute("SELECT access_token FROM tokens WHERE seller_id = ?",
                           (seller_id,)).fetchone()
    return f"<p>Seller {escape(seller_id)} authorized. Access token: <code>{escape(row[0])}</code></p>"
