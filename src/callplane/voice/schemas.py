from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from callplane.kit.schemas import RequestModel


class TwilioCredentials(RequestModel):
    """A Twilio account: its SID and auth token (kept encrypted, never shown again)."""

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="`AC…` account SID.")
    auth_token: str = Field(min_length=16, max_length=128, description="The account's token.")


class TelnyxCredentials(RequestModel):
    """A Telnyx account: the API key (encrypted) and the webhook signing public key."""

    api_key: str = Field(min_length=8, max_length=200, description="Telnyx API v2 key.")
    public_key: str = Field(
        min_length=40, max_length=200, description="Base64 Ed25519 public key for webhooks."
    )


class TelephonyRead(BaseModel):
    """A carrier's configuration; its secret is never returned."""

    provider: Literal["twilio", "telnyx"]
    account_id: str = Field(description="Twilio account SID; `telnyx` for Telnyx.")
    secret_configured: bool = True
    created_at: datetime
    updated_at: datetime
