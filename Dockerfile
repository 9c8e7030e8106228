FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . \
 && DJANGO_SETTINGS_MODULE=renergy.settings.dev python manage.py compilemessages -v0 \
 && DJANGO_SETTINGS_MODULE=renergy.settings.dev python manage.py collectstatic --noinput -v0
RUN useradd --system --home /app renergy && chown -R renergy /app
USER renergy
EXPOSE 8000
