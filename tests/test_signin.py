"""Signing in to the pages: the session cookie, one-time links, CSRF, security headers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.sessions import issue_link
from tests.conftest import auth

STREET = "110105001"


@pytest.fixture
def browser_client(demo):
    """A fresh client (its own cookie jar) on the demo database."""
    with TestClient(create_app(demo.settings), base_url="http://testserver") as c:
        yield c


def _csrf(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]*)"', html).group(1)


def _sign_in(c, token: str):
    return c.post("/signin", data={"token": token, "next": "/report"}, follow_redirects=False)


def test_sign_in_sets_a_safe_cookie_and_remembers_the_user(browser_client, tokens):
    c = browser_client
    r = c.get("/report", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=%2Freport")
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and 'name="token"' in page.text
    assert _sign_in(c, "wrong").status_code == 401
    r = _sign_in(c, tokens["grid_worker"])
    assert r.status_code == 303 and r.headers["location"] == "/report"
    cookie = r.headers["set-cookie"]
    assert "grid_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert tokens["grid_worker"] not in cookie  # the cookie is a session id, not the token
    assert "Secure" not in cookie  # plain http here; https sets it (next test)
    page = c.get("/report")
    assert page.status_code == 200
    assert 'data-role="grid_worker"' in page.text and "网格员" in page.text
    # The session answers the JSON API too (reads need no CSRF token).
    assert c.get("/api/v1/incidents").status_code == 200


def test_cookie_is_secure_over_https(demo, tokens):
    with TestClient(create_app(demo.settings), base_url="https://testserver") as c:
        r = c.post("/signin", data={"token": tokens["street"]}, follow_redirects=False)
        assert "Secure" in r.headers["set-cookie"]


def test_open_redirects_are_refused(browser_client, tokens):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = browser_client.post("/signin", data={"token": tokens["street"], "next": target},
                                follow_redirects=False)
        assert r.headers["location"] == "/work"


def test_token_in_url_no_longer_signs_in(browser_client, tokens):
    r = browser_client.get(f"/maps/streets/{STREET}?token={tokens['street']}",
                           follow_redirects=False)
    assert r.status_code == 303 and "/signin" in r.headers["location"]
    assert "set-cookie" not in r.headers


def test_one_time_link_works_once(browser_client, demo):
    with demo.db.write() as session:
        code = issue_link(session, "和平街道办")
    r = browser_client.get(f"/signin/link/{code}?next=/maps/city", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/maps/city"
    assert "grid_session=" in r.headers["set-cookie"]
    with TestClient(create_app(demo.settings)) as other:
        again = other.get(f"/signin/link/{code}", follow_redirects=False)
        assert again.status_code == 401 and "set-cookie" not in again.headers


def test_cookie_changes_need_the_csrf_token_and_same_origin(browser_client, tokens, client):
    c = browser_client
    _sign_in(c, tokens["street"])
    page = c.get("/report")
    csrf = _csrf(page.text)
    assert csrf
    body = {"reason": "x"}
    listed = client.get("/api/v1/incidents", headers=auth(tokens["street"])).json()
    target = listed[0]["id"] if listed else 1
    # Without the token: 403 before anything else is looked at.
    r = c.post(f"/api/v1/incidents/{target}/escalate", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["message"]
    r = c.post(f"/api/v1/incidents/{target}/escalate", json=body,
               headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = c.post(f"/api/v1/incidents/{target}/escalate", json=body,
               headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
    assert r.status_code == 403
    # With it the request reaches the ladder (which answers for itself, not 403 for CSRF).
    r = c.post("/api/v1/incidents/999999999/escalate", json=body,
               headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"})
    assert r.status_code == 404
    # A bearer token needs no CSRF token (no browser sends it by itself).
    r = client.post("/api/v1/incidents/999999999/escalate", json=body,
                    headers=auth(tokens["street"]))
    assert r.status_code == 404


def test_sign_out_ends_the_session_on_the_server(browser_client, tokens, demo):
    c = browser_client
    r = _sign_in(c, tokens["street"])
    key = re.search(r"grid_session=([^;]+)", r.headers["set-cookie"]).group(1)
    csrf = _csrf(c.get("/report").text)
    assert c.post("/signout", data={"csrf": "wrong"}).status_code == 403
    r = c.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?out=1"
    with TestClient(create_app(demo.settings)) as other:  # the old cookie value is dead
        other.cookies.set("grid_session", key)
        assert other.get("/api/v1/incidents").status_code == 401


def test_security_headers(browser_client, tokens, client):
    c = browser_client
    _sign_in(c, tokens["street"])
    for path in ("/report", f"/maps/streets/{STREET}", "/maps/city", "/signin"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split(
            "style-src")[0]
        assert "object-src 'none'" in csp
    nonce = re.search(r"'nonce-([^']+)'", c.get(f"/maps/streets/{STREET}")
                      .headers["content-security-policy"]).group(1)
    html = c.get(f"/maps/streets/{STREET}").text
    assert "<script>" not in html  # every inline script carries the nonce
    assert nonce not in html  # each response has its own
    for path in ("/api/v1/incidents", "/static/app/workbench.js", "/openapi.json"):
        r = client.get(path, headers=auth(tokens["street"]))
        assert r.headers["x-content-type-options"] == "nosniff", path


def test_page_errors_are_pages(browser_client, tokens):
    c = browser_client
    _sign_in(c, tokens["grid_worker"])
    r = c.get("/maps/streets/110105999")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "您无权查看此页面" in r.text and "content-security-policy" in r.headers


def test_page_language_switch_is_remembered(browser_client, tokens):
    c = browser_client
    _sign_in(c, tokens["street"])
    zh = c.get("/report")
    assert "退出登录" in zh.text and "Sign out" not in zh.text
    en = c.get("/report?lang=en")
    assert "Sign out" in en.text and "退出登录" not in en.text
    assert "grid_lang=en" in en.headers["set-cookie"]
    assert "Sign out" in c.get("/report").text
