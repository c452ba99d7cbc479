"""A connection's mapping: routing rules, issuance conditions, tax rules, buyer fields, returns policy."""

urlpatterns = []
