FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles RENERGY_VAR_DIR=/var/lib/renergy
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The locked, hashed dependencies first (their layer is reused while only the code changes).
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --require-hashes --no-deps -r requirements/runtime.txt
COPY . .
# Production settings at build time, so the manifest the running image needs is the one written here. The
# build-only values are inline: none of them reaches the image's environment, and nothing connects to them.
RUN pip install --no-deps . \
 && DJANGO_SETTINGS_MODULE=renergy.settings.production SECRET_KEY=build-only-never-used-at-run-time-0123456789abcdef ALLOWED_HOSTS=build.invalid DATABASE_URL=postgres://build@build.invalid/build python manage.py compilemessages -v0 \
 && DJANGO_SETTINGS_MODULE=renergy.settings.production SECRET_KEY=build-only-never-used-at-run-time-0123456789abcdef ALLOWED_HOSTS=build.invalid DATABASE_URL=postgres://build@build.invalid/build python manage.py collectstatic --noinput -v0
RUN useradd --system --home /app renergy && mkdir -p "$RENERGY_VAR_DIR" && chown renergy "$RENERGY_VAR_DIR"
USER renergy
EXPOSE 8000
