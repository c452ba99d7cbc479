"""What ``check --deploy`` refuses of the Haravan app's settings (asked through its adapter)."""

from connectors.checks import check_not_demo

PRODUCTION_URLS = {
    "HARAVAN_API_URL": "https://apis.haravan.com",
    "HARAVAN_ACCOUNTS_URL": "https://accounts.haravan.com",
    "HARAVAN_WEBHOOK_API_URL": "https://webhook.haravan.com",
}
SIMULATOR_PATHS = ("/haravan",)  # where sandbox/ serves its Haravan


def deploy_checks() -> list:
    return [
        *check_not_demo(
            "HARAVAN_CLIENT_SECRET",
            "demo-client-secret",
            app="haravan",
            number=1,
            what="your Haravan app's client secret (Haravan partner dashboard); it also verifies every "
            "webhook's signature",
        ),
        *check_not_demo(
            "HARAVAN_CLIENT_ID",
            "demo-client-id",
            app="haravan",
            number=2,
            what="your Haravan app's client id (Haravan partner dashboard)",
        ),
        *check_not_demo(
            "HARAVAN_VERIFY_TOKEN",
            "demo-verify-token",
            app="haravan",
            number=3,
            what="the verify token entered with the webhook URL in the Haravan partner dashboard",
        ),
    ]
