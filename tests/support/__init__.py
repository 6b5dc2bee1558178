"""What the tests run beside the app: a local website, an OpenAI-compatible model, a webhook
receiver (each a small HTTP server on 127.0.0.1, in a thread), and real `callplane` processes.

One home for them, so a test of any domain imports them from here rather than from another
domain's test folder.
"""
