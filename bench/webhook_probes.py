"""Variants of the product's WSGI app that leave out part of the webhook's work, to see what each part
costs under `bench/webhook_ingest.py` (same server, same client, same bare view to compare with):

    .venv/bin/python bench/webhook_ingest.py --app "bench.webhook_probes:app('no_database')"
    .venv/bin/python bench/webhook_ingest.py --app "bench.webhook_probes:app('no_handover')"

no_database  the view stops after the signature check and the JSON parse (nothing stored: the bench's
             "lost" figure then counts every request, as it should)
no_handover  the real view, but the committed events are not handed to Celery (rows stay pending)

For measuring only: never deploy these.
"""

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def app(variant: str):
    from config.wsgi import application  # sets Django up

    if variant == "no_database":
        from django.urls import clear_url_caches

        from haravan import signature, urls, views
        from syncjobs import intake

        @csrf_exempt
        def verify_and_parse_only(request):
            body = request.body
            given = request.META.get("HTTP_X_HARAVAN_HMACSHA256")
            if not signature.is_valid(body, settings.HARAVAN_CLIENT_SECRET, given):
                return JsonResponse({"error": "signature"}, status=401)
            intake.parse_body(body)
            views._kept_headers(request)
            answer = json.dumps({"status": "accepted", "event": 0})
            return HttpResponse(answer, content_type="application/json")

        for pattern in urls.urlpatterns:
            pattern.callback = verify_and_parse_only
        clear_url_caches()
    elif variant == "no_handover":
        from syncjobs import intake

        intake.enqueue_soon = lambda event_id, source_kind: None
    else:
        raise ValueError(f"unknown probe {variant!r}: no_database or no_handover")
    return application
