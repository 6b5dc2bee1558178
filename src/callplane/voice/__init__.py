"""The voice gateway: carriers' media streams in, the conversation engine, audio back out."""
