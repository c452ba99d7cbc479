"""A connected Haravan shop and what we cache of it."""

from django.db import connection, models

from connectors.crypto import EncryptedJSONField
from connectors.models import Tenant, TenantScopedManager


class HaravanShop(models.Model):
    class TokenKind(models.TextChoices):
        OAUTH = "oauth", "Installed app (OAuth)"
        PRIVATE = "private", "Private app token"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="haravan_shops")
    org_id = models.CharField(max_length=32, unique=True, help_text="Haravan's org id (X-Haravan-Org-Id).")
    name = models.CharField(max_length=200, blank=True)
    domain = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True, help_text="The shop's e-mail as Haravan reports it.")
    token_kind = models.CharField(max_length=10, choices=TokenKind.choices, default=TokenKind.OAUTH)
    # {"access_token": …, "refresh_token": …} (OAuth) or {"access_token": …, "webhook_secret": …} (a private
    # app: Haravan signs its webhooks with the secret shown in the shop's notification settings, not with
    # our app's client secret): encrypted, never rendered, never logged.
    secrets = EncryptedJSONField(blank=True, default=dict, editable=False)
    scopes = models.TextField(blank=True)
    installed_at = models.DateTimeField(auto_now_add=True)
    uninstalled_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    def __str__(self):
        return f"{self.name or 'Haravan shop'} ({self.org_id})"

    @property
    def access_token(self) -> str:
        return self.secrets.get("access_token", "")

    @property
    def webhook_secret(self) -> str:
        """The key of a private app's webhook signatures (empty for an installed app, or when not entered)."""
        return self.secrets.get("webhook_secret", "")

    @property
    def is_private(self) -> bool:
        return self.token_kind == self.TokenKind.PRIVATE

    @property
    def active(self) -> bool:
        return self.uninstalled_at is None

    @classmethod
    def installed_tenant_sql(cls) -> str:
        """SQL giving the tenant of the installed app's shop whose org id is its one parameter (no row if
        none, or if that shop is connected with a private token: its webhooks are signed with its own secret).

        The webhook intake runs it inside the statement that stores the event: one round trip per webhook
        signed with the app's client secret.
        """
        return cls._tenant_sql(cls.TokenKind.OAUTH)

    @classmethod
    def private_tenant_sql(cls) -> str:
        """The same for a shop connected with a private token, once its own webhook secret checked out."""
        return cls._tenant_sql(cls.TokenKind.PRIVATE)

    @classmethod
    def _tenant_sql(cls, kind: "HaravanShop.TokenKind") -> str:
        table, quote = cls._meta.db_table, connection.ops.quote_name
        kind_column = quote(cls._meta.get_field("token_kind").column)
        return (
            f"SELECT tenant_id FROM {quote(table)} WHERE org_id = %s AND uninstalled_at IS NULL "  # noqa: S608 - names from the model
            f"AND {kind_column} = '{kind.value}'"
        )


class HaravanLocation(models.Model):
    """Branches and warehouses, cached for routing rules and their explanations."""

    shop = models.ForeignKey(HaravanShop, on_delete=models.CASCADE, related_name="locations")
    location_id = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    is_primary = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)

    objects = TenantScopedManager()
    tenant_path = "shop__tenant"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "location_id"], name="one_location_per_shop")]

    def __str__(self):
        return f"{self.name} ({self.location_id})"
