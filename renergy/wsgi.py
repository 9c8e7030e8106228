from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.production")

application = get_wsgi_application()
# Django loads the URL patterns, and with them every view module and all it imports, on the first request:
# load them now so that they are frozen below with the rest.
get_resolver().url_patterns  # noqa: B018 - the attribute's loading is the point

# Everything loaded so far (settings, apps, models, URL patterns, views) lives as long as the process. Left to
# the collector, each full collection walks all of it again: about 100 ms of CPU, once every few dozen requests,
# which was the tail of the facility list (bench/facilities.py lists each slow request with its GC time).
# Frozen objects are never scanned; what requests allocate is still collected as usual.
gc.collect()
gc.freeze()
