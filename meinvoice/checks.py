"""Deploy checks for the meInvoice app's settings (registered from MeinvoiceConfig.ready())."""

from django.core.checks import Tags, register

from connectors.checks import check_urls

PRODUCTION_URLS = {
    "MEINVOICE_API_URL": "https://api.meinvoice.vn/api/integration",
    "MEINVOICE_LOOKUP_URL": "https://www.meinvoice.vn/tra-cuu/?sc={code}",
}
SIMULATOR_PATHS = ("/meinvoice",)  # where sandbox/ serves its meInvoice


@register(Tags.security, deploy=True)
def meinvoice_deploy_check(app_configs, **kwargs):
    return check_urls(PRODUCTION_URLS, app="meinvoice", simulator_paths=SIMULATOR_PATHS)
