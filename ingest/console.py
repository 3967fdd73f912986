"""The operator's console at /console/: server-rendered HTML (SVG charts, no script, no build step, readable
on a phone), behind Google sign-in, off unless DARKROOM_CONSOLE_EMAILS names who may use it.

Sign-in: the OAuth code flow with darkroom's own web client (redirect `<origin>/console/callback`), a state and
a nonce kept in a short signed cookie; the ID token verified and its verified email in the list
(workers.intake.console.sign_in). The session is a signed cookie (HMAC-SHA256 under a key derived from the first
token key): HttpOnly, SameSite=Strict, Secure outside loopback, eight hours. Every write is a POST carrying a
CSRF token bound to the session, and is refused unless DARKROOM_CONSOLE_WRITE. Pages show ids, states, counts,
times, file names and error texts: never a code, a token, a push token or a base URL.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ingest.clientip import allowed
from settings import Settings
from workers.errors import CodeRejected, DarkroomError
from workers.intake import console

SESSION, LOGIN = "darkroom_console", "darkroom_console_login"
SESSION_S, LOGIN_S = 8 * 3600, 600
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_FORM_BYTES = 16 * 1024


class Html(str):
    """Markup built here from escaped parts (a link): a table cell shows it as it is, and escapes any other."""


def routes(settings: Settings) -> list[Route]:
    """The console's routes, or none when no one may use it (/console/ is then a 404 like any unknown path)."""
    if not settings.console_email_list():
        return []
    return [
        Route("/console/", _page(today)),
        Route("/console/users", _page(users)),
        Route("/console/users/{sub}", _page(user)),
        Route("/console/submissions/{submission_id}", _page(submission)),
        Route("/console/failures", _page(failures)),
        Route("/console/actions", _page(act), methods=["POST"]),
        Route("/console/logout", _page(logout), methods=["POST"]),
        Route("/console/login", login),
        Route("/console/callback", callback),
        Route("/console/style.css", stylesheet),
        Route("/console/icon.svg", icon),
    ]


def redact_access_log() -> None:
    """uvicorn's access log writes each path with its query: the sign-in's callback carries Google's code in
    its query, so the console's paths are logged without theirs."""

    class Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            args = record.args
            if isinstance(args, tuple) and len(args) >= 3 and str(args[2]).startswith("/console/"):
                record.args = (*args[:2], str(args[2]).split("?", 1)[0], *args[3:])
            return True

    access = logging.getLogger("uvicorn.access")
    if not any(type(f).__name__ == "Redact" for f in access.filters):
        access.addFilter(Redact())


# --- signed cookies ------------------------------------------------------------------------------------------


def _key(request: Request) -> bytes:
    settings: Settings = request.app.state.context.settings
    return hmac.new(settings.token_key_bytes()[0], b"darkroom console session", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, claims: dict[str, Any]) -> str:
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{_b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"


def _verified(key: bytes, value: str | None) -> dict[str, Any] | None:
    """The claims of a cookie this console signed and that has not expired; None for anything else."""
    if not value or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("x"), int) or claims["x"] < time.time():
        return None
    return claims


def _csrf(key: bytes, session: str) -> str:
    return _b64(hmac.new(key, b"csrf:" + session.encode(), hashlib.sha256).digest())


def _secure(request: Request) -> bool:
    return request.url.hostname not in LOOPBACK


def _cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, same_site: Literal["lax", "strict"]
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/console/", httponly=True, secure=_secure(request), samesite=same_site
    )


def _origin(request: Request) -> str:
    """This deployment's origin as the browser sees it: behind a trusted proxy (DARKROOM_TRUSTED_PROXIES) that
    ends TLS, its X-Forwarded-Proto says the scheme."""
    scheme = request.url.scheme
    forwarded = request.headers.get("x-forwarded-proto", "")
    peer = request.client.host if request.client else None
    if forwarded in ("http", "https") and allowed(peer, request.app.state.trusted_proxies):
        scheme = forwarded
    return f"{scheme}://{request.headers.get('host', request.url.netloc)}"


# --- sign-in ---------------------------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    settings: Settings = request.app.state.context.settings
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    client_id, _ = settings.client_credentials()
    query = {
        "client_id": client_id,
        "redirect_uri": f"{_origin(request)}/console/callback",
        "response_type": "code",
        "scope": "openid email",
        "state": state,
        "nonce": nonce,
        "prompt": "select_account",
    }
    response = RedirectResponse(f"{settings.google_auth_uri}?{urlencode(query)}", status_code=302)
    # Lax: the browser brings it back on Google's redirect to the callback, a navigation from another site
    _cookie(
        response,
        request,
        LOGIN,
        _sign(_key(request), {"s": state, "n": nonce, "x": int(time.time()) + LOGIN_S}),
        LOGIN_S,
        "lax",
    )
    return _headers(response)


async def callback(request: Request) -> Response:
    started = _verified(_key(request), request.cookies.get(LOGIN))
    state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
    if started is None or not code or not hmac.compare_digest(str(started.get("s", "")), state):
        return _refused(request, 400, "This sign-in was not started here, or it took too long. Sign in again.")
    try:
        email = await run_in_threadpool(
            console.sign_in, request.app.state.context, code, f"{_origin(request)}/console/callback", str(started["n"])
        )
    except CodeRejected as exc:
        return _refused(request, 403, str(exc))
    session = _sign(_key(request), {"e": email, "x": int(time.time()) + SESSION_S})
    # A page, not a redirect: a SameSite=Strict cookie set at the end of a redirect chain that began on Google's
    # site is not sent on the redirect's next request; the page's own navigation to /console/ is same-site.
    response = HTMLResponse(
        _document("Signed in", '<h1>Signed in</h1><p><a href="/console/">Open the console</a></p>', refresh=True)
    )
    _cookie(response, request, SESSION, session, SESSION_S, "strict")
    response.delete_cookie(LOGIN, path="/console/")
    return _headers(response)


def _page(handler: Callable[[Request, str], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A page for a signed-in operator: a missing, forged or expired session goes to sign-in (a POST is refused);
    a POST must carry its session's CSRF token."""

    async def page(request: Request) -> Response:
        key = _key(request)
        raw = request.cookies.get(SESSION, "")
        claims = _verified(key, raw)
        if claims is None:
            if request.method == "POST":
                return _refused(request, 403, "Your session has ended. Sign in again.")
            return _headers(RedirectResponse("/console/login", status_code=302))
        request.state.csrf = _csrf(key, raw)
        if request.method == "POST":
            form = await _form(request)
            if not hmac.compare_digest(str(form.get("csrf", "")), request.state.csrf):
                return _refused(request, 403, "This form did not come from this console (no CSRF token).")
            request.state.form = form
        return _headers(await handler(request, str(claims["e"])))

    return page


async def _form(request: Request) -> dict[str, str]:
    """An HTML form's fields (application/x-www-form-urlencoded: the console's forms are that, and small)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def logout(request: Request, email: str) -> Response:
    response = HTMLResponse(
        _document("Signed out", '<h1>Signed out</h1><p><a href="/console/login">Sign in again</a></p>')
    )
    response.delete_cookie(SESSION, path="/console/")
    return response


# --- pages -----------------------------------------------------------------------------------------------------


async def today(request: Request, email: str) -> Response:
    facts = await run_in_threadpool(console.today, request.app.state.context)
    hours, now = facts["hours"], datetime.datetime.now(datetime.UTC)
    keys = [(now - datetime.timedelta(hours=23 - i)).strftime("%Y-%m-%d %H") for i in range(24)]
    codes = [(k[-2:], hours.get(k, {}).get("codes", 0), 0) for k in keys]
    photos = [(k[-2:], hours.get(k, {}).get("photos_done", 0), hours.get(k, {}).get("photos_failed", 0)) for k in keys]
    subs = facts["counts"]["submissions"]
    body = [
        "<h2>The last 24 hours</h2>",
        _cards(
            [
                ("codes in", facts["funnel"]["codes"]),
                ("exchanged", facts["funnel"]["exchanged"]),
                ("picked", facts["funnel"]["picked"]),
                ("done", subs.get("done", 0)),
                ("failed", subs.get("failed", 0)),
                ("open", sum(n for s, n in subs.items() if s not in ("done", "failed"))),
            ]
        ),
        "<h3>Codes in, by the hour (UTC)</h3>",
        _bars(codes, "codes"),
        "<h3>Photos done and failed, by the hour (UTC)</h3>",
        _bars(photos, "photos"),
        "<h3>Queues</h3>",
    ]
    if facts["queues"] is None:
        body.append("<p>The embedded broker: messages live in this process.</p>")
    else:
        rows = [
            [q, d["ready"], d["delayed"], d["in_flight"], d["dead"], f"{facts['oldest'].get(q, 0):.0f} s"]
            for q, d in sorted(facts["queues"].items())
        ]
        body.append(_table(["queue", "ready", "delayed", "in flight", "dead", "oldest ready"], rows))
    body.append("<h3>Google's quota today (Pacific)</h3>")
    body += [_quota(use) for use in facts["quota"]]
    body.append("<h3>Telling the app</h3>")
    rows = [
        [channel, *(states.get(s, 0) for s in ("delivered", "pending", "retrying", "dead"))]
        for channel, states in sorted(facts["notifications"].items())
    ]
    body.append(
        _table(["channel", "delivered", "pending", "retrying", "dead"], rows)
        if rows
        else "<p>No channel is configured.</p>"
    )
    body.append("<h3>Grants of the day's users</h3>")
    body.append(
        _table(["healthy", "degraded", "failing"], [[facts["health"][s] for s in ("healthy", "degraded", "failing")]])
    )
    return _html(request, email, "Today", body)


async def users(request: Request, email: str) -> Response:
    text = request.query_params.get("q", "")[:320]
    found = await run_in_threadpool(console.users, request.app.state.context, text)
    rows = [
        [
            _link(f"/console/users/{quote(u['sub'], safe='')}", u["sub"]),
            u["email"] or "",
            u["state"],
            u["health"],
            u["last_refresh_at"] or "never",
            u["submissions"],
        ]
        for u in found
    ]
    body = [
        '<form method="get" action="/console/users"><label>sub or email <input name="q" value="'
        f'{escape(text)}" autocomplete="off"></label> <button type="submit">Search</button></form>',
        _table(["sub", "email", "state", "health (24 h)", "last refresh", "submissions"], rows)
        if rows
        else "<p>No user.</p>",
    ]
    return _html(request, email, "Users", body)


async def user(request: Request, email: str) -> Response:
    sub = request.path_params["sub"]
    found = await run_in_threadpool(console.user, request.app.state.context, sub)
    if found is None:
        return _html(request, email, "No such user", ["<p>No grant is stored for this user.</p>"], status=404)
    sick = found["health"]
    facts = [
        ["sub", found["sub"]], ["email", found["email"] or ""], ["state", found["state"]],
        ["health (24 h)", sick["state"]],
        ["refreshes", f"{sick['refreshes']['ok']} ok, {sick['refreshes']['failed']} failed"],
        ["Google calls", f"{sick['calls']['ok']} ok, {sick['calls']['failed']} failed"],
        ["last error", f"{sick['last_error'] or ''} {sick['last_error_at'] or ''}".strip() or "none"],
        ["last refresh", found["last_refresh_at"] or "never"],
        ["refresh token ends", found["refresh_expires_at"] or "not said by Google"],
        ["photos", ", ".join(f"{k} {v}" for k, v in sorted(found["counts"].items()))],
    ]  # fmt: skip
    rows = [
        [_link(f"/console/submissions/{s['id']}", s["id"]), s["status"], s["source"], s["error"] or "", s["at"]]
        for s in found["submissions"]
    ]
    body = [
        _table(["", ""], facts, header=False),
        "<h3>Submissions</h3>",
        _table(["submission", "status", "source", "error", "posted"], rows) if rows else "<p>None.</p>",
        "<h3>Act</h3>",
        _action(request, "reprocess", sub, "Read the inbox again"),
        _action(request, "revoke", sub, "Revoke at Google and delete"),
    ]
    return _html(request, email, f"User {sub}", body)


async def submission(request: Request, email: str) -> Response:
    submission_id = request.path_params["submission_id"]
    found = await run_in_threadpool(console.submission, request.app.state.context, submission_id)
    if found is None:
        return _html(request, email, "No such submission", ["<p>No such submission.</p>"], status=404)
    counts = ", ".join(f"{k} {v}" for k, v in found["counts"].items())
    facts = [["status", found["status"]], ["source", found["source"]], ["photos", counts],
             ["error", f"{found.get('error') or ''}"]]  # fmt: skip
    if found.get("sub"):
        facts.insert(0, ["user", _link(f"/console/users/{quote(found['sub'], safe='')}", found["sub"])])
    rows = [
        [p["id"], p["filename"] or "", p["state"], p["attempts"], p["found_at"], p["uploaded_at"] or "",
         p["finished_at"] or "",
         f"{p['error'] or ''} {p['detail'] or ''}".strip()]
        for p in found["photos"]
    ]  # fmt: skip
    body = [
        _table(["", ""], facts, header=False),
        "<h3>Photos</h3>",
        _table(["photo", "file", "state", "tries", "found", "uploaded", "finished", "why it failed"], rows)
        if rows else "<p>No photo yet.</p>",
    ]  # fmt: skip
    return _html(request, email, f"Submission {submission_id}", body)


async def failures(request: Request, email: str) -> Response:
    found = await run_in_threadpool(console.failures, request.app.state.context)
    rows = [
        [g["kind"], g["reason"], g["count"], g["latest_at"] or "",
         _example(g),
         g["detail"]]
        for g in found["reasons"]
    ]  # fmt: skip
    letters = [[d["queue"], d["actor"] or "", json.dumps(d["args"]), d["reason"]] for d in found["dead_letters"]]
    queues = sorted({d["queue"] for d in found["dead_letters"]})
    body = [
        "<h3>The last 24 hours, by reason</h3>",
        _table(["what", "reason", "how many", "latest", "example", "detail"], rows)
        if rows else "<p>No failure.</p>",
        "<h3>Dead letters</h3>",
        _table(["queue", "actor", "ids", "reason"], letters) if letters else "<p>None.</p>",
        *(
            _action(request, "replay", q, f"Send the dead letters of {q} again")
            + _action(request, "purge", q, f"Delete the dead letters of {q}")
            for q in queues
        ),
        "<h3>What operators did here</h3>",
        _table(["when", "who", "action", "on", "outcome"], [list(a.values()) for a in found["actions"]])
        if found["actions"] else "<p>Nothing yet.</p>",
    ]  # fmt: skip
    return _html(request, email, "Failures", body)


async def act(request: Request, email: str) -> Response:
    settings: Settings = request.app.state.context.settings
    form = request.state.form
    action, target = str(form.get("action", "")), str(form.get("target", ""))[:255]
    if not settings.console_write:
        return _html(
            request, email, "Read-only", ["<p>This console is read-only (DARKROOM_CONSOLE_WRITE).</p>"], status=403
        )
    try:
        outcome = await run_in_threadpool(console.act, request.app.state.context, email, action, target)
    except DarkroomError as exc:
        return _html(request, email, "Not done", [f"<p>{escape(str(exc))}</p>"], status=400)
    return _html(
        request,
        email,
        "Done",
        [f"<p>{escape(outcome)}</p>", '<p><a href="/console/failures">What operators did</a></p>'],
    )


async def icon(request: Request) -> Response:
    return _headers(Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}))


async def stylesheet(request: Request) -> Response:
    return _headers(Response(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"}))


# --- HTML --------------------------------------------------------------------------------------------------------


def _html(request: Request, email: str, title: str, body: list[str], status: int = 200) -> HTMLResponse:
    nav = (
        '<nav><a href="/console/">Today</a> <a href="/console/users">Users</a> <a href="/console/failures">Failures</a>'
        '<form method="post" action="/console/logout" class="out">'
        f'<input type="hidden" name="csrf" value="{request.state.csrf}">'
        f'<span>{escape(email)}</span> <button type="submit">Sign out</button></form></nav>'
    )  # fmt: skip
    mode = "" if request.app.state.context.settings.console_write else '<p class="mode">read-only</p>'
    return HTMLResponse(_document(title, nav + mode + f"<h1>{escape(title)}</h1>" + "".join(body)), status_code=status)


def _document(title: str, body: str, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="0;url=/console/">' if refresh else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'{meta}<title>{escape(title)} · darkroom</title><link rel="stylesheet" href="/console/style.css">'
        '<link rel="icon" href="/console/icon.svg"></head>'
        f"<body><main>{body}</main></body></html>"
    )


def _headers(response: Response) -> Response:
    response.headers["content-security-policy"] = CSP
    response.headers["cache-control"] = "no-store"
    return response


def _refused(request: Request, status: int, why: str) -> Response:
    body = f'<h1>Not signed in</h1><p>{escape(why)}</p><p><a href="/console/login">Sign in</a></p>'
    return _headers(HTMLResponse(_document("Not signed in", body), status_code=status))


def _link(href: str, text: str) -> Html:
    return Html(f'<a href="{escape(href)}">{escape(text)}</a>')


def _table(columns: list[str], rows: list[list[Any]], *, header: bool = True) -> str:
    """Every cell escaped but the links built here (Html): a file name, an error text or an id from Google that
    looks like markup shows as text."""

    def cell(value: Any) -> str:
        return value if isinstance(value, Html) else escape(str(value))

    head = "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table>{head}{body}</table></div>'


def _cards(pairs: list[tuple[str, int]]) -> str:
    return (
        '<div class="cards">' + "".join(f"<div><b>{n}</b><span>{escape(k)}</span></div>" for k, n in pairs) + "</div>"
    )


def _bars(series: list[tuple[str, int, int]], what: str) -> str:
    """An SVG bar per hour: the first value in the lower bar, the second stacked on it (failures)."""
    width, height, gap = 24 * len(series), 120, 4
    top = max(max(a + b for _, a, b in series), 1)
    bars = []
    for i, (label, a, b) in enumerate(series):
        x = i * 24
        ha, hb = round(a / top * (height - 20)), round(b / top * (height - 20))
        bars.append(
            f"<g><title>{escape(label)}:00 UTC: {a}{f', {b} failed' if b else ''}</title>"
            f'<rect class="ok" x="{x + gap // 2}" y="{height - 14 - ha}" width="{24 - gap}" height="{ha}"/>'
            f'<rect class="bad" x="{x + gap // 2}" y="{height - 14 - ha - hb}" width="{24 - gap}" height="{hb}"/>'
            + (f'<text x="{x + 12}" y="{height - 2}">{escape(label)}</text>' if i % 3 == 0 else "")
            + "</g>"
        )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(what)} by the hour">'
        f"{''.join(bars)}</svg>"
    )


def _quota(use: dict[str, Any]) -> str:
    used, budget = int(use.get("used", 0)), use.get("budget")
    share = min(used / budget, 1.0) if budget else 0.0
    waits = use.get("paused_until") or use.get("slowed_until")
    label = f"{use['api']}: {used}" + (f" of {budget}" if budget else "") + (f"; waits until {waits}" if waits else "")
    return (
        f'<svg class="quota" viewBox="0 0 300 16" role="img" aria-label="{escape(label)}">'
        '<rect class="track" x="0" y="0" width="300" height="16"/>'
        f'<rect class="{"bad" if waits else "ok"}" x="0" y="0" width="{round(300 * share)}" height="16"/></svg>'
        f"<p>{escape(label)}</p>"
    )  # fmt: skip


def _example(group: dict[str, Any]) -> str | Html:
    """A failure group's example: a submission links to its page; a photo is named by its id."""
    if group["kind"] == "submission" and group["example_id"]:
        return _link(f"/console/submissions/{group['example_id']}", group["example_id"])
    return str(group["example_id"] or "")


def _action(request: Request, action: str, target: str, label: str) -> str:
    disabled = "" if request.app.state.context.settings.console_write else " disabled"
    return (
        '<form method="post" action="/console/actions" class="act">'
        f'<input type="hidden" name="csrf" value="{request.state.csrf}">'
        f'<input type="hidden" name="action" value="{escape(action)}">'
        f'<input type="hidden" name="target" value="{escape(target)}">'
        f'<button type="submit"{disabled}>{escape(label)}</button></form>'
    )  # fmt: skip


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#333"/></svg>'
)
STYLE = """
body{margin:0;font:15px/1.4 system-ui,sans-serif;color:#222;background:#fafafa}
main{max-width:960px;margin:0 auto;padding:12px}
nav{display:flex;flex-wrap:wrap;gap:12px;align-items:center;border-bottom:1px solid #ddd;padding-bottom:8px}
nav .out{margin-left:auto}
h1{font-size:1.4em}h2,h3{font-size:1.1em;margin-top:1.4em}
.mode{display:inline-block;background:#eee;border-radius:4px;padding:2px 8px;font-size:.85em}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.cards div{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.cards b{display:block;font-size:1.6em}.cards span{color:#666}
.scroll{overflow-x:auto}table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
svg.chart{display:block;width:100%;max-width:600px;height:auto}svg text{font-size:10px;text-anchor:middle;fill:#666}
svg.quota{width:100%;max-width:300px;height:16px}.track{fill:#eee}.ok{fill:#3b7}.bad{fill:#d44}
form.act{display:inline-block;margin:4px 8px 4px 0}
"""
