"""Run the Koji hub emulator.

    python3 -m tests.hub --db PATH --topdir DIR [--port N]
        [--tls-cert F --tls-key F --client-ca F] [--no-scheduler]

Binds 127.0.0.1, prints one line "listening on http(s)://127.0.0.1:PORT/kojihub",
writes PORT to <db>.port, and exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from tests.hub.context import HubOptions
from tests.hub.server import make_server


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m tests.hub", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True, help="the SQLite state file")
    p.add_argument("--topdir", required=True, help="Koji's topdir (work/ uploads, /kojifiles)")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--bind", default="127.0.0.1",
                   help="address to listen on (the URLs printed stay 127.0.0.1's)")
    p.add_argument("--tls-cert", help="server certificate (PEM); enables HTTPS")
    p.add_argument("--tls-key", help="server key (PEM)")
    p.add_argument("--client-ca", help="CA for client certificates (sslLogin)")
    p.add_argument("--no-scheduler", action="store_true",
                   help="host.getTasks does not schedule; tests assign tasks by hand")
    p.add_argument("--run-interval", type=float, default=0.0,
                   help="scheduler RunInterval in seconds (hub default 60; here 0)")
    p.add_argument("--session-renewal-timeout", type=float, default=1440.0,
                   help="SessionRenewalTimeout in minutes (hub default 1440; 0 = never)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("--tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    opts = HubOptions(
        db=os.path.abspath(args.db),
        topdir=os.path.abspath(args.topdir),
        scheduler=not args.no_scheduler,
        run_interval=args.run_interval,
        session_renewal_timeout=args.session_renewal_timeout,
    )
    server = make_server(opts, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key,
                         client_ca=args.client_ca, bind=args.bind)

    def stop(signum, frame):
        # shutdown() waits for serve_forever(), which runs in this (main) thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    with open(opts.db + ".port", "w") as fo:
        fo.write(f"{port}\n")
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    print("hub: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
