"""What we keep per AMIS company: the shared access token and a copy of its master data (the codes the
mapping screens offer and check)."""

from django.db import models

from connectors.crypto import EncryptedJSONField
from connectors.models import TargetAccount, TenantScopedManager

# get_dictionary data_type (amis.md §9) → what the rows are
DATA_TYPES = {
    1: "account objects",
    2: "items",
    3: "stocks",
    4: "units",
    5: "accounts",
    6: "organisation units",
}


class AmisSession(models.Model):
    """The token of one AMIS company for our app, encrypted, shared by every worker and every connection
    that posts to that company (AMIS issues tokens per app and company, amis.md §2). ``owner`` is the
    client's digest of (app ID, company, access code): a token issued for other credentials is never used.

    Not tenant data: nobody sees it on a screen, and one company's token serves whichever connection holds
    the right access code (like `connectors.RateBucket`)."""

    app_id = models.CharField(max_length=100)
    org_company_code = models.CharField(max_length=100)
    owner = models.CharField(max_length=64, blank=True)
    secrets = EncryptedJSONField(blank=True, default=dict, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["app_id", "org_company_code"], name="one_amis_session_per_company"
            )
        ]

    def __str__(self):
        until = f"{self.expires_at:%Y-%m-%d %H:%M}" if self.expires_at else "never connected"
        return f"AMIS session of {self.org_company_code} until {until}"

    def __repr__(self):  # the token stays out of logs and tracebacks
        return f"<AmisSession {self.org_company_code}>"


class AmisDictionaryEntry(models.Model):
    """One master-data row of an AMIS company as get_dictionary last gave it, by (data_type, code)."""

    account = models.ForeignKey(TargetAccount, on_delete=models.CASCADE, related_name="amis_dictionary")
    data_type = models.PositiveSmallIntegerField(choices=sorted(DATA_TYPES.items()))
    code = models.CharField(max_length=200)  # account_object_code, inventory_item_code, stock_code, …
    name = models.CharField(max_length=500, blank=True)
    amis_id = models.CharField(max_length=64, blank=True)  # account_object_id, stock_id, … (a GUID)
    inactive = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)  # the row as AMIS sent it
    synced_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_path = "account__connection__tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "data_type", "code"], name="one_amis_entry_per_code")
        ]
        ordering = ["data_type", "code"]

    def __str__(self):
        return f"{self.name} ({self.code})" if self.name and self.name != self.code else self.code


class AmisDictionarySync(models.Model):
    """Where the incremental read of one kind of master data stands for an account: AMIS's own
    ``LastSyncTime`` (Vietnam wall time, kept aware). Its own row, not a key of the account's settings:
    a person saving the account's settings from a form must not roll the cursor back, and two syncs of
    one account take this row's lock."""

    account = models.ForeignKey(TargetAccount, on_delete=models.CASCADE, related_name="amis_dictionary_syncs")
    data_type = models.PositiveSmallIntegerField(choices=sorted(DATA_TYPES.items()))
    last_sync_time = models.DateTimeField(null=True, blank=True)
    full_at = models.DateTimeField(null=True, blank=True)  # the last full read (deletions caught for sure)
    synced_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager()
    tenant_path = "account__connection__tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "data_type"], name="one_amis_cursor_per_data_type")
        ]

    def __str__(self):
        kind = DATA_TYPES.get(self.data_type, self.data_type)
        return f"{kind} of {self.account_id} since {self.last_sync_time}"


class AmisCallbackResult(models.Model):
    """One result AMIS called back (or listed as undelivered), once: deliveries repeat, and the same result
    may come both ways. Unique per (company, org_refid, data_type, session_id), as AMIS names a result."""

    account = models.ForeignKey(TargetAccount, on_delete=models.CASCADE, related_name="+")
    org_refid = models.CharField(max_length=64)
    data_type = models.IntegerField()
    session_id = models.CharField(max_length=64, blank=True)
    success = models.BooleanField(default=True)
    received_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedManager()
    tenant_path = "account__connection__tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "org_refid", "data_type", "session_id"], name="amis_callback_result_once"
            )
        ]

    def __str__(self):
        return f"{self.org_refid} data_type {self.data_type} ({self.session_id})"
