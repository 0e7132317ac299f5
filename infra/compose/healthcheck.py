"""Container healthcheck of the SensorGuard image: does the process answer HTTP on its port?

    python /app/infra/compose/healthcheck.py PORT [PATH]

Every route of every SensorGuard server needs an API key, its probes included, and a
healthcheck has none: a 401 or 403 still proves the server is up and routing requests. A
5xx, a refused connection or a timeout is unhealthy.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    port, path = argv[1], argv[2] if len(argv) > 2 else "/healthz"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5):
            return 0
    except urllib.error.HTTPError as err:
        return 0 if err.code < 500 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
