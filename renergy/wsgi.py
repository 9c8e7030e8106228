from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.production")

application = get_wsgi_application()

# Everything loaded so far (settings, apps, models, URL patterns) lives as long as the process. Left to the
# collector, each full collection walks all of it again: about 100 ms of CPU, once every few dozen requests,
# which was the tail of the facility list (bench/facilities.py lists each slow request with its GC time).
# Frozen objects are never scanned; what requests allocate is still collected as usual.
gc.collect()
gc.freeze()
