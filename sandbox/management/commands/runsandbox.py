"""``python manage.py runsandbox`` — serve the simulators with their demo state (and, on request, a
stream of generated orders)."""

import logging
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from sandbox import amis, demo_data, maventa, meinvoice, severa
from sandbox.generator import OrderGenerator
from sandbox.server import default_app, make_server


class Command(BaseCommand):
    help = "Serve the outside-service simulators (Haravan at /haravan/) on a local port."
    requires_system_checks = []  # the simulators use no models; start even while the app is half-built

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument(
            "--generate",
            action="store_true",
            help="also create, pay and cancel orders through the API, and move new Severa invoices to "
            '"to transfer"',
        )
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between generated orders")
        parser.add_argument(
            "--invoice-interval",
            type=float,
            default=30.0,
            help='seconds between new Severa invoices moved to "to transfer" (with --generate)',
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed of the order generator")

    def handle(self, *args, **options):
        logging.getLogger("sandbox").setLevel(logging.INFO)
        app = default_app()
        server = make_server(app, options["host"], options["port"])
        port = server.server_port
        local_host = "127.0.0.1" if options["host"] in ("0.0.0.0", "::", "") else options["host"]  # noqa: S104
        base = f"http://{local_host}:{port}"
        haravan = app["/haravan"]
        self.stdout.write(f"Sandbox on {base}")
        self.stdout.write(
            f"  Haravan API   {base}/haravan/com/  (Bearer {demo_data.DEMO_TOKEN}, org {demo_data.SHOP_ID})"
        )
        self.stdout.write(f"  OAuth         {base}/haravan/accounts/connect/authorize")
        self.stdout.write(f"  Control       {base}/haravan/_sandbox/knobs | calls | webhooks | reset")
        self.stdout.write(f"  Webhooks to   {haravan.webhook_url}")
        if "/meinvoice" in app.mounts:
            accounts = ", ".join(meinvoice.DEMO_ACCOUNTS)
            self.stdout.write(
                f"  meInvoice API {base}/meinvoice/api/integration  "
                f"(appid {meinvoice.DEMO_APPID}, {meinvoice.DEMO_USERNAME}/{meinvoice.DEMO_PASSWORD}, "
                f"MST {accounts}; control {base}/meinvoice/_sandbox/)"
            )
        if "/amis" in app.mounts:
            companies = ", ".join(amis.DEMO_COMPANIES)
            self.stdout.write(
                f"  AMIS API      {base}/amis/apir/sync/actopen/  (app_id {amis.DEMO_APP_ID}, "
                f"access code {amis.DEMO_ACCESS_CODE}, companies {companies}; control {base}/amis/_sandbox/)"
            )
        if "/severa" in app.mounts:
            self.stdout.write(
                f"  Severa API    {base}/severa/rest-api/v1/  (client_id {severa.DEMO_CLIENT_ID}, "
                f"client_secret {severa.DEMO_CLIENT_SECRET}; control {base}/severa/_sandbox/)"
            )
            if options["generate"]:
                app["/severa"].set_knobs(generate_every_seconds=options["invoice_interval"])
                self.stdout.write(
                    f'  Moving a new Severa invoice to "to transfer" every {options["invoice_interval"]:g}s '
                    "(when the API is next called)"
                )
        if "/maventa" in app.mounts:
            companies = ", ".join(c["name"] for c in maventa.DEMO_COMPANIES)
            self.stdout.write(
                f"  Maventa API   {base}/maventa/v1/  (vendor_api_key {maventa.DEMO_VENDOR_API_KEY}, "
                f"companies {companies}; control {base}/maventa/_sandbox/)"
            )
        if settings.HARAVAN_API_URL.rstrip("/") != f"{base}/haravan":
            self.stdout.write(
                self.style.WARNING(
                    f"  Note: settings.HARAVAN_API_URL is {settings.HARAVAN_API_URL}, not {base}/haravan"
                )
            )

        stop = threading.Event()
        worker = None
        if options["generate"]:
            generator = OrderGenerator(f"{base}/haravan", demo_data.DEMO_TOKEN, seed=options["seed"])
            worker = threading.Thread(
                target=generator.run, args=(options["interval"], stop), name="order-generator", daemon=True
            )
            worker.start()
            self.stdout.write(f"  Generating an order every {options['interval']:g}s")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            self.stdout.write("Stopping.")
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=5)
            server.server_close()
            app.close()
