"""What we keep per meInvoice account: its invoice series and its session token."""

from django.db import models

from connectors.crypto import EncryptedJSONField
from connectors.models import TargetAccount, TenantScopedManager


class MeInvoiceTemplate(models.Model):
    """One invoice series of an account, as `invoice/templates` lists it."""

    account = models.ForeignKey(TargetAccount, on_delete=models.CASCADE, related_name="meinvoice_templates")
    template_id = models.CharField(max_length=64)  # IPTemplateID
    name = models.CharField(max_length=200, blank=True)
    inv_template_no = models.CharField(max_length=10, blank=True)
    inv_series = models.CharField(max_length=10)  # "1C26TAA"
    with_code = models.BooleanField(default=True)  # 2nd char C: the tax authority gives each invoice a code
    inactive = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_path = "account__connection__tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "inv_series"], name="one_series_per_account")
        ]
        ordering = ["inactive", "inv_series"]

    def __str__(self):
        return f"{self.inv_series} {self.name}".strip()


class MeInvoiceSession(models.Model):
    """The account's 14-day token, encrypted, shared by every worker so they do not log in each time."""

    account = models.OneToOneField(TargetAccount, on_delete=models.CASCADE, related_name="meinvoice_session")
    secrets = EncryptedJSONField(blank=True, default=dict, editable=False)
    expires_at = models.DateTimeField()

    def __str__(self):
        return f"session of {self.account_id} until {self.expires_at:%Y-%m-%d}"
