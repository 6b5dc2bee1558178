"""The gateway's small parts on their own: endpointing, tokens, encryption, signatures."""

from __future__ import annotations

import time

import pytest

from callplane.config import Settings
from callplane.kit.secrets import BadToken, SecretBox, SecretKeyMissing, TokenSigner
from callplane.voice.audio import FRAME_BYTES, frames, pcm_to_ulaw, ulaw_to_pcm
from callplane.voice.carriers import say_and_hang_up, twilio_signature, twilio_signature_valid
from callplane.voice.vad import Endpointer
from tests.support.carrier import speechlike


def test_endpointer_marks_the_start_and_the_end_of_speech() -> None:
    endpointer = Endpointer(silence_ms=300)
    audio = b"\x00" * FRAME_BYTES * 10 + speechlike(600) + b"\x00" * FRAME_BYTES * 30
    changes = [(i, c) for i, f in enumerate(frames(audio)) if (c := endpointer.feed(f))]
    assert [c for _, c in changes] == ["speech_start", "speech_end"]
    start, end = changes[0][0], changes[1][0]
    assert 10 <= start <= 16  # within a few frames of the speech
    # the end comes 300 ms (15 frames) of silence after the speech, VAD hangover aside
    assert 40 + 15 <= end <= 40 + 15 + 6


def test_silence_alone_is_not_speech() -> None:
    endpointer = Endpointer()
    assert [endpointer.feed(f) for f in frames(b"\x00" * FRAME_BYTES * 50)] == [None] * 50


def test_mulaw_round_trip_keeps_the_signal() -> None:
    pcm = speechlike(100)
    back = ulaw_to_pcm(pcm_to_ulaw(pcm))
    assert len(back) == len(pcm)
    import audioop

    assert audioop.rms(back, 2) == pytest.approx(audioop.rms(pcm, 2), rel=0.05)


def test_tokens_expire_and_cannot_be_forged() -> None:
    settings = Settings(env="test", secret_key="a-secret-key-for-tests")
    signer = TokenSigner(settings, "voice-call")
    token = signer.sign({"call": "CA1"}, 60)
    assert signer.verify(token)["call"] == "CA1"
    body, _, signature = token.partition(".")
    with pytest.raises(BadToken):
        signer.verify(body + "x." + signature)
    with pytest.raises(BadToken):
        TokenSigner(settings, "another-purpose").verify(token)
    with pytest.raises(BadToken):
        TokenSigner(Settings(env="test", secret_key="another-secret-key!!"), "voice-call").verify(
            token
        )
    expired = signer.sign({"call": "CA1"}, -1)
    with pytest.raises(BadToken, match="expired"):
        signer.verify(expired)
    assert time.time() < signer.verify(token)["exp"] <= time.time() + 60


def test_secrets_need_a_key_in_production() -> None:
    box = SecretBox(Settings(env="test", secret_key="a-secret-key-for-tests"))
    sealed = box.encrypt("auth-token")
    assert "auth-token" not in sealed and box.decrypt(sealed) == "auth-token"
    with pytest.raises(BadToken):
        SecretBox(Settings(env="test", secret_key="another-secret-key!!")).decrypt(sealed)
    production = Settings.model_construct(env="production", secret_key=None)
    with pytest.raises(SecretKeyMissing):
        SecretBox(production)


def test_twilio_signature_covers_the_url_and_every_parameter() -> None:
    params = {"CallSid": "CA1", "To": "+14155550100", "From": "+14155550101"}
    url = "https://voice.example.com/voice/twilio/incoming"
    signature = twilio_signature("token", url, params)
    assert twilio_signature_valid("token", url, params, signature)
    assert not twilio_signature_valid("other", url, params, signature)
    assert not twilio_signature_valid("token", url + "?x=1", params, signature)
    assert not twilio_signature_valid("token", url, {**params, "To": "+1"}, signature)
    assert not twilio_signature_valid("token", url, params, None)


def test_apologies_are_escaped_xml() -> None:
    assert "<Say>a &lt;b&gt; &amp; c</Say><Hangup/>" in say_and_hang_up("a <b> & c")
