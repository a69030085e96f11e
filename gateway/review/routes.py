"""The IG review pages under ``/review/``: sign-in, search, exchange detail, the per-person report
and its evidence pack, the override review queue and the ledger's status.

The pages are a sub-application, so their middleware (sessions, HTML errors, security headers)
applies to them alone. Default deny: every page but sign-in needs a session holding one of its
roles (``ig-officer`` every page; ``ops`` only the ledger's status). Every refusal (not signed in,
wrong role, a failed sign-in, a missing or bad CSRF token) and every view of personal data is
written to the ledger through the group committer *before* the page is answered; if the ledger
cannot be written the page is not shown (503).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from jinja2 import Environment
from multidict import MultiMapping

from gateway.appkeys import DELIVERY, METRICS, REQUEST_ID, SERVICES, SETTINGS
from gateway.audit.events import (
    AccessRefused,
    AuditEvent,
    LedgerVerified,
    OverrideReviewed,
    RecordViewed,
)
from gateway.delivery import dead_letters, replay
from gateway.errors import GatewayError
from gateway.review import queries
from gateway.review.accounts import LocalAccounts, LoginThrottle
from gateway.review.evidence import evidence_pack
from gateway.review.forms import OUTCOMES, Choices, parse_search
from gateway.review.oidc import Flow, OidcClient, OidcError
from gateway.review.pages import (
    CSS,
    age,
    environment,
    error_context,
    html_response,
    secure,
)
from gateway.review.sessions import (
    COOKIE,
    DEMO_KEY_FILE,
    OIDC_COOKIE,
    OIDC_FLOW_SECONDS,
    Session,
    SessionCodec,
    ensure_key_file,
    load_keys,
    new_session,
)
from gateway.review.settings import ReviewSettings
from gateway.review.verify import run_verification
from gateway.routes.receipts import CHECKPOINTER
from gateway.settings import Settings
from gateway.store.committer import UnitOfWork
from schemas.identifiers import nhs_number_check_digit

log = structlog.get_logger("gateway.review")

IG_OFFICER = "ig-officer"
OPS = "ops"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_LISTED_SEQS = 100  # a view lists the entries it showed when there are at most this many
_NHS_LIKE = re.compile(r"(?<!\d)(\d{3}) ?(\d{3}) ?(\d{4})(?!\d)")


@dataclass
class ReviewState:
    """What the pages share, built once per application."""

    settings: ReviewSettings
    gateway: Settings
    accounts: LocalAccounts
    throttle: LoginThrottle
    oidc: OidcClient | None
    templates: Environment
    codec: SessionCodec | None = None
    choices: Choices | None = None
    verifying: asyncio.Lock = field(default_factory=asyncio.Lock)


REVIEW = web.AppKey("review", ReviewState)


@dataclass
class SessionHolder:
    """This request's session; ``changed`` sets the cookie on the way out."""

    codec: SessionCodec
    minutes: int
    current: Session | None
    changed: bool = False

    def csrf(self) -> str:
        """The CSRF token for a form on this page (starting an anonymous session if needed)."""
        if self.current is None:
            self.current = new_session(self.minutes)
            self.changed = True
        return self.current.csrf

    def replace(self, session: Session) -> None:
        self.current = session
        self.changed = True


SESSION = web.RequestKey("review_session", SessionHolder)


class Answer(Exception):
    """Stop handling and answer with ``response`` (a redirect to sign in, a refusal page)."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__()
        self.response = response


# -- the sub-application ---------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    """Mount the review pages at ``/review/`` (unless ``review.enabled`` is false)."""
    settings = app[SETTINGS]
    if not settings.review.enabled:
        return
    review = web.Application(middlewares=[_pages])
    review[REVIEW] = ReviewState(
        settings=settings.review,
        gateway=settings,
        accounts=LocalAccounts(settings.review.accounts),
        throttle=LoginThrottle(
            settings.review.login_attempts, settings.review.login_window_minutes * 60
        ),
        oidc=OidcClient(settings.review.oidc) if settings.review.oidc is not None else None,
        templates=environment(),
    )
    review.cleanup_ctx.append(_lifecycle)
    router = review.router
    router.add_get("/static/review.css", _css)
    router.add_get("/login", login_form)
    router.add_post("/login", login)
    router.add_post("/logout", logout)
    router.add_get("/oidc/start", oidc_start)
    router.add_get("/oidc/callback", oidc_callback)
    router.add_get("/", search_page)
    router.add_get("/search", search)
    router.add_get("/exchanges/{exchange_id}", exchange)
    router.add_get("/persons/{person_id}", person_report)
    router.add_get("/persons/{person_id}/evidence-pack", person_evidence_pack)
    router.add_get("/overrides", overrides)
    router.add_post("/overrides/{seq}", review_override)
    router.add_get("/ledger", ledger_status)
    router.add_post("/ledger/verify", verify_ledger)
    router.add_get("/dead-letters", dead_letters_page)
    router.add_post("/dead-letters/{outbox_id}/replay", replay_dead_letter)
    # Before the sub-application, which would otherwise answer "/review" with a 404.
    app.router.add_get("/review", _to_search_page)
    app.add_subapp("/review/", review)


async def _to_search_page(request: web.Request) -> web.Response:
    return _see_other("/review/")


async def _lifecycle(review: web.Application) -> AsyncIterator[None]:
    state = review[REVIEW]
    key_file = state.settings.session_key_file
    if key_file is None:
        key_file = ensure_key_file(DEMO_KEY_FILE.resolve())
    state.codec = SessionCodec(load_keys(key_file))
    try:
        yield
    finally:
        if state.oidc is not None:
            await state.oidc.close()


def _state(request: web.Request) -> ReviewState:
    return request.config_dict[REVIEW]


def _codec(state: ReviewState) -> SessionCodec:
    if state.codec is None:  # pragma: no cover - set at start-up, before any request
        raise RuntimeError("the review pages have not started")
    return state.codec


def _secure_cookie(request: web.Request) -> bool:
    # SECURITY: cookies are Secure except over plain HTTP to this machine (the demo, the tests);
    # behind a TLS-terminating proxy the browser sees HTTPS, and the Host is not loopback.
    return not (request.scheme == "http" and request.url.host in _LOOPBACK)


@web.middleware
async def _pages(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Sessions in, HTML errors and security headers out, for every review page."""
    state = _state(request)
    codec = _codec(state)
    holder = SessionHolder(
        codec, state.settings.session_minutes, codec.decode(request.cookies.get(COOKIE))
    )
    request[SESSION] = holder
    cache = False
    try:
        response = await handler(request)
        cache = request.path == "/review/static/review.css"
    except Answer as answer:
        response = answer.response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        request.config_dict[METRICS].rejected.labels(str(exc.status)).inc()
        response = _error_page(request, exc.status)
        if "Allow" in exc.headers:  # 405 names the methods the page does allow
            response.headers["Allow"] = exc.headers["Allow"]
    except GatewayError as exc:
        if exc.status >= 500:
            log.error("review_error", error=type(exc).__name__)
        request.config_dict[METRICS].rejected.labels(str(exc.status)).inc()
        response = _error_page(request, exc.status if exc.status >= 400 else 500)
    except Exception:
        # SECURITY: the browser learns the request id only; the traceback goes to the log,
        # through the redaction processor.
        log.exception("unhandled_error")
        response = _error_page(request, 500)
    secure(response, cache=cache)
    if holder.changed and holder.current is not None:
        response.set_cookie(
            COOKIE,
            codec.encode(holder.current),
            max_age=state.settings.session_minutes * 60,
            path="/review/",
            secure=_secure_cookie(request),
            httponly=True,
            samesite="Strict",
        )
    return response


# -- rendering -------------------------------------------------------------------------------


def _render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    state = _state(request)
    holder = request[SESSION]
    session = holder.current
    signed_in = session is not None and session.signed_in
    page = state.templates.get_template(template).render(
        user=session.user if signed_in and session is not None else None,
        roles=session.roles if signed_in and session is not None else (),
        csrf_token=holder.csrf,
        request_id=request.get(REQUEST_ID),
        standalone=False,
        **context,
    )
    return html_response(page, status=status)


def _error_page(
    request: web.Request,
    status: int,
    detail: str | None = None,
    link: tuple[str, str] | None = None,
) -> web.Response:
    context = error_context(status, detail)
    if link is not None:
        context["link"] = link
    return _render(request, "error.html", status=status, **context)


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _route(request: web.Request) -> str:
    # SECURITY: the route's pattern, never the concrete path or query (which may hold ids).
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(unmatched)"


def _safe_next(value: object) -> str:
    """A local review page to return to after signing in; anything else is the search page."""
    if (
        isinstance(value, str)
        and value.startswith("/review/")
        and len(value) <= 200
        and "//" not in value
        and "\\" not in value
        and all(c.isprintable() and c not in "?#" for c in value)
    ):
        return value
    return "/review/"


# -- recording -------------------------------------------------------------------------------


async def _record(request: web.Request, event: AuditEvent) -> list[int]:
    """Write ``event`` to the ledger now (raises Unavailable, a 503 page, if it cannot be)."""
    committer = request.config_dict[SERVICES].committer
    return await committer.submit(UnitOfWork(events=lambda: [event]))


def _common(request: web.Request) -> dict[str, Any]:
    return {"at": datetime.now(UTC), "request_id": request.get(REQUEST_ID)}


async def _refuse(request: web.Request, reason: str, user: str | None = None) -> None:
    log.info("review_refused", route=_route(request), reason=reason)
    await _record(
        request, AccessRefused(**_common(request), route=_route(request), reason=reason, user=user)
    )


async def _viewed(
    request: web.Request, session: Session, view: str, person_ids: tuple[str, ...], seqs: list[int]
) -> None:
    await _record(
        request,
        RecordViewed(
            **_common(request),
            viewer=session.user or "",
            role=_role_used(session),
            view=view,
            person_ids=person_ids,
            seqs=tuple(seqs) if len(seqs) <= _LISTED_SEQS else (),
        ),
    )


def _role_used(session: Session) -> str:
    return (
        IG_OFFICER if IG_OFFICER in session.roles else (session.roles[0] if session.roles else "")
    )


# -- access ------------------------------------------------------------------------------------


async def _require(request: web.Request, *roles: str) -> Session:
    """The signed-in session holding one of ``roles``; otherwise record the refusal and answer
    with the sign-in page (303) or a 403 page."""
    session = request[SESSION].current
    if session is None or not session.signed_in:
        await _refuse(request, "not-authenticated")
        raise Answer(_see_other("/review/login?" + urlencode({"next": _safe_next(request.path)})))
    if not session.has_role(*roles):
        await _refuse(request, "wrong-role", session.user)
        raise Answer(_error_page(request, 403))
    return session


async def _check_csrf(request: web.Request, form: MultiMapping[Any]) -> None:
    """The form's token must be this session's (double-checked in constant time)."""
    session = request[SESSION].current
    token = form.get("csrf_token")
    if (
        session is None
        or not isinstance(token, str)
        or not hmac.compare_digest(token.encode(), session.csrf.encode())
    ):
        await _refuse(request, "csrf", session.user if session is not None else None)
        raise Answer(
            _error_page(
                request,
                403,
                "The form had expired or did not come from these pages, so nothing was done. "
                "Go back, reload the page and try again.",
            )
        )


async def _form(request: web.Request) -> MultiMapping[Any]:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise Answer(_error_page(request, 400, "The form was not sent as a form."))
    return await request.post()


# -- static ------------------------------------------------------------------------------------


async def _css(request: web.Request) -> web.Response:
    return web.Response(
        body=CSS,
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "max-age=3600"},
    )


# -- sign-in -----------------------------------------------------------------------------------


def _login_page(
    request: web.Request,
    next_path: str,
    *,
    status: int = 200,
    error: str | None = None,
    title: str = "",
) -> web.Response:
    state = _state(request)
    oidc = state.settings.oidc
    return _render(
        request,
        "login.html",
        status=status,
        next=next_path,
        error=error,
        error_title=title,
        oidc_name=oidc.display_name if oidc is not None else None,
    )


async def login_form(request: web.Request) -> web.Response:
    """The sign-in page."""
    return _login_page(request, _safe_next(request.query.get("next")))


async def login(request: web.Request) -> web.Response:
    """Check a local account's password (constant work), with the per-account throttle."""
    state = _state(request)
    form = await _form(request)
    await _check_csrf(request, form)
    name = str(form.get("username", "")).strip().lower()[:64]
    password = str(form.get("password", ""))
    next_path = _safe_next(form.get("next"))
    known = state.accounts.exists(name)
    if state.throttle.locked(name):
        await _refuse(request, "throttled", name if known else None)
        minutes = state.settings.login_window_minutes
        return _login_page(
            request,
            next_path,
            status=429,
            title="Too many failed sign-ins",
            error=f"This account name has had too many failed sign-ins. Try again in {minutes} "
            "minutes.",
        )
    account = await state.accounts.verify(name, password)
    if account is None:
        state.throttle.failed(name)
        await _refuse(request, "bad-credentials", name if known else None)
        return _login_page(
            request,
            next_path,
            status=401,
            title="You are not signed in",
            error="Account name or password is wrong",
        )
    state.throttle.succeeded(name)
    request[SESSION].replace(
        new_session(
            state.settings.session_minutes, user=account.name, roles=account.roles, via="password"
        )
    )
    log.info("review_signed_in", via="password")
    return _see_other(next_path)


async def logout(request: web.Request) -> web.Response:
    """Sign out: the session is revoked and the browser gets a fresh anonymous one."""
    holder = request[SESSION]
    form = await _form(request)
    if holder.current is not None and holder.current.signed_in:
        await _check_csrf(request, form)
        _codec(_state(request)).revoke(holder.current)
    holder.replace(new_session(_state(request).settings.session_minutes))
    return _see_other("/review/login")


async def oidc_start(request: web.Request) -> web.Response:
    """Send the browser to the provider, with state, nonce and the PKCE challenge."""
    state = _state(request)
    if state.oidc is None:
        raise web.HTTPNotFound
    flow = Flow.start(_safe_next(request.query.get("next")))
    try:
        location = await state.oidc.authorization_url(flow)
    except OidcError as exc:
        await _refuse(request, exc.reason)
        return _error_page(request, 502, link=("/review/login", "Back to sign in"))
    response = _see_other(location)
    response.set_cookie(
        OIDC_COOKIE,
        _codec(state).seal(flow.as_dict()),
        max_age=OIDC_FLOW_SECONDS,
        path="/review/oidc/",
        secure=_secure_cookie(request),
        httponly=True,
        # Lax, not Strict: the provider's redirect back is a cross-site navigation.
        samesite="Lax",
    )
    return response


async def oidc_callback(request: web.Request) -> web.Response:
    """The provider's answer: check state, exchange the code, check the ID token, sign in."""
    state = _state(request)
    if state.oidc is None:
        raise web.HTTPNotFound
    sealed = _codec(state).unseal(request.cookies.get(OIDC_COOKIE), OIDC_FLOW_SECONDS)
    flow = Flow.from_dict(sealed) if sealed is not None else None
    returned = request.query.get("state", "")
    identity_name: str | None = None
    try:
        if flow is None or not hmac.compare_digest(returned.encode(), flow.state.encode()):
            raise OidcError("oidc-state")
        if "error" in request.query:
            raise OidcError("oidc-provider-refused")
        code = request.query.get("code", "")
        if not code or len(code) > 2048:
            raise OidcError("oidc-no-code")
        identity = await state.oidc.identity(await state.oidc.exchange(code, flow), flow)
        identity_name = identity.name
        if not identity.roles:
            raise OidcError("no-role")
    except OidcError as exc:
        await _refuse(request, exc.reason, identity_name)
        response = _error_page(
            request,
            403 if exc.reason == "no-role" else 401,
            "Your organisation's sign-in did not let you in to these pages"
            if exc.reason == "no-role"
            else "Signing in through your organisation did not work, so you are not signed in.",
            link=("/review/login", "Back to sign in"),
        )
        response.del_cookie(OIDC_COOKIE, path="/review/oidc/")
        return response
    request[SESSION].replace(
        new_session(
            state.settings.session_minutes, user=identity.name, roles=identity.roles, via="oidc"
        )
    )
    log.info("review_signed_in", via="oidc")
    # A page, not a redirect: the session cookie is SameSite=Strict, and a browser does not send
    # it on a redirect chain that began at the provider; the refresh below is same-site.
    response = _render(request, "signed_in.html", next=flow.next if flow else "/review/")
    response.del_cookie(OIDC_COOKIE, path="/review/oidc/")
    return response


# -- search --------------------------------------------------------------------------------------


def _choices(request: web.Request) -> Choices:
    state = _state(request)
    if state.choices is None:
        state.choices = Choices.build(state.gateway, request.config_dict[SERVICES].agreements)
    return state.choices


def _search_context(request: web.Request, **context: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "choices": _choices(request),
        "outcomes": OUTCOMES,
        "fields": {
            "identifier": "Person identifier",
            "partner": "Partner",
            "purpose": "Purpose",
            "basis": "Lawful basis",
            "outcome": "Outcome",
            "from": "From",
            "to": "To",
        },
        "values": {},
        "errors": {},
        "searched": False,
        "searched_person": False,
        "person_id": None,
        "results": [],
        "older": None,
    }
    base.update(context)
    return base


async def search_page(request: web.Request) -> web.Response:
    """The search form."""
    await _require(request, IG_OFFICER)
    return _render(request, "search.html", **_search_context(request))


async def search(request: web.Request) -> web.Response:
    """Decisions matching the filters; by person, a recorded view of personal data."""
    session = await _require(request, IG_OFFICER)
    form = parse_search(request.query, _choices(request))
    if not form.valid:
        return _render(
            request,
            "search.html",
            status=400,
            **_search_context(request, values=form.values, errors=form.errors),
        )
    engine = request.config_dict[SERVICES].engine
    by_person = form.identifier_key is not None or form.person_id is not None
    person_id: str | None = None
    results: list[queries.Decision] = []
    older: int | None = None
    async with engine.connect() as conn:
        if form.identifier_key is not None:
            person_id = await queries.person_for_key(conn, form.identifier_key)
        elif form.person_id is not None and await queries.person_known(conn, form.person_id):
            person_id = form.person_id
        if not by_person or person_id is not None:
            filters = replace(form.filters, person_id=person_id)
            results, older = await queries.search(conn, filters)
    if person_id is not None:
        await _viewed(request, session, "search", (person_id,), [d.seq for d in results])
    older_query = None
    if older is not None:
        # The next page names the person by the index's id, so the identifier typed is never
        # written into a page.
        params = {
            k: v for k, v in request.query.items() if k not in ("before", "identifier", "person")
        }
        if person_id is not None:
            params["person"] = person_id
        params["before"] = str(older)
        older_query = urlencode(params)
    return _render(
        request,
        "search.html",
        **_search_context(
            request,
            values=form.values,
            searched=True,
            searched_person=by_person,
            person_id=person_id,
            results=results,
            older=older_query,
        ),
    )


# -- exchange and person -----------------------------------------------------------------------


async def exchange(request: web.Request) -> web.Response:
    """One exchange's provenance: decisions per recipient, deliveries, ledger seqs."""
    session = await _require(request, IG_OFFICER)
    exchange_id = request.match_info["exchange_id"]
    if not queries.is_uuid(exchange_id):
        return _error_page(request, 400, "The exchange id in the address is not a valid id.")
    async with request.config_dict[SERVICES].engine.connect() as conn:
        view = await queries.exchange(conn, exchange_id)
    if view is None:
        return _error_page(request, 404, "The ledger holds no exchange with this id.")
    await _viewed(request, session, "exchange", view.person_ids, view.seqs)
    return _render(request, "exchange.html", view=view)


async def _person(request: web.Request) -> tuple[Session, queries.PersonReport]:
    session = await _require(request, IG_OFFICER)
    person_id = request.match_info["person_id"]
    if not queries.is_uuid(person_id):
        raise Answer(_error_page(request, 400, "The person id in the address is not a valid id."))
    async with request.config_dict[SERVICES].engine.connect() as conn:
        if not await queries.person_known(conn, person_id):
            raise Answer(_error_page(request, 404, "The index holds no person with this id."))
        report = await queries.person_report(conn, person_id)
    return session, report


def _report_context(report: queries.PersonReport, viewer: str | None) -> dict[str, Any]:
    return {
        "report": report,
        "shared": sum(1 for d in report.decisions if d.outcome == "permit"),
        "refused": sum(1 for d in report.decisions if d.outcome != "permit"),
        "generated": datetime.now(UTC),
        "viewer": viewer,
    }


async def person_report(request: web.Request) -> web.Response:
    """Who received what about one person, when, under which agreement and basis."""
    session, report = await _person(request)
    seqs = [d.seq for d in report.decisions]
    await _viewed(request, session, "person-report", (report.person_id,), seqs)
    return _render(request, "person.html", **_report_context(report, session.user))


async def person_evidence_pack(request: web.Request) -> web.Response:
    """The report, the FHIR AuditEvent Bundle and the receipts, as one zip."""
    session, report = await _person(request)
    seqs = [d.seq for d in report.decisions]
    await _viewed(request, session, "evidence-pack", (report.person_id,), seqs)
    state = _state(request)
    report_html = state.templates.get_template("person.html").render(
        user=None,
        roles=(),
        csrf_token=lambda: "",
        request_id=None,
        standalone=True,
        inline_css=CSS.decode("utf-8"),
        origin=state.gateway.ledger.origin,
        **_report_context(report, session.user),
    )
    checkpointer = request.config_dict.get(CHECKPOINTER)
    data = await evidence_pack(
        request.config_dict[SERVICES].engine,
        report,
        report_html,
        origin=state.gateway.ledger.origin,
        sign=checkpointer.on_demand if checkpointer is not None else None,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    filename = f"evidence-pack-{report.person_id}-{stamp}.zip"
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- override review -----------------------------------------------------------------------------


async def _overrides_page(
    request: web.Request, *, status: int = 200, errors: dict[str, str] | None = None
) -> web.Response:
    async with request.config_dict[SERVICES].engine.connect() as conn:
        queue = await queries.override_queue(conn)
    return _render(request, "overrides.html", status=status, queue=queue, errors=errors or {})


async def overrides(request: web.Request) -> web.Response:
    """Flagged decisions waiting for review, and those reviewed."""
    await _require(request, IG_OFFICER)
    return await _overrides_page(request)


def _names_an_nhs_number(text: str) -> bool:
    for match in _NHS_LIKE.finditer(text):
        digits = "".join(match.groups())
        if nhs_number_check_digit(digits[:9]) == int(digits[9]):
            return True
    return False


async def review_override(request: web.Request) -> web.Response:
    """Record an IG officer's review of one flagged decision (an ``override.reviewed`` entry)."""
    session = await _require(request, IG_OFFICER)
    form = await _form(request)
    await _check_csrf(request, form)
    raw_seq = request.match_info["seq"]
    if not (raw_seq.isascii() and raw_seq.isdigit() and len(raw_seq) < 19):
        return _error_page(request, 404, "There is no flagged decision with this number.")
    seq = int(raw_seq)
    async with request.config_dict[SERVICES].engine.connect() as conn:
        decision = await queries.flagged_decision(conn, seq)
        reviewed = decision is not None and await queries.already_reviewed(conn, seq)
    if decision is None:
        return _error_page(request, 404, "There is no flagged decision with this number.")
    if reviewed:
        return _error_page(
            request,
            409,
            "This decision has already been reviewed.",
            link=("/review/overrides", "Back to override review"),
        )
    comment = str(form.get("comment", "")).strip()
    field_id = f"comment-{seq}"
    problem = None
    if not comment:
        problem = "Write a review comment"
    elif len(comment) > 2000:
        problem = "The review comment must be 2,000 characters or fewer"
    elif _names_an_nhs_number(comment):
        # SECURITY: the ledger holds no identifiers; a comment naming one is refused, unechoed.
        problem = (
            "The review comment seems to contain an NHS number: describe the decision "
            "without identifiers"
        )
    if problem is not None:
        return await _overrides_page(request, status=400, errors={field_id: problem})
    await _record(
        request,
        OverrideReviewed(
            **_common(request),
            reviewed_seq=seq,
            reviewer=session.user or "",
            role=IG_OFFICER,
            comment=comment,
        ),
    )
    return _see_other("/review/overrides")


# -- ledger status -------------------------------------------------------------------------------


async def ledger_status(request: web.Request) -> web.Response:
    """Entries, tree size, the newest checkpoint and its age, the last verification."""
    await _require(request, IG_OFFICER, OPS)
    return await _ledger_page(request)


async def _ledger_page(
    request: web.Request, *, status: int = 200, busy: bool = False
) -> web.Response:
    async with request.config_dict[SERVICES].engine.connect() as conn:
        current = await queries.ledger_status(conn)
    now = datetime.now(UTC)
    verified = current.last_verified
    verified_age = None
    if verified is not None:
        verified_age = age(now - datetime.fromisoformat(str(verified["at"]).replace("Z", "+00:00")))
    checkpoint_age = age(now - current.checkpoint_at) if current.checkpoint_at is not None else None
    return _render(
        request,
        "ledger.html",
        status=status,
        ledger=current,
        verified=verified,
        verified_age=verified_age,
        checkpoint_age=checkpoint_age,
        busy=busy,
    )


async def verify_ledger(request: web.Request) -> web.Response:
    """Verify the whole ledger off the event loop and record the result (``ledger.verified``)."""
    session = await _require(request, IG_OFFICER, OPS)
    form = await _form(request)
    await _check_csrf(request, form)
    state = _state(request)
    if state.verifying.locked():
        return await _ledger_page(request, status=409, busy=True)
    async with state.verifying:
        started = time.perf_counter()
        checkpointer = request.config_dict.get(CHECKPOINTER)
        outcome = await run_verification(
            state.gateway, checkpointer.verifiers if checkpointer is not None else None
        )
        log.info(
            "review_ledger_verified",
            intact=outcome.intact,
            entries=outcome.entries,
            seconds=round(time.perf_counter() - started, 3),
        )
        await _record(
            request,
            LedgerVerified(
                **_common(request),
                intact=outcome.intact,
                entries=outcome.entries,
                tree_size=outcome.tree_size,
                first_bad_seq=outcome.first_bad_seq,
                reason=outcome.reason,
                by=session.user or "",
            ),
        )
    return _see_other("/review/ledger")


# -- dead letters --------------------------------------------------------------------------------


async def dead_letters_page(request: web.Request) -> web.Response:
    """Dead-lettered deliveries (partner, kind, attempts, last error, age; never the body), each
    with a Replay form."""
    session = await _require(request, IG_OFFICER, OPS)
    async with request.config_dict[SERVICES].engine.connect() as conn:
        letters = await dead_letters(conn)
    now = datetime.now(UTC)
    replayed = request.query.get("replayed", "")
    return _render(
        request,
        "dead_letters.html",
        letters=letters,
        ages={d.id: age(now - d.created_at) for d in letters},
        replayed=replayed if queries.is_uuid(replayed) else None,
        can_see_exchanges=session.has_role(IG_OFFICER),
    )


async def replay_dead_letter(request: web.Request) -> web.Response:
    """Put one dead-lettered delivery back in the outbox; ``delivery.replayed`` names the
    operator, in the same transaction."""
    session = await _require(request, IG_OFFICER, OPS)
    form = await _form(request)
    await _check_csrf(request, form)
    outbox_id = request.match_info["outbox_id"]
    if not queries.is_uuid(outbox_id):
        return _error_page(request, 404, "There is no delivery with this id.")
    done = await replay(
        request.config_dict[SERVICES],
        outbox_id,
        operator=session.user or "",
        request_id=request.get(REQUEST_ID),
    )
    if done is None:
        return _error_page(
            request,
            409,
            "This delivery is not dead-lettered: it was replayed or delivered already, or there "
            "is no such delivery.",
            link=("/review/dead-letters", "Back to dead letters"),
        )
    request.config_dict[METRICS].replays.labels(done.partner).inc()
    worker = request.config_dict.get(DELIVERY)
    if worker is not None:
        worker.wake()
    log.info("review_delivery_replayed", outbox_id=outbox_id)
    return _see_other("/review/dead-letters?" + urlencode({"replayed": outbox_id}))
