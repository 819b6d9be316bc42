"""Admin pages: staff accounts and the response templates per category and state."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from geoapp.errors import Conflict, InvalidInput
from geoapp.features.params import parse_id
from geoapp.i18n import t
from geoapp.open311.keys import DEFAULT_QUOTA
from geoapp.staff import replies
from geoapp.staff.accounts import ROLES, Session
from geoapp.text import check_texts
from geoapp.web.context import TemplatesDep
from geoapp.web.intake import answer_lang
from geoapp.web.staff_auth import StaffForm, require

router = APIRouter(include_in_schema=False)
ADMIN = require("admin")


def _page(request: Request, templates: TemplatesDep, session: Session, error: str | None = None,
          status: int = 200) -> Response:
    store = request.app.state.reports.store
    canned = replies.all_templates(store.engine)
    return templates.TemplateResponse(request, "staff/admin.html", {
        "session": session, "users": request.app.state.accounts.all(), "roles": ROLES,
        "departments": store.departments(), "categories": store.categories(active_only=False),
        "statuses": store.statuses(), "canned": canned, "error": error}, status_code=status)



def _said(request: Request, error: InvalidInput) -> str:
    """A refusal's message in the staff page's language."""
    return error.message(answer_lang(request, page=True))

@router.get("/staff/admin")
def admin_page(request: Request, templates: TemplatesDep, session: Session = ADMIN) -> Response:
    """Accounts and response templates."""
    return _page(request, templates, session)


@router.post("/staff/admin/users")
def create_user(request: Request, templates: TemplatesDep,
                form: StaffForm, session: Session = ADMIN) -> Response:
    """Create a member of staff."""
    try:
        request.app.state.accounts.create(
            str(form.get("username") or ""), str(form.get("password") or ""),
            str(form.get("role") or ""), datetime.now(UTC),
            display_name=str(form.get("display_name") or "") or None,
            email=str(form.get("email") or "") or None,
            department_code=str(form.get("department") or "") or None)
    except InvalidInput as error:
        return _page(request, templates, session,
                     _said(request, error), status=422)
    return RedirectResponse("/staff/admin", status_code=303)


@router.post("/staff/admin/users/{user_id}/active")
def set_active(user_id: str, request: Request, form: StaffForm,
               session: Session = ADMIN) -> Response:
    """Enable or disable an account."""
    request.app.state.accounts.set_active(parse_id(user_id, "staff user"),
                                          form.get("active") == "1")
    return RedirectResponse("/staff/admin", status_code=303)


@router.post("/staff/admin/templates")
def add_template(request: Request, templates: TemplatesDep,
                 form: StaffForm, session: Session = ADMIN) -> Response:
    """Add a response template for a category (or all) and a state."""
    body = str(form.get("body") or "").strip()
    status = str(form.get("status") or "")
    if not body or not status:
        return _page(request, templates, session,
                     t("template_missing", answer_lang(request, page=True)), status=422)
    try:
        check_texts({"body": body, "status": status, "category": str(form.get("category") or ""),
                     "lang": str(form.get("lang") or "")}, multiline=frozenset({"body"}))
    except InvalidInput as error:
        return _page(request, templates, session, _said(request, error), status=422)
    replies.add_template(
        request.app.state.reports.store.engine, session.user,
        category_code=str(form.get("category") or "") or None, status_code=status,
        lang=str(form.get("lang") or "ja"), body=body, now=datetime.now(UTC))
    return RedirectResponse("/staff/admin", status_code=303)


@router.post("/staff/admin/templates/{template_id}/delete")
def delete_template(template_id: str, request: Request,
                    form: StaffForm, session: Session = ADMIN) -> Response:
    """Remove a response template."""
    replies.delete_template(request.app.state.reports.store.engine, session.user,
                            parse_id(template_id, "template"), datetime.now(UTC))
    return RedirectResponse("/staff/admin", status_code=303)


def _keys_page(request: Request, templates: TemplatesDep, session: Session,
               new_key: str | None = None, error: str | None = None,
               status: int = 200) -> Response:
    return templates.TemplateResponse(request, "staff/apikeys.html", {
        "session": session, "keys": request.app.state.api_keys.all(), "new_key": new_key,
        "error": error, "default_quota": DEFAULT_QUOTA}, status_code=status)


@router.get("/staff/admin/apikeys")
def api_keys_page(request: Request, templates: TemplatesDep,
                  session: Session = ADMIN) -> Response:
    """Open311 API keys: issue and revoke."""
    return _keys_page(request, templates, session)


@router.post("/staff/admin/apikeys")
def issue_key(request: Request, templates: TemplatesDep,
              form: StaffForm, session: Session = ADMIN) -> Response:
    """Issue a key; it is shown this once and stored only as a hash."""
    name = str(form.get("name") or "").strip()
    if not name or len(name) > 100:
        return _keys_page(request, templates, session,
                          error=t("client_name_missing", answer_lang(request, page=True)),
                          status=422)
    try:
        key = request.app.state.api_keys.issue(name, datetime.now(UTC), _quota(form))
    except InvalidInput as error:
        return _keys_page(request, templates, session, error=_said(request, error), status=422)
    except Conflict as error:
        return _keys_page(request, templates, session, error=error.detail, status=409)
    return _keys_page(request, templates, session, new_key=key)


def _quota(form: FormData) -> int:
    text = str(form.get("quota") or "").strip()
    if not text:
        return DEFAULT_QUOTA
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidInput("quota", key="error.input.quota_not_whole")
    return int(text)


@router.post("/staff/admin/apikeys/quota")
def set_key_quota(request: Request, templates: TemplatesDep,
                  form: StaffForm, session: Session = ADMIN) -> Response:
    """Set how many posts per hour a key may make (applies at once)."""
    try:
        request.app.state.api_keys.set_quota(str(form.get("name") or ""), _quota(form))
    except InvalidInput as error:
        return _keys_page(request, templates, session, error=_said(request, error), status=422)
    return RedirectResponse("/staff/admin/apikeys", status_code=303)


@router.post("/staff/admin/apikeys/revoke")
def revoke_key(request: Request, form: StaffForm, session: Session = ADMIN) -> Response:
    """Revoke a key at once."""
    request.app.state.api_keys.revoke(str(form.get("name") or ""),
                                      datetime.now(UTC))
    return RedirectResponse("/staff/admin/apikeys", status_code=303)
