"""`to_e164` over generated input: real numbers of many regions, however they are punctuated,
come out as their E.164 form; the output is a fixed point; nothing but InvalidPhoneNumber escapes.

What it does with the awkward cases, pinned here so a change is a decision, not an accident:
- Digits of any Unicode script (Arabic-Indic U+0664, Devanagari U+096A, fullwidth U+FF14, …)
  are read as the digits they are, and the result is plain ASCII E.164: `phonenumbers` normalizes
  every decimal digit (category Nd). No non-ASCII character ever reaches the output.
- The `00` international prefix in place of `+` is rejected: with no default region there is no
  way to know `00` is a dialling prefix, and guessing would register the wrong number.
"""

from __future__ import annotations

import re
import sys
import unicodedata

import phonenumbers
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164

E164 = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)


def _example_numbers() -> list[str]:
    """The libphonenumber example number of each region and line type, in E.164."""
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                found.add(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    return sorted(found)


EXAMPLES = _example_numbers()
# The zero of every Unicode decimal-digit run: chr(zero + d) is the digit d in that script.
DIGIT_ZEROS = [
    code
    for code in range(sys.maxunicode + 1)
    if unicodedata.category(chr(code)) == "Nd" and unicodedata.digit(chr(code)) == 0
]
SEPARATORS = ["", " ", "-", ".", "  ", " - ", "/"]

property_settings = settings(max_examples=50, deadline=None)


@st.composite
def formatted_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(E.164, the same number split into random groups joined by random punctuation)."""
    e164 = draw(st.sampled_from(EXAMPLES))
    parsed = phonenumbers.parse(e164)
    country_code = str(parsed.country_code)
    national = phonenumbers.national_significant_number(parsed)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(national) - 1)), max_size=4)))
    cuts = [c for c in cuts if 0 < c < len(national)]
    groups = [national[a:b] for a, b in zip([0, *cuts], [*cuts, len(national)], strict=True)]
    in_parens = draw(st.one_of(st.none(), st.integers(0, len(groups) - 1)))
    groups = [f"({g})" if i == in_parens else g for i, g in enumerate(groups)]
    text = draw(st.sampled_from([country_code, f"({country_code})"]))
    for group in groups:
        text += draw(st.sampled_from(SEPARATORS)) + group
    padding = draw(st.sampled_from(["", " ", "\t"]))
    return e164, f"{padding}+{text}{padding}"


def _in_script(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c in "0123456789" else c for c in text)


@property_settings
@given(case=formatted_numbers())
def test_formatted_example_numbers_normalize_to_e164(case: tuple[str, str]) -> None:
    e164, raw = case
    assert to_e164(raw) == e164
    assert to_e164(e164) == e164


@property_settings
@given(case=formatted_numbers())
def test_international_00_prefix_is_rejected_not_guessed(case: tuple[str, str]) -> None:
    _, raw = case
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw.replace("+", "00", 1))


@property_settings
@given(case=formatted_numbers(), data=st.data())
def test_non_ascii_digits_normalize_to_ascii(case: tuple[str, str], data: st.DataObject) -> None:
    e164, raw = case
    zeros = data.draw(st.lists(st.sampled_from(DIGIT_ZEROS), min_size=1, max_size=3))
    # Each digit in a script drawn from `zeros` (scripts may be mixed within one number).
    mixed = "".join(
        chr(data.draw(st.sampled_from(zeros)) + int(c)) if c.isascii() and c.isdigit() else c
        for c in raw
    )
    assert to_e164(mixed) == e164
    assert to_e164(_in_script(raw, zeros[0])) == e164


phone_like_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("+0123456789 -.()/#*x;=,"),
        st.sampled_from([chr(zero + d) for zero in DIGIT_ZEROS[:8] for d in range(10)]),
        st.characters(),
    ),
    max_size=70,
)


@st.composite
def noisy_numbers(draw: st.DrawFn) -> str:
    """A real number with arbitrary characters spliced in: often still parseable, often not."""
    text = draw(st.sampled_from(EXAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=3)) + text[at:]
    return text


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(phone_like_text, st.text(max_size=80), noisy_numbers()),
    region=st.one_of(
        st.none(), st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)), st.just("ZZ")
    ),
)
def test_any_text_is_e164_or_invalid_phone_number(raw: str, region: str | None) -> None:
    """Whatever comes in: InvalidPhoneNumber, or valid ASCII E.164 that is a fixed point."""
    try:
        result = to_e164(raw, region)
    except InvalidPhoneNumber:
        event("rejected")
        return
    event("accepted")
    assert E164.fullmatch(result), result
    assert phonenumbers.is_valid_number(phonenumbers.parse(result))
    assert to_e164(result) == result
    assert to_e164(result, region) == result


@pytest.mark.parametrize(
    "raw", ["+1 650-253-0000 ext. 7", "+16502530000;ext=7", "+1 650 253 0000 x7"]
)
def test_numbers_with_an_extension_are_rejected(raw: str) -> None:
    """E.164 has no extensions; registering or assigning `raw` must not hit the main line."""
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw)
