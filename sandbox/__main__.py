"""``python -m sandbox --port 8010``: run the Nmbrs sandbox and print its demo credentials."""

from __future__ import annotations

import argparse

from werkzeug.serving import make_server

from .app import create_sandbox
from .data import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME
from .oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, print the credentials and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument(
        "--size", type=int, default=0, help="add a large account with N employees per company"
    )
    parser.add_argument("--companies", type=int, default=1, help="companies in the large account")
    parser.add_argument("--wage-types", type=int, default=300)
    parser.add_argument("--cost-centers", type=int, default=1000)
    parser.add_argument("--cost-units", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every SOAP call")
    args = parser.parse_args(argv)

    large = None
    if args.size:
        large = {
            "employees": args.size,
            "companies": args.companies,
            "wage_types": args.wage_types,
            "cost_centers": args.cost_centers,
            "cost_units": args.cost_units,
        }
    app, state = create_sandbox(large=large)
    state.set_latency(args.latency_ms)
    server = make_server(args.host, args.port, app, threaded=True)
    base = f"http://{args.host}:{server.server_port}"
    print(f"Nmbrs sandbox on {base}  (set NMBRS_BASE_URL={base})", flush=True)
    print("Demo account:", flush=True)
    print(f"  e-mail: {DEMO_USERNAME}", flush=True)
    print(f"  token:  {DEMO_TOKEN}", flush=True)
    print(f"  domain: {DEMO_DOMAIN}", flush=True)
    for account in state.summary()["accounts"]:
        if account["username"] != DEMO_USERNAME:
            print(
                f"Also: {account['username']} / {account['token']} / {account['domain']}",
                flush=True,
            )
    print("REST + OAuth (consent as the demo user on the sandbox's page):", flush=True)
    print(f"  REST base:         {base}/api/  (NMBRS_BASE_URL)", flush=True)
    print(f"  identity service:  {base}/connect/authorize, {base}/connect/token", flush=True)
    print(f"  client id:         {DEMO_CLIENT_ID}", flush=True)
    print(f"  client secret:     {DEMO_CLIENT_SECRET}", flush=True)
    print(f"  subscription key:  {DEMO_SUBSCRIPTION_KEY}", flush=True)
    print(
        f"Control API: {base}/_sandbox/  (reset, latency, failure, call/<method>, "
        "oauth/<method>, rest/<method>)",
        flush=True,
    )
    print(
        f"REST readings: POST {base}/_sandbox/rest/set_reading with links, totals, "
        "optional_fields, page_size_limit, withhold (see sandbox/rest_control.py)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        state.close()
        server.server_close()


if __name__ == "__main__":
    main()
