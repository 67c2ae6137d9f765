"""Rendering in the sandbox: variables, escaping, tracked links, caps, and check_template's problems."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from campaign.channels import templates
from campaign.channels.errors import TemplateRenderError
from campaign.channels.templates import check_template, literal, render
from campaign.channels.tracking import TokenKind, TokenSigner
from campaign.channels.types import Channel, MessageContent, Purpose
from campaign.settings import CampaignSettings

SETTINGS = CampaignSettings(environment="dev", public_base_url="https://crm.example")
SIGNER = TokenSigner(SETTINGS.tracking_secret)
CUSTOMER_ID = uuid.UUID("00000000-0000-0000-0000-00000000c001")


def context(**customer: Any) -> dict[str, Any]:
    return {
        "customer": {"customer_id": str(CUSTOMER_ID), "first_name": "Min-jun", "city": "Seoul", **customer},
        "recommendations": [
            {"sku": "SKU-1", "name": "Green Tea", "category": "tea", "price": 12900},
            {"sku": "SKU-2", "name": "Oolong <Premium>", "category": "tea", "price": 18500.5},
        ],
    }


def content(
    body: str,
    *,
    subject: str | None = "Hi",
    channel: Channel = Channel.EMAIL,
    payload: dict[str, Any] | None = None,
) -> MessageContent:
    return MessageContent(
        id=uuid.uuid4(),
        campaign_id=uuid.uuid4(),
        step_id="s1",
        variant_key="a",
        channel=channel,
        purpose=Purpose.MARKETING,
        subject=subject,
        body=body,
        payload_template=payload or {},
    )


def tokens(body: str, kind: TokenKind) -> list[str]:
    return re.findall(rf"https://crm\.example/t/{kind.value}/([A-Za-z0-9_-]+)", body)


def test_renders_customer_fields_and_escapes_them_in_email_html() -> None:
    rendered = render(
        content("<p>Hello {{ customer.first_name }}</p>", subject="For {{ customer.first_name }}"),
        context(first_name="<b>Kim</b>"),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert "<p>Hello &lt;b&gt;Kim&lt;/b&gt;</p>" in rendered.body
    assert rendered.subject == "For <b>Kim</b>"  # a header, not HTML: not escaped


def test_sms_body_is_plain_text_without_tracking() -> None:
    rendered = render(
        content("Hi {{ customer.first_name }} & co https://shop.example", subject=None, channel=Channel.SMS),
        context(),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert rendered.body == "Hi Min-jun & co https://shop.example"
    assert rendered.subject is None


def test_payload_template_strings_are_rendered_and_other_values_kept() -> None:
    rendered = render(
        content(
            "Hi",
            subject=None,
            channel=Channel.PUSH,
            payload={"title": "For {{ customer.city }}", "badge": 1, "data": {"deep": ["{{ message_id }}"]}},
        ),
        context(),
        message_id=uuid.UUID(int=7),
        settings=SETTINGS,
    )
    assert rendered.payload == {"title": "For Seoul", "badge": 1, "data": {"deep": [str(uuid.UUID(int=7))]}}


def test_email_links_become_signed_tracked_links_to_the_original_url() -> None:
    message_id = uuid.uuid4()
    rendered = render(
        content("<a href=\"https://shop.example/p?a=1&amp;b=2\">Shop</a> <a href='http://x.example/'>x</a>"),
        context(),
        message_id=message_id,
        settings=SETTINGS,
    )
    assert "shop.example" not in rendered.body
    clicks = [SIGNER.verify(token, TokenKind.CLICK) for token in tokens(rendered.body, TokenKind.CLICK)]
    assert [(c.message_id, c.url) for c in clicks if c] == [
        (message_id, "https://shop.example/p?a=1&b=2"),
        (message_id, "http://x.example/"),
    ]


def test_email_gets_an_open_pixel_and_an_unsubscribe_link_before_the_body_end() -> None:
    message_id = uuid.uuid4()
    rendered = render(
        content("<html><body><p>Hi</p></body></html>"), context(), message_id=message_id, settings=SETTINGS
    )
    assert rendered.body.endswith("</body></html>")
    [pixel] = tokens(rendered.body, TokenKind.OPEN)
    [unsubscribe] = tokens(rendered.body, TokenKind.UNSUBSCRIBE)
    opened, unsubscribed = (
        SIGNER.verify(pixel, TokenKind.OPEN),
        SIGNER.verify(unsubscribe, TokenKind.UNSUBSCRIBE),
    )
    assert opened is not None and opened.message_id == message_id
    assert unsubscribed is not None and unsubscribed.message_id == message_id


def test_a_template_placing_the_unsubscribe_url_gets_no_second_footer() -> None:
    rendered = render(
        content('<a href="{{ unsubscribe_url }}">Leave</a>'),
        context(),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert len(tokens(rendered.body, TokenKind.UNSUBSCRIBE)) == 1
    assert "Leave" in rendered.body


def test_recommendation_block_and_loop_render_products() -> None:
    rendered = render(
        content(
            "{{ recommendation_block(recommendations) }}"
            "{% for p in recommendations %}[{{ p.name }} {{ p.price|money('₩') }}]{% endfor %}"
        ),
        context(),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert "<li>Green Tea <span>12,900</span></li>" in rendered.body
    assert "Oolong &lt;Premium&gt;" in rendered.body
    assert "[Green Tea ₩12,900][Oolong &lt;Premium&gt; ₩18,500.50]" in rendered.body


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__class__.__init__.__globals__ }}",
        "{{ recommendations.append(1) }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_refuses_internals_and_mutation(body: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(content(body, channel=Channel.SMS), context(), message_id=uuid.uuid4(), settings=SETTINGS)
    assert caught.value.field == "body"


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'x' * 100000000 }}",
        "{{ 2 ** 100000000 }}",
        "{% for i in range(100000000) %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "{{ 'x'.ljust(100000000) }}",
        "{{ '%100000000d'|format(1) }}",
        "{{ '%100000000d' % 1 }}",
        "{{ '{:>100000000}'.format(1) }}",
        "{{ '{x:>100000000}'.format_map({'x': 1}) }}",
    ],
)
def test_resource_exhausting_templates_are_refused_before_they_allocate(body: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(content(body, channel=Channel.SMS), context(), message_id=uuid.uuid4(), settings=SETTINGS)
    assert "limited" in caught.value.message  # refused by a cap, not after building the huge text


def test_ordinary_formatting_still_works() -> None:
    rendered = render(
        content("{{ '%05d' % 42 }} {{ '{:>4}'.format(7) }} {{ 'ab' * 2 }} {{ 2 ** 3 }}", channel=Channel.SMS),
        context(),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert rendered.body == "00042    7 abab 8"


def test_output_over_the_length_cap_fails() -> None:
    small = SETTINGS.model_copy(update={"template_max_output_chars": 50})
    with pytest.raises(TemplateRenderError) as caught:
        render(
            content("{% for i in range(100) %}{{ i }}{% endfor %}", channel=Channel.SMS),
            context(),
            message_id=uuid.uuid4(),
            settings=small,
        )
    assert "longer than 50" in caught.value.message


def test_a_missing_variable_fails_the_message_naming_the_field_and_customer() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(
            content("Hi", subject="{{ customer.nickname }}"),
            context(),
            message_id=uuid.uuid4(),
            settings=SETTINGS,
        )
    assert caught.value.field == "subject"
    assert "nickname" in caught.value.message
    assert caught.value.customer_id == CUSTOMER_ID


def test_line_breaks_in_a_subject_are_folded() -> None:
    rendered = render(
        content("x", subject="Hi {{ customer.first_name }}"),
        context(first_name="A\r\nBcc: x@evil.example"),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert rendered.subject == "Hi A Bcc: x@evil.example"


def test_compiles_each_content_once() -> None:
    item = content("Hi {{ customer.first_name }}", channel=Channel.SMS)
    render(item, context(), message_id=uuid.uuid4(), settings=SETTINGS)
    compiled = templates._cache[item.id]
    render(item, context(), message_id=uuid.uuid4(), settings=SETTINGS)
    assert templates._cache[item.id] is compiled
    edited = MessageContent(**{**{f: getattr(item, f) for f in item.__slots__}, "body": "Bye"})
    assert render(edited, context(), message_id=uuid.uuid4(), settings=SETTINGS).body == "Bye"


def test_check_template_reports_syntax_errors_per_field() -> None:
    problems = check_template(
        Channel.PUSH, "{{ oops", "{% for %}", {"title": "{{ ok }}", "bad": "{% if %}"}, [context()]
    )
    assert sorted(p.field for p in problems) == ["body", "payload_template.bad", "subject"]
    assert all(p.customer_id is None for p in problems)


def test_check_template_reports_undefined_variables_for_the_sample_customer() -> None:
    other = uuid.uuid4()
    problems = check_template(
        Channel.EMAIL,
        "Hi {{ customer.first_name }}",
        "{{ customer.traits.tier }}",
        None,
        [context(traits={"tier": "gold"}), context(customer_id=str(other), traits={})],
    )
    assert [(p.field, p.customer_id) for p in problems] == [("body", other)]
    assert "tier" in problems[0].message


def test_check_template_needs_an_email_subject() -> None:
    problems = check_template("email", None, "<p>Hi</p>", None, [])
    assert [p.field for p in problems] == ["subject"]


def test_check_template_accepts_a_good_template() -> None:
    assert (
        check_template(
            Channel.SMS, None, "Hi {{ customer.first_name }}", {"x": "{{ message_id }}"}, [context()]
        )
        == []
    )


def test_literal_renders_untrusted_text_verbatim() -> None:
    title = 'Dark mode {{ 7*7 }} {% raw %} "quoted" \\ 한국어 😀\n'
    rendered = render(
        content(literal(title), subject=None, channel=Channel.IN_APP),
        context(),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert rendered.body == title


def test_a_known_but_empty_field_renders_as_nothing() -> None:
    rendered = render(
        content("Hi {{ customer.first_name }}!", subject=None, channel=Channel.SMS),
        context(first_name=None),
        message_id=uuid.uuid4(),
        settings=SETTINGS,
    )
    assert rendered.body == "Hi !"
