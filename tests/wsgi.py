"""One request through a WSGI handler, as gunicorn sends it: what the server is given."""

import io
import sys


def served(handler, path: str, **headers) -> tuple[str, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of a GET of ``path``; ``headers`` are environ entries."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **headers,
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer.update(status=status, headers=list(response_headers))

    body = handler(environ, start_response)
    content = b"".join(body)
    body.close()
    return answer["status"], answer["headers"], content
