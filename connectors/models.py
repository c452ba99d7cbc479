"""The multi-tenant core every integration shares."""

import datetime as dt

from django.conf import settings
from django.conf import settings as django_settings  # (Connection has a field named settings)
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import registry
from .crypto import EncryptedJSONField
from .text import Text


class TenantScopedQuerySet(models.QuerySet):
    """Every model a person can reach says how it belongs to a tenant; views filter through this alone."""

    def for_tenant(self, tenant):
        return self.filter(**{self.model.tenant_path: tenant})


TenantScopedManager = models.Manager.from_queryset(TenantScopedQuerySet)


class Tenant(models.Model):
    """A merchant: the boundary no query crosses."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_path = "pk"

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ACCOUNTANT = "accountant", _("Accountant")
        VIEWER = "viewer", _("Viewer")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user_tenant")
        ]

    def __str__(self):
        return f"{self.user} @ {self.tenant} ({self.role})"


class License(models.Model):
    """A tenant's right to one product family (a source → target pair), until a day."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="licenses")
    family = models.CharField(max_length=40, choices=registry.family_choices)
    expires_at = models.DateTimeField()

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "family"], name="one_license_per_family")]

    def __str__(self):
        return f"{self.tenant}: {self.family} until {self.expires_at:%Y-%m-%d}"


class LicenseError(Exception):
    """A connection may not sync: its family's license is missing or expired (``text``: in words)."""

    def __init__(self, text: Text):
        super().__init__(text.english())
        self.text = text


class Connection(models.Model):
    """A source (a Haravan shop, a Severa organisation) feeding one target kind."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=200)
    source_kind = models.CharField(max_length=20, choices=registry.source_choices)
    source_key = models.CharField(max_length=64, help_text="The source's own id of the shop or organisation.")
    target_kind = models.CharField(max_length=20, choices=registry.target_choices)
    enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True)
    alert_email = models.EmailField(blank=True)
    # The language the alert e-mails are written in ("" = the product's default language).
    alert_language = models.CharField(
        max_length=10, blank=True, default="", choices=django_settings.LANGUAGES
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_key", "target_kind"], name="one_connection_per_source_target"
            )
        ]
        indexes = [models.Index(fields=["source_kind", "source_key"])]

    def __str__(self):
        return self.name

    @property
    def target(self) -> registry.TargetAdapter:
        return registry.target(self.target_kind)

    @property
    def source(self) -> registry.SourceAdapter:
        return registry.source(self.source_kind)

    def clean(self):
        from django.core.exceptions import ValidationError

        if not registry.is_registered_target(self.target_kind):
            raise ValidationError(
                {
                    "target_kind": _("Documents cannot be sent to %(target)s yet.")
                    % {"target": self.target_kind}
                }
            )
        if self.source_kind not in self.target.source_kinds:
            raise ValidationError(
                {
                    "source_kind": _("%(target)s does not take documents from %(source)s.")
                    % {"target": self.target.label, "source": self.source_kind}
                }
            )

    def check_license(self, now: dt.datetime | None = None) -> None:
        """Raise LicenseError with a message a merchant can act on."""
        now = now or timezone.now()
        family = self.target.family
        lic = License.objects.filter(tenant_id=self.tenant_id, family=family).first()
        label = registry.family_label(family)
        if lic is None:
            raise LicenseError(
                Text(
                    "No %(family)s license for %(tenant)s: sync is paused until one is added.",
                    family=label,
                    tenant=self.tenant.name,
                )
            )
        if lic.expires_at <= now:
            raise LicenseError(
                Text(
                    "The %(family)s license expired on %(day)s: sync is paused; renew it and retry the "
                    "waiting documents.",
                    family=label,
                    day=f"{timezone.localtime(lic.expires_at):%Y-%m-%d}",
                )
            )

    def default_account(self):
        return self.accounts.filter(is_default=True).first()


class TargetAccount(models.Model):
    """One account at the target: a meInvoice MST, an AMIS company, a Maventa organisation."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="accounts")
    external_id = models.CharField(max_length=64, help_text="MST, AMIS company code or Maventa organisation.")
    name = models.CharField(max_length=200, blank=True)
    is_default = models.BooleanField(default=False)
    credentials = EncryptedJSONField(blank=True, default=dict, editable=False)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedManager()
    tenant_path = "connection__tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="one_account_per_external_id"),
            models.UniqueConstraint(
                fields=["connection"], condition=Q(is_default=True), name="one_default_account_per_connection"
            ),
        ]

    def __str__(self):
        return self.tag

    @property
    def tag(self) -> str:
        return f"[{self.connection.target.tag_label} {self.external_id}]"

    def clean(self):
        from django.core.exceptions import ValidationError

        self.external_id = (self.external_id or "").strip()
        error = self.connection.target.account_id_error(self.external_id)
        if error:
            raise ValidationError({"external_id": str(error)})

    def make_default(self) -> None:
        """Exactly one default per connection: the switch happens in one transaction."""
        from django.db import transaction

        with transaction.atomic():
            TargetAccount.objects.filter(connection_id=self.connection_id, is_default=True).exclude(
                pk=self.pk
            ).update(is_default=False)
            self.is_default = True
            self.save(update_fields=["is_default"])

    def credential_keys(self) -> list[str]:
        """Which secrets are set, never their values: what a page may show."""
        return sorted(k for k, v in self.credentials.items() if v)

    def credential_labels(self) -> list:
        """The set secrets as the target names them for people ("User API key (from Maventa)")."""
        labels = {key: label for key, label, _secret in self.connection.target.credential_fields}
        return [labels.get(key, key) for key in self.credential_keys()]


class RoutingRule(models.Model):
    """The sub-mapping: one fact of the source object (its branch, channel, carrier…) → one account, first
    match by priority wins. The facts each source can tell are its adapter's ``dimensions``."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="rules")
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    dimension = models.CharField(max_length=20, choices=registry.dimension_choices)
    value = models.CharField(max_length=200)
    account = models.ForeignKey(TargetAccount, on_delete=models.CASCADE, related_name="rules")
    enabled = models.BooleanField(default=True)

    objects = TenantScopedManager()
    tenant_path = "connection__tenant"

    class Meta:
        ordering = ["priority", "id"]
        indexes = [models.Index(fields=["connection", "priority"])]

    def __str__(self):
        return f"{self.get_dimension_display()} = {self.value} → {self.account.external_id}"


class RateBucket(models.Model):
    """A shared leaky bucket in the database, for deployments without Redis (the embedded demo)."""

    key = models.CharField(max_length=100, unique=True)
    level = models.FloatField(default=0.0)
    updated = models.FloatField(default=0.0)  # unix time of the last change

    def __str__(self):
        return f"{self.key}: {self.level:.1f}"


class CatalogItem(models.Model):
    """A sellable item of a source shop, cached so conversion knows its unit, type and tags.

    Keyed by the source's own item id (a Haravan variant id). Rows say where they came from, so another
    system's item list (an AMIS item cache, say) can fill the same table later.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    source_kind = models.CharField(max_length=20)
    source_key = models.CharField(max_length=64)  # the shop
    item_id = models.CharField(max_length=64)  # variant id
    product_id = models.CharField(max_length=64, blank=True)
    sku = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=300)
    product_type = models.CharField(max_length=200, blank=True)
    vendor = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    unit = models.CharField(max_length=50, blank=True)
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_kind", "source_key", "item_id"], name="one_catalog_item")
        ]
        indexes = [models.Index(fields=["source_kind", "source_key", "sku"])]

    def __str__(self):
        return f"{self.sku or self.item_id} {self.name}"


class BuyerProfile(models.Model):
    """A buyer of a source shop as its customer list knows them (contact details, company, tax code)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    source_kind = models.CharField(max_length=20)
    source_key = models.CharField(max_length=64)
    buyer_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    company = models.CharField(max_length=300, blank=True)
    tax_code = models.CharField(max_length=20, blank=True)
    address = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_key", "buyer_id"], name="one_buyer_profile"
            )
        ]

    def __str__(self):
        return f"{self.name or self.buyer_id}"
