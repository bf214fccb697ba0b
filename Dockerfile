# One image for every routelearn process; docker-compose.yml picks the command:
#   routelearn db upgrade | celery -A workers.app worker|beat|flower
# No dev dependencies, no sources in the final image: only the installed wheel.

# --- build: turn the sources into a wheel --------------------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# .dockerignore is an allowlist: pyproject.toml, README.md, beat_schedule.py and the packages
# routelearn/, workers/, tasks/, schema/, bench/ (whichever of them exist), nothing else.
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

# --- runtime ------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Third-party dependencies first, read from pyproject.toml, so this layer is rebuilt only when
# the dependencies change, not on every code change.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt /tmp/pyproject.toml

COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && pip check

# Never run as root: Celery warns against it, and nothing here needs it.
RUN useradd --system --create-home --home-dir /home/routelearn --uid 10001 routelearn
USER routelearn
WORKDIR /home/routelearn

# Flower's port (docker-compose.yml publishes it on the flower service only).
EXPOSE 5555

CMD ["celery", "-A", "workers.app", "worker", "--loglevel", "INFO"]
