# The obvious targets. `make up` runs the whole system, `make test` runs every test.
.PHONY: up test unit integration e2e deploy-test cluster-tier cluster-local cluster-figures engine engine-stop lock chart-readme lint format typecheck bench capacity clean

up:
	scripts/up

test:
	scripts/test

unit:
	.venv/bin/pytest tests/unit -q

integration:
	scripts/ensure-rabbitmq && .venv/bin/pytest tests/integration -q

e2e:
	scripts/ensure-rabbitmq && .venv/bin/pytest tests/e2e -q

# The deploy artifacts, and the compose stack in real containers (the engine is started, not stopped)
deploy-test:
	bash scripts/install-deploy-tools.sh && scripts/install-container-engine install start && .venv/bin/pytest tests/deploy -q

# The compose cluster through its faults: 1,000 orders per fault at 5 a second (what the cluster
# carries on 2 cores), both patterns, three runs in a row (about 75 minutes); each run's figures
# in .interplay/cluster-figures.jsonl (docs/reliability.md)
cluster-figures:
	scripts/install-container-engine install start && mkdir -p .interplay && \
	INTERPLAY_CLUSTER_ORDERS=1000 INTERPLAY_CLUSTER_RATE=5 INTERPLAY_CLUSTER_RUNS=3 \
	INTERPLAY_CLUSTER_PATTERNS="orchestration choreography" \
	INTERPLAY_CLUSTER_FIGURES=.interplay/cluster-figures.jsonl \
	.venv/bin/pytest tests/deploy/test_deploy_cluster.py -m cluster_tier -q -s

# The compose cluster through its faults once, 300 orders each (about 9 minutes; scripts/test
# runs it too, among every other test)
cluster-tier:
	bash scripts/install-deploy-tools.sh && scripts/install-container-engine install start && \
	.venv/bin/pytest tests/deploy/test_deploy_cluster.py -m cluster_tier -q -s

# A node of a three-node cluster of local rabbitmq-server processes killed under 300 orders per
# pattern (no containers; root and the rabbitmq-server and haproxy packages; about 3 minutes)
cluster-local:
	scripts/ensure-rabbitmq && .venv/bin/pytest tests/faults/test_cluster.py -m local_cluster -q -s

# Debian's docker.io and podman, a dockerd of the project's own, every image the stack runs
engine:
	scripts/install-container-engine install start images

engine-stop:
	scripts/install-container-engine stop

# Pin the image's Python packages again after a change to pyproject's dependencies
lock:
	scripts/lock-image-deps

# The Helm chart README's values table, from the ## @param comments of values.yaml
chart-readme:
	.venv/bin/python deploy/helm/chart_readme.py

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

typecheck:
	.venv/bin/mypy

# interplay against plain aio-pika on the local RabbitMQ (docs/performance.md); ARGS=--quick
bench:
	scripts/ensure-rabbitmq && .venv/bin/python -m benchmarks $(ARGS)

# Orders/s and CPU per order per pattern: one node with SQLite or PostgreSQL, a three-node cluster
# with one and two replicas per domain (about 8 minutes; root, haproxy, the local PostgreSQL;
# docs/capacity.md); ARGS=--quick
capacity:
	scripts/ensure-rabbitmq && .venv/bin/python -m benchmarks.capacity $(ARGS)

clean:
	rm -rf .interplay .pytest_cache .mypy_cache .ruff_cache
