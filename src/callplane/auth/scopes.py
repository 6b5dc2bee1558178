"""The scope catalogue and what each role grants."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    AGENTS_READ = "agents:read"
    AGENTS_MANAGE = "agents:manage"
    PHONE_NUMBERS_READ = "phone_numbers:read"
    PHONE_NUMBERS_MANAGE = "phone_numbers:manage"
    WEB_WIDGETS_READ = "web_widgets:read"
    WEB_WIDGETS_MANAGE = "web_widgets:manage"
    CONVERSATIONS_READ = "conversations:read"
    CONVERSATIONS_READ_SENSITIVE = "conversations:read_sensitive"
    CONVERSATIONS_MANAGE = "conversations:manage"
    KNOWLEDGE_BASES_READ = "knowledge_bases:read"
    KNOWLEDGE_BASES_MANAGE = "knowledge_bases:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    ORGANIZATIONS_MANAGE = "organizations:manage"
    AUDIT_READ = "audit:read"
    WEBHOOKS_MANAGE = "webhooks:manage"


ALL_SCOPES: frozenset[str] = frozenset(scope.value for scope in Scope)

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": ALL_SCOPES,
    "viewer": frozenset(s for s in ALL_SCOPES if s.endswith(":read")),
}
ROLES = tuple(ROLE_SCOPES)
