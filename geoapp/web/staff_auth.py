"""Staff login and sessions over HTTP: cookies, CSRF, and the dependencies routes use."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from geoapp.errors import Forbidden, Unauthorized
from geoapp.i18n import t
from geoapp.staff.accounts import Accounts, LoginRefused, Session
from geoapp.web.context import TemplatesDep
from geoapp.web.intake import answer_lang, client_address

COOKIE = "geoapp_staff"
LOGIN_CSRF_COOKIE = "geoapp_login_csrf"

router = APIRouter(include_in_schema=False)


class LoginRedirect(Exception):
    """An anonymous browser asked for a staff page: send it to the login form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def _accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def _is_api(request: Request) -> bool:
    return "/api/" in request.url.path or "json" in request.headers.get("accept", "")


def current_session(request: Request) -> Session:
    """The logged-in session; a redirect to the login form (pages) or 401 (APIs) if none."""
    token = request.cookies.get(COOKIE)
    session = _accounts(request).session(token, datetime.now(UTC)) if token else None
    if session is None:
        if _is_api(request) or request.method != "GET":
            raise Unauthorized("log in as a member of staff first")
        raise LoginRedirect(request.url.path + (f"?{request.url.query}" if request.url.query
                                                 else ""))
    request.state.session = session
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def require(*roles: str):  # noqa: ANN201 (a FastAPI dependency factory)
    """A dependency admitting only the given roles (403 for the others)."""

    def check(session: SessionDep) -> Session:
        if session.user.role not in roles:
            raise Forbidden("your role may not use this page")
        return session

    return Depends(check)


async def check_csrf(request: Request, session: Session) -> FormData:
    """The form of a state-changing request, refused if its CSRF token is not this session's."""
    form = await request.form()
    sent = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
    if not hmac.compare_digest(sent, session.csrf_token):
        raise Forbidden("the form has expired or did not come from geoapp; reload and retry")
    return form


async def _csrf_form(request: Request, session: SessionDep) -> FormData:
    return await check_csrf(request, session)


#: A staff form checked against the session's CSRF token. Reading it here, in an async
#: dependency, lets the handler itself be a plain ``def`` that FastAPI runs in its thread
#: pool, so the handler's database calls never block the event loop.
StaffForm = Annotated[FormData, Depends(_csrf_form)]


def _secure(request: Request) -> bool:
    configured = request.app.state.settings.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def _safe_next(value: str | None) -> str:
    # Only local paths: never an open redirect to another host. Browsers read /\host
    # as //host, and drop tabs and newlines from URLs, so refuse those characters too.
    if (value and value.startswith("/") and not value.startswith("//")
            and not any(c == "\\" or c.isspace() or ord(c) < 32 for c in value)):
        return value
    return "/staff"


@router.get("/staff/login")
def login_form(request: Request, templates: TemplatesDep) -> Response:
    """The login form (with a double-submit CSRF token, as there is no session yet)."""
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(request, "staff/login.html", {
        "csrf": token, "next": _safe_next(request.query_params.get("next")), "error": None})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/staff/login")
    return response


@router.post("/staff/login")
async def login(request: Request, templates: TemplatesDep) -> Response:
    """Check the password; slow down and then lock after repeated failures."""
    form = await request.form()
    next_url = _safe_next(str(form.get("next") or ""))
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or not hmac.compare_digest(cookie_token, str(form.get("csrf") or "")):
        raise Forbidden("the login form has expired; reload it and try again")
    now = datetime.now(UTC)
    try:
        # In a thread: Argon2 takes tens of milliseconds the event loop should not wait for.
        user = await asyncio.to_thread(
            _accounts(request).authenticate, str(form.get("username") or ""),
            str(form.get("password") or ""), now, address=client_address(request))
    except LoginRefused as refused:
        if refused.delay:
            await asyncio.sleep(refused.delay)
        lang = answer_lang(request, page=True)
        message = t("login_failed", lang)
        headers = {}
        if refused.retry_after:  # locked for this address, or too many tries for the account
            message = t("login_throttled", lang)
            headers["Retry-After"] = str(refused.retry_after)
        return templates.TemplateResponse(request, "staff/login.html", {
            "csrf": cookie_token, "next": next_url, "error": message},
            status_code=429 if refused.retry_after else 401, headers=headers)
    token, _ = _accounts(request).open_session(user, now)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=_secure(request),
                        max_age=12 * 3600, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff/login")
    return response


@router.post("/staff/logout")
def logout(request: Request, form: StaffForm, session: SessionDep) -> Response:
    """End the session (the cookie's token stops working at once)."""
    _accounts(request).close_session(request.cookies[COOKIE])
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def login_redirect_handler(request: Request, exc: Exception) -> Response:
    """Send an anonymous browser to the login form, then back where it was going."""
    assert isinstance(exc, LoginRedirect)
    return RedirectResponse(f"/staff/login?next={quote(exc.next_url)}", status_code=303)
