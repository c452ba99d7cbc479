"""Bulk retry for accountants."""

urlpatterns = []
