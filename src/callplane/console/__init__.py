"""The web console (`/console`): server-rendered pages over the domain services.

It calls the services in-process (never the HTTP API over the network) and checks the same scopes
as the API; sessions are server-side rows (`console_sessions`), CSRF-checked on every unsafe
method. See docs/console.md.
"""
