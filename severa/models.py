"""A Severa organisation connected to the product: its REST API credentials and what we read of it."""

from django.db import models

from connectors.crypto import EncryptedJSONField
from connectors.models import Tenant, TenantScopedManager


class SeveraOrganisation(models.Model):
    """One Severa organisation (one REST API client). Its VAT number is the connection's source key.

    ``companies``: the organisation's own companies as read from ``/v1/organizationdetails`` and the
    business units, each ``{"guid", "name", "vat_number", "country" (ISO alpha-2), "currency",
    "root_business_unit", "address": {...}}`` — each one with a VAT number of its own gets a Maventa account.
    ``business_units``: ``{"guid", "name", "company_guid", "company_name", "own_company": bool}``: the units
    that are not their own company use their company's account. ``statuses``: Severa's invoice statuses
    ``{"guid", "name", "is_sent", "is_active"}``.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="severa_organisations")
    vat_number = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # {"client_id": …, "client_secret": …}: encrypted, never rendered, never logged.
    secrets = EncryptedJSONField(blank=True, default=dict, editable=False)
    companies = models.JSONField(default=list, blank=True)
    business_units = models.JSONField(default=list, blank=True)
    statuses = models.JSONField(default=list, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    def __str__(self):
        return f"{self.name or 'Severa organisation'} ({self.vat_number})"

    @property
    def client_id(self) -> str:
        return self.secrets.get("client_id", "")

    @property
    def client_secret(self) -> str:
        return self.secrets.get("client_secret", "")

    def company(self, guid: str) -> dict | None:
        return next((c for c in self.companies if c.get("guid") == guid), None)

    def status(self, guid: str) -> dict | None:
        return next((s for s in self.statuses if s.get("guid") == guid), None)

    @classmethod
    def owner_tenant_sql(cls) -> str:
        table = cls._meta.db_table
        return f"SELECT tenant_id FROM {table} WHERE vat_number = %s"  # noqa: S608 - our own table name
