# ruff: noqa: S201 - debug=True is the published sample's, and the point of the test that runs it
"""The Cloud documentation's sample receiver with the secret check (the second app on the page), as published.

Source: ../shared/reference/cloud-webhook-docs.md, section Authentication. The page lost the code's line
breaks and indentation; they are restored here (with one blank line after the import, which the import
sorter asks for) and nothing else in the published code is changed: the same
single quotes, the hard-coded ``"super-secret-key"``, ``request.get_json()``, ``payload['event']``,
``payload['data']``, the prints, ``return 'Unauthorized', 401``, ``return 'OK'``, and
``app.run(debug=True)`` when run as a script. ``# fmt: off`` keeps ``ruff format`` from re-quoting it.

Added, only so that tests/test_cloud_sample.py can run it on a free port in either mode:

- :func:`serve`, which calls ``app.run`` with the loopback host (the published default), the port, the debug
  mode, and ``use_reloader=False``. With debug=True Flask would otherwise start Werkzeug's reloader, which
  re-executes the script in a child process and watches the files: the test would then start two processes
  and could stop only the parent. Everything else is what ``app.run`` does by default: Werkzeug's
  development server, threaded, with the interactive debugger (evalex) on when debug is True.
- In the ``__main__`` block, ``SAMPLE_PORT`` (and ``SAMPLE_DEBUG=1`` for debug mode) select :func:`serve`;
  without ``SAMPLE_PORT`` the script runs ``app.run(debug=True)`` exactly as published (port 5000, reloader).

The view function, the app and its configuration are untouched, so the receiver answers every request as the
published one does.
"""

import os

# fmt: off
from flask import Flask, request

app = Flask(__name__)
@app.route('/webhook', methods=['POST'])
def webhook():
    # authorise webhook requests
    secret = request.headers.get('X-Webhook-Secret', "")
    if secret != "super-secret-key":
        return 'Unauthorized', 401
    payload = request.get_json()
    event = payload['event']
    data = payload['data']
    print(f"Event: {event}")
    print(f"Data: {data}")
    # This event is sent by Cloud at the time of webhook validation
    if event == "Webhook Validate":
        return 'OK'
    # Its just for demo purpose, you can write your business logic here
    return 'OK'
# fmt: on


def serve(port: int, debug: bool) -> None:
    """Run the sample as published, on ``port`` (loopback), without the reloader's second process."""
    app.run(host="127.0.0.1", port=port, debug=debug, use_reloader=False)


# fmt: off
if __name__ == '__main__':
    if "SAMPLE_PORT" in os.environ:  # added: the test's port and mode
        serve(int(os.environ["SAMPLE_PORT"]), os.environ.get("SAMPLE_DEBUG") == "1")
    else:
        app.run(debug=True)
# fmt: on
