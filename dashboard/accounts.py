"""Target accounts of a connection (one meInvoice MST per row)."""

urlpatterns = []
