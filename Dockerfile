FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings
WORKDIR /app
COPY requirements.lock .
# The runtime lock only: no test or development tool in the image.
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN DATABASE_URL=sqlite:////tmp/build.sqlite3 python manage.py collectstatic --noinput
RUN useradd --system app && chown -R app /app
USER app
