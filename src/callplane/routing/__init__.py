"""Routing for voice runtimes: which agent version answers a phone number or a SIP URI, with its
config as the `telephone` channel sees it (`GET /core/routing/resolve`)."""
