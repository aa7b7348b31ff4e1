"""Gunicorn settings for the web process; the Procfile starts gunicorn with `--config` here.

The request-size limits of the request line and headers stay on the Procfile's command line,
beside the bind and the worker counts.
"""

from webapp.config import MAX_REQUEST_BYTES

# Access log on stdout, where the PaaS collects it, with secret query values redacted
# (the OAuth callback's `code` and `state`): see webapp/access_log.py.
accesslog = "-"
logger_class = "webapp.access_log.ScrubbedLogger"


def pre_request(worker, req):
    # The app refuses a body over its limit unread (413). Close the connection after that
    # answer: kept alive, gunicorn would read and discard the rest of the body (gigabytes,
    # if the client says so) before it could parse the next request.
    for name, value in req.headers:
        if name == "CONTENT-LENGTH" and value.isdigit() and int(value) > MAX_REQUEST_BYTES:
            req.must_close = True
