# One image for every routelearn process; docker-compose.yml picks the command:
#   routelearn db upgrade | celery -A workers.app worker|beat|flower
# No dev dependencies, no sources in the final image: only the installed wheel.

# --- build: turn the sources into a wheel --------------------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# .dockerignore is an allowlist: pyproject.toml, README.md, the package routelearn/ and the
# deployable's entry points (workers/, tasks/, schema/, beat_schedule.py), nothing else.
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['service']))" \
        > /src/requirements.txt

# --- runtime ------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Third-party dependencies first, at the versions constraints.txt pins (scripts/lock), so every
# build resolves the same ones. The list is extracted in the build stage: this layer is rebuilt
# only when the dependency list or the pins change, not whenever pyproject.toml does.
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /src/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt -c /tmp/constraints.txt \
    && rm /tmp/requirements.txt /tmp/constraints.txt

COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && pip check

# Never run as root: Celery warns against it, and nothing here needs it.
RUN useradd --system --create-home --home-dir /home/routelearn --uid 10001 routelearn

# The deployable: the repository's entry points (`celery -A workers.app`), run from /app. The
# library itself is the installed wheel.
WORKDIR /app
COPY --from=build /src/workers ./workers
COPY --from=build /src/tasks ./tasks
COPY --from=build /src/schema ./schema
COPY --from=build /src/beat_schedule.py ./
# beat's schedule file (a volume in docker-compose.yml, which takes this directory's owner).
RUN mkdir -p /var/lib/routelearn && chown routelearn /var/lib/routelearn
USER routelearn

# Flower's and the API's ports (docker-compose.yml publishes each on its own service).
EXPOSE 5555 3003

CMD ["celery", "-A", "workers.app", "worker", "--loglevel", "INFO"]
