"""Where one flow stands in every domain, read from each domain's own database."""

from __future__ import annotations

from domains.registry import DOMAINS
from interplay.settings import Settings
from orchestrators.flows import FlowView, journal_views, saga_view
from orchestrators.state.database import Database
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.saga import SagaStore
from orchestrators.state.tables import create_framework_tables


async def flow_views(settings: Settings, correlation_id: str) -> list[FlowView]:
    """The views of one flow from each domain's own database."""
    views: list[FlowView] = []
    for name, domain in DOMAINS.items():
        database = Database(settings.database_url_of(name))
        try:
            await create_framework_tables(database)  # a domain that never ran has none yet
            workflows = {workflow.name: workflow for workflow in domain.workflows}
            for flow in await SagaStore(database).of_correlation(correlation_id):
                if flow.workflow in workflows:  # one database may hold every domain's flows
                    views.append(saga_view(name, workflows[flow.workflow], flow))
            records = await ChoreographyLog(database).of_correlation(correlation_id)
            for workflow in domain.workflows:
                views.extend(journal_views(name, workflow, records))
        finally:
            await database.close()
    return views
