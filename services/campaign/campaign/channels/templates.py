"""Marketer-written templates, rendered per customer in a Jinja2 sandbox.

Templates are untrusted code: they run in an :class:`ImmutableSandboxedEnvironment` (no attribute
access to internals such as ``__class__``, no mutation of the context), with ``StrictUndefined`` (a
misspelt variable fails the message instead of sending "Dear ,"), no loaders (no ``include`` or
``import`` of files), and caps on what could exhaust a worker: ``range`` is limited, ``*``/``**`` and the
padding filters refuse huge results, and every rendered field is cut off at
``settings.template_max_output_chars``.

Email bodies are HTML and autoescaped; every ``href="http(s)://..."`` in the output becomes a tracked
link, and an open pixel and an unsubscribe link are added. Compilation is cached per content id (and
checked against the content's text), so a batch of thousands of messages compiles each template once.

What a template sees (``audience.service.render_context``): ``customer`` (``first_name``, ``name``,
``email``, ``city``, ``traits``, ``value_tier``, ``lifecycle_stage``, ``order_count``,
``last_order_at``...), ``recommendations`` (a list of ``{sku, name, category, price}``), plus
``message_id`` and, in email, ``unsubscribe_url`` (place it yourself, or a footer link is added).

Product recommendations, either ready-made::

    {{ recommendation_block(recommendations) }}

or written out (email, autoescaped)::

    {% for p in recommendations %}
      <a href="https://shop.example/p/{{ p.sku }}">{{ p.name }}</a> {{ p.price|money }}
    {% else %}
      <a href="https://shop.example/new">See what is new</a>
    {% endfor %}
"""

from __future__ import annotations

import contextvars
import html
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, pass_environment
from jinja2.exceptions import SecurityError
from jinja2.filters import do_center, do_format, do_indent, do_slice
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from campaign.channels.errors import TemplateRenderError
from campaign.channels.tracking import MAX_URL_BYTES, TokenKind, TokenSigner, tracking_url
from campaign.channels.types import Channel, MessageContent, RenderedMessage
from campaign.settings import CampaignSettings

# Loops in a message need tens of items (recommendations, order lines), not millions.
MAX_RANGE = 1_000
MAX_RANGE_PER_RENDER = 10_000
MAX_REPEAT_CHARS = 10_000  # "ab" * n, padding filters, format widths
_CACHE_SIZE = 2_048


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """Why a content cannot go out: ``field`` is ``subject``, ``body`` or ``payload_template.<key>``;
    ``customer_id`` names the sample customer it failed for (None for syntax problems)."""

    field: str
    message: str
    customer_id: uuid.UUID | None = None


_range_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_range_budget")


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() in a template is limited to {MAX_RANGE} items")
    budget = _range_budget.get(None)
    if budget is not None:
        budget[0] -= len(numbers)
        if budget[0] < 0:
            raise SecurityError(f"range() loops in a template are limited to {MAX_RANGE_PER_RENDER} items")
    return numbers


def _check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_REPEAT_CHARS:
        raise SecurityError(f"widths in a template are limited to {MAX_REPEAT_CHARS}")


_FORMAT_WIDTH = re.compile(r"%[-+ #0]*(\d+)?(?:\.(\d+))?")


_FORMAT_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")  # the spec of each "{field:spec}" in str.format


def _check_percent_format(value: str) -> None:
    for match in _FORMAT_WIDTH.finditer(value):
        for group in match.groups():
            if group is not None and int(group) > MAX_REPEAT_CHARS:
                raise SecurityError(f"format widths in a template are limited to {MAX_REPEAT_CHARS}")


def _safe_format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_percent_format(str(value))
    return do_format(value, *args, **kwargs)


def _safe_center(value: str, width: int = 80) -> str:
    _check_width(width)
    return do_center(value, width)


def _safe_indent(value: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _check_width(width)
    if isinstance(width, str) and len(width) > MAX_REPEAT_CHARS:
        raise SecurityError("indent is too long")
    return do_indent(value, width, first, blank)


def _safe_slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> Any:
    if slices > MAX_RANGE:
        raise SecurityError(f"slice() in a template is limited to {MAX_RANGE} parts")
    return do_slice(value, slices, fill_with)


def _money(value: Any, currency: str = "") -> str:
    """``12900`` → ``12,900`` (whole units), ``12.5`` → ``12.50``; ``currency`` is put in front."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"
    return f"{currency}{text}"


_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox plus the resource caps the module docstring lists."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponents in a template are limited to 64")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_REPEAT_CHARS
                ):
                    raise SecurityError(f"repetition in a template is limited to {MAX_REPEAT_CHARS} items")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # The sandbox hands str.format out wrapped (functools.update_wrapper): look through the wrapper.
        method = getattr(__obj, "__wrapped__", __obj)
        name, bound_to = getattr(method, "__name__", None), getattr(method, "__self__", None)
        if isinstance(bound_to, str):
            if name in _PADDING_METHODS:
                for width in (*args, *kwargs.values()):
                    _check_width(width)
            elif name in ("format", "format_map"):
                for spec in _FORMAT_SPEC.findall(bound_to):
                    for number in re.findall(r"\d+", spec):
                        _check_width(int(number))
        return super().call(__context, __obj, *args, **kwargs)


@pass_environment
def _recommendation_block_html(
    env: Any, recommendations: Sequence[Mapping[str, Any]], limit: int = 3
) -> Markup:
    items = Markup("").join(
        Markup("<li>{name} <span>{price}</span></li>").format(
            name=p.get("name", ""), price=_money(p.get("price", ""))
        )
        for p in list(recommendations)[:limit]
    )
    return Markup('<ul class="recommendations">{}</ul>').format(items) if items else Markup("")


@pass_environment
def _recommendation_block_text(env: Any, recommendations: Sequence[Mapping[str, Any]], limit: int = 3) -> str:
    return "\n".join(
        f"- {p.get('name', '')} {_money(p.get('price', ''))}" for p in list(recommendations)[:limit]
    )


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


def _environment(*, html_output: bool) -> _Sandbox:
    env = _Sandbox(
        undefined=StrictUndefined,
        autoescape=html_output,
        loader=None,
        auto_reload=False,
        # A profile field that is known but empty renders as nothing, never as the word "None";
        # StrictUndefined still fails a variable that does not exist at all.
        finalize=_blank_none,
    )
    env.globals.clear()  # no lipsum/cycler/joiner/dict; only what is listed here
    env.globals["range"] = _safe_range
    env.globals["recommendation_block"] = (
        _recommendation_block_html if html_output else _recommendation_block_text
    )
    env.filters["format"] = _safe_format
    env.filters["center"] = _safe_center
    env.filters["indent"] = _safe_indent
    env.filters["slice"] = _safe_slice
    env.filters["money"] = _money
    return env


_HTML = _environment(html_output=True)
_TEXT = _environment(html_output=False)


def _env_for(channel: Channel, field: str) -> _Sandbox:
    return _HTML if channel == Channel.EMAIL and field == "body" else _TEXT


# ---- compilation, cached per content ----

# A payload template compiled: the same shape, with each string replaced by its Template.
_Compiled = Any


@dataclass(frozen=True, slots=True)
class _CompiledContent:
    content: MessageContent
    subject: Template | None
    body: Template
    payload: _Compiled


_cache: OrderedDict[uuid.UUID, _CompiledContent] = OrderedDict()


def _compile_payload(value: Any, field: str, problems: list[TemplateProblem] | None) -> _Compiled:
    if isinstance(value, str):
        return _compile_field(_TEXT, value, field, problems)
    if isinstance(value, dict):
        return {key: _compile_payload(item, f"{field}.{key}", problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_compile_payload(item, f"{field}.{i}", problems) for i, item in enumerate(value)]
    return value


def _compile_field(
    env: _Sandbox, source: str, field: str, problems: list[TemplateProblem] | None
) -> Template | None:
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        message = f"line {exc.lineno}: {exc.message}"
    except SecurityError as exc:  # the optimizer folds constants, so caps can trip at compile time
        message = str(exc)
    if problems is None:
        raise TemplateRenderError(field, message)
    problems.append(TemplateProblem(field=field, message=message))
    return None


def _compiled(content: MessageContent) -> _CompiledContent:
    cached = _cache.get(content.id)
    if cached is not None and (cached.content is content or cached.content == content):
        _cache.move_to_end(content.id)
        return cached
    subject = _compile_field(_TEXT, content.subject, "subject", None) if content.subject is not None else None
    body = _compile_field(_env_for(content.channel, "body"), content.body, "body", None)
    assert body is not None  # _compile_field raises when it cannot compile and problems is None
    compiled = _CompiledContent(
        content=content,
        subject=subject,
        body=body,
        payload=_compile_payload(content.payload_template or {}, "payload_template", None),
    )
    _cache[content.id] = compiled
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return compiled


# ---- rendering ----


def _customer_id_of(context: Mapping[str, Any]) -> uuid.UUID | None:
    customer = context.get("customer")
    if isinstance(customer, Mapping):
        value = customer.get("customer_id") or customer.get("id")
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value)) if value else None
        except ValueError:
            return None
    return None


def _render_field(template: Template, context: Mapping[str, Any], field: str, max_chars: int) -> str:
    token = _range_budget.set([MAX_RANGE_PER_RENDER])
    try:
        parts: list[str] = []
        length = 0
        for chunk in template.generate(context):
            length += len(chunk)
            if length > max_chars:
                raise TemplateRenderError(field, f"the rendered text is longer than {max_chars} characters")
            parts.append(chunk)
        return "".join(parts)
    except TemplateRenderError:
        raise
    except Exception as exc:  # templates are user code: any failure is this message's problem
        message = str(exc) or type(exc).__name__
        raise TemplateRenderError(field, message[:500], customer_id=_customer_id_of(context)) from exc
    finally:
        _range_budget.reset(token)


def _render_payload(compiled: _Compiled, context: Mapping[str, Any], field: str, max_chars: int) -> Any:
    if isinstance(compiled, Template):
        return _render_field(compiled, context, field, max_chars)
    if isinstance(compiled, dict):
        return {
            key: _render_payload(item, context, f"{field}.{key}", max_chars) for key, item in compiled.items()
        }
    if isinstance(compiled, list):
        return [_render_payload(item, context, f"{field}.{i}", max_chars) for i, item in enumerate(compiled)]
    return compiled


_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def tracking_signer(settings: CampaignSettings) -> TokenSigner:
    # One signer per secret: deriving its key costs a hash, and render runs thousands of times a second.
    signer = _signers.get(settings.tracking_secret)
    if signer is None:
        signer = _signers[settings.tracking_secret] = TokenSigner(settings.tracking_secret)
    return signer


_signers: dict[str, TokenSigner] = {}


def unsubscribe_url(message_id: uuid.UUID, settings: CampaignSettings) -> str:
    """The one-click unsubscribe URL of a message (the body link and the ``List-Unsubscribe`` header)."""
    token = tracking_signer(settings).sign(TokenKind.UNSUBSCRIBE, message_id)
    return tracking_url(settings.public_base_url, TokenKind.UNSUBSCRIBE, token)


def _track_email(body: str, *, message_id: uuid.UUID, unsubscribe: str, settings: CampaignSettings) -> str:
    signer = tracking_signer(settings)
    own_prefix = settings.public_base_url.rstrip("/") + "/t/"

    def rewrite(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3))
        if url.startswith(own_prefix) or len(url.encode()) > MAX_URL_BYTES:
            return match.group(0)
        tracked = tracking_url(
            settings.public_base_url, TokenKind.CLICK, signer.sign(TokenKind.CLICK, message_id, url)
        )
        return f"{match.group(1)}{match.group(2)}{tracked}{match.group(2)}"

    body = _HREF.sub(rewrite, body)
    pixel = tracking_url(settings.public_base_url, TokenKind.OPEN, signer.sign(TokenKind.OPEN, message_id))
    extra = ""
    if unsubscribe not in body:
        extra += (
            f'<p style="font-size:12px;color:#888888"><a href="{escape(unsubscribe)}">Unsubscribe</a></p>'
        )
    extra += f'<img src="{escape(pixel)}" width="1" height="1" alt="" style="display:block;border:0">'
    ends = list(_BODY_END.finditer(body))
    if ends:
        at = ends[-1].start()
        return body[:at] + extra + body[at:]
    return body + extra


def _single_line(text: str) -> str:
    # A subject is a mail header: a line break in it (from a customer's name, say) must never split it.
    return " ".join(text.split())


def render(
    content: MessageContent, context: Mapping[str, Any], *, message_id: uuid.UUID, settings: CampaignSettings
) -> RenderedMessage:
    """Render one content for one customer.

    ``context`` is ``audience.service.render_context(member, recommendations)``. Email bodies are
    autoescaped HTML with tracked links, an open pixel and an unsubscribe link. Raises
    :class:`TemplateRenderError` (naming the field) when the template cannot be rendered for this
    customer: fail that message, not the batch.
    """
    compiled = _compiled(content)
    max_chars = settings.template_max_output_chars
    scope: dict[str, Any] = {**context, "message_id": str(message_id)}
    unsubscribe = ""
    if content.channel == Channel.EMAIL:
        unsubscribe = unsubscribe_url(message_id, settings)
        scope["unsubscribe_url"] = unsubscribe
    subject = (
        _single_line(_render_field(compiled.subject, scope, "subject", max_chars))
        if compiled.subject is not None
        else None
    )
    body = _render_field(compiled.body, scope, "body", max_chars)
    if content.channel == Channel.EMAIL:
        body = _track_email(body, message_id=message_id, unsubscribe=unsubscribe, settings=settings)
    payload = _render_payload(compiled.payload, scope, "payload_template", max_chars)
    return RenderedMessage(subject=subject, body=body, payload=payload if isinstance(payload, dict) else {})


def check_template(
    channel: Channel | str,
    subject: str | None,
    body: str,
    payload_template: Mapping[str, Any] | None,
    sample_contexts: Sequence[Mapping[str, Any]],
) -> list[TemplateProblem]:
    """Everything wrong with a content before launch: syntax errors, a missing email subject, and render
    failures (missing variables, sandbox refusals) against each sample customer's context.

    With no sample contexts only the syntax is checked (StrictUndefined cannot know which variables an
    absent customer would have).
    """
    channel = Channel(channel)
    problems: list[TemplateProblem] = []
    if channel == Channel.EMAIL and not (subject or "").strip():
        problems.append(TemplateProblem(field="subject", message="an email needs a subject"))
    if not body.strip():
        problems.append(TemplateProblem(field="body", message="the body must not be blank"))
    compiled_subject = _compile_field(_TEXT, subject, "subject", problems) if subject is not None else None
    compiled_body = _compile_field(_env_for(channel, "body"), body, "body", problems)
    compiled_payload = _compile_payload(dict(payload_template or {}), "payload_template", problems)
    if problems:
        return problems
    max_chars = CampaignSettings.model_fields["template_max_output_chars"].default
    seen: set[tuple[str, str]] = set()
    sample_id = uuid.UUID(int=0)
    fields: list[tuple[str, Callable[[dict[str, Any]], Any]]] = []
    if compiled_subject is not None:
        fields.append(("subject", lambda scope: _render_field(compiled_subject, scope, "subject", max_chars)))
    if compiled_body is not None:
        fields.append(("body", lambda scope: _render_field(compiled_body, scope, "body", max_chars)))
    fields.append(
        (
            "payload_template",
            lambda scope: _render_payload(compiled_payload, scope, "payload_template", max_chars),
        )
    )
    for context in sample_contexts:
        scope = {**context, "message_id": str(sample_id), "unsubscribe_url": "https://example.invalid/u"}
        for _, render_one in fields:
            try:
                render_one(scope)
            except TemplateRenderError as exc:
                if (exc.field, exc.message) in seen:
                    continue  # the same mistake for every customer is one problem, named once
                seen.add((exc.field, exc.message))
                problems.append(
                    TemplateProblem(
                        field=exc.field, message=exc.message, customer_id=_customer_id_of(context)
                    )
                )
    return problems


def literal(value: Any) -> str:
    """A Jinja expression that renders exactly ``value``: for building a template from trusted code
    around untrusted text (an idea's title), which must never be read as template syntax."""
    return "{{ " + json.dumps(str(value), ensure_ascii=False) + " }}"
